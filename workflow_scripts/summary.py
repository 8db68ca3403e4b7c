"""Rule summary: the study's key numbers (counts, solver, models used, sample quality, copies,
provenance) in statistics/summary.csv and .json. It needs no finite sample, so a study whose
samples all diverged still records what happened."""

import json

import pandas as pd
from _common import job_config, setup

from enfopath.io import (
    check_shard_samples,
    read_json,
    read_npz,
    read_parquet,
    write_csv,
    write_json,
)
from enfopath.study.summary import (
    models_used,
    samples_identity,
    study_summary,
    text_to_image_used,
)

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
df = read_parquet(sm.input.table)
if df.nonfinite.all():
    log.error("all %d samples are non-finite: nothing is left to analyse", len(df))


def record(name: str) -> dict | None:
    """The JSON input ``name`` of the rule, None when this study has none."""
    return read_json(sm.input[name]) if hasattr(sm.input, name) else None


used = models_used(
    cfg,
    df["label"].to_numpy(),
    classifier_metrics=record("classifier_metrics"),
    clip_record=record("clip"),
    vae_record=record("vae"),
)
first = read_npz(sm.input.first_shard, ("sample", "x0"))
check_shard_samples(first["sample"], sm.input.first_shard)
if hasattr(sm.input, "pipeline"):  # a text-to-image flow, as its sampling job described it
    flow = json.loads(
        str(read_npz(sm.input.first_shard, ("flow_description",))["flow_description"])
    )
    used |= text_to_image_used(cfg, read_json(sm.input.pipeline), flow)
identity = samples_identity(first, read_npz(sm.input.dataset))
summary = study_summary(cfg, df, used, identity)
write_csv(sm.output.summary, pd.DataFrame({"key": list(summary), "value": list(summary.values())}))
write_json(sm.output.json, summary)
