"""Rule generate_shard: integrate one shard of trajectories with their energies."""

from _common import progress_stream, setup
from tqdm import tqdm

from enfopath.checkpoint import load_checkpoint
from enfopath.flows import Flow
from enfopath.io import read_json, write_npz
from enfopath.latent import load_vae
from enfopath.models import pick_device
from enfopath.trajectories import SamplingConfig, generate_shard, shard_indices

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.config
sc = cfg["sampling"]
device = pick_device()
model, info = load_checkpoint(sm.input.checkpoint, device)
flow = Flow.from_checkpoint(
    model,
    info["model"],
    info["arch"],
    guidance_scale=cfg["guidance"]["scale"],
    guided_channels=cfg["guidance"]["guided_channels"],
    precision=sc["precision"],
    vae=load_vae(read_json(sm.input.vae)["directory"], device)
    if hasattr(sm.input, "vae")
    else None,
    vae_scale=cfg["vae"]["scale"],
)
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
with tqdm(total=len(indices), file=progress_stream(sm), desc="samples", mininterval=5) as bar:
    arrays = generate_shard(flow, cfg["seed"], indices, sampling, device, progress=bar.update)
log.info("mean NFE %.1f, non-finite %d", arrays["nfe"].mean(), int(arrays["nonfinite"].sum()))
write_npz(sm.output.shard, **arrays)
