"""Rule generate_shard: integrate one shard of trajectories with their energies."""

import json

import numpy as np
from _common import ProgressLog, flow_options, job_config, setup, study_sampling

from enfopath.io import write_npz
from enfopath.models.flows import load_flow
from enfopath.models.networks import pick_device
from enfopath.study.shards import generate_shard, shard_indices
from enfopath.study.t2i_flow import study_t2i_flow

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
sc = cfg["sampling"]
device = pick_device()
if hasattr(sm.input, "pipeline"):  # a text-to-image study
    flow = study_t2i_flow(
        sm.input.pipeline,
        sm.input.embeddings,
        sm.input.prompts,
        cfg["flow"]["diffusers"],
        cfg["prompts"]["samples_per_prompt"],
        sc["precision"],
        device,
    )
    info = {"model": f"{flow.family.name} pipeline"}
    log.info("text-to-image flow: %s", flow.describe())
else:
    flow, info = load_flow(sm.input.checkpoint, device, **flow_options(sm, cfg, decoded=True))
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
