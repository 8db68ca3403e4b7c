"""Rule generate_shard: integrate one shard of trajectories with their energies."""

from _common import ProgressLog, setup

from enfopath.checkpoint import load_checkpoint
from enfopath.flows import Flow
from enfopath.hub import read_manifest
from enfopath.io import write_npz
from enfopath.latent import load_vae
from enfopath.models import pick_device
from enfopath.trajectories import SamplingConfig, generate_shard, shard_indices

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.params.config
sc = cfg["sampling"]
device = pick_device()
model, info = load_checkpoint(sm.input.checkpoint, device)
options = {"precision": sc["precision"]}
if "guidance" in cfg:  # in the params of a class-conditional (SiT) flow only
    options.update(
        guidance_scale=cfg["guidance"]["scale"],
        guided_channels=cfg["guidance"]["guided_channels"],
    )
if hasattr(sm.input, "vae"):
    options.update(
        vae=load_vae(read_manifest(sm.input.vae)["directory"], device),
        vae_scale=cfg["vae"]["scale"],
    )
flow = Flow.from_checkpoint(model, info["model"], info["arch"], **options)
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
