"""Rule generate_shard: integrate one shard of trajectories with their energies."""

import json

import numpy as np
from _common import ProgressLog, job_config, setup, study_flow, study_sampling

from enfopath.io import write_npz
from enfopath.models.networks import pick_device
from enfopath.study.shards import generate_shard, shard_indices

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
sc = cfg["sampling"]
device = pick_device()
flow, info = study_flow(sm, cfg, device, decoded=True)
if "flow" in info:  # a text-to-image study
    log.info("text-to-image flow: %s", info["flow"])
sampling = study_sampling(sm, cfg)
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
if flow.conditional and not hasattr(sm.input, "pipeline"):
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
if hasattr(sm.input, "pipeline"):  # what the summary records of the flow
    arrays["flow_description"] = np.array(json.dumps(flow.describe(), sort_keys=True))
write_npz(sm.output.shard, **arrays)
