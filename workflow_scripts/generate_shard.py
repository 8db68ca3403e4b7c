"""Rule generate_shard: integrate one shard of trajectories with their energies."""

from _common import ProgressLog, flow_options, job_config, setup

from enfopath.io import write_npz
from enfopath.models.flows import load_flow
from enfopath.models.networks import pick_device
from enfopath.study.shards import SamplingConfig, generate_shard, shard_indices

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
sc = cfg["sampling"]
device = pick_device()
flow, info = load_flow(sm.input.checkpoint, device, **flow_options(sm, cfg, decoded=True))
sampling = SamplingConfig.from_config(sc)
indices = shard_indices(int(sm.wildcards.shard), sc["shard_size"])
log.info(
    "shard %s: samples %d…%d of %s %s on %s, %s",
    sm.wildcards.shard,
    indices.start,
    indices.stop - 1,
    info["model"],
    flow.shape,
    device,
    sampling,
)
if flow.conditional:
    log.info(
        "class-conditional, %d classes, guidance scale %s on %s channels",
        flow.num_classes,
        flow.guidance_scale,
        flow.guided_channels or "all",
    )
progress = ProgressLog(log, len(indices), "samples")
arrays = generate_shard(
    flow,
    cfg["seed"],
    indices,
    sampling,
    device,
    progress=lambda n, nfe: progress.update(n, f"NFE {nfe}"),
)
log.info(
    "mean NFE %.1f, non-finite %d, mean share of image values outside [-1, 1] %.4f",
    arrays["nfe"].mean(),
    int(arrays["nonfinite"].sum()),
    arrays["out_of_range"].mean(),
)
write_npz(sm.output.shard, **arrays)
