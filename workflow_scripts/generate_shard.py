"""Rule generate_shard: integrate one shard of trajectories with their energies."""

import torch
from _common import progress_stream, setup
from tqdm import tqdm

from enfopath.checkpoint import load_checkpoint
from enfopath.io import write_npz
from enfopath.models import pick_device
from enfopath.trajectories import SamplingConfig, generate_shard, shard_indices

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.config
sc = cfg["sampling"]
device = pick_device()
model, _ = load_checkpoint(sm.input.checkpoint, device)
sampling = SamplingConfig.from_config(sc)
indices = shard_indices(int(sm.wildcards.shard), sc["shard_size"])
log.info(
    "shard %s: samples %d…%d on %s, %s",
    sm.wildcards.shard,
    indices.start,
    indices.stop - 1,
    device,
    sampling,
)
with tqdm(total=len(indices), file=progress_stream(sm), desc="samples", mininterval=5) as bar:
    arrays = generate_shard(
        model, cfg["seed"], indices, tuple(model.shape), sampling, device, progress=bar.update
    )
if device.type == "cuda":
    log.info("peak GPU memory %.1f MiB", torch.cuda.max_memory_allocated() / 2**20)
log.info("mean NFE %.1f, non-finite %d", arrays["nfe"].mean(), int(arrays["nonfinite"].sum()))
write_npz(sm.output.shard, **arrays)
