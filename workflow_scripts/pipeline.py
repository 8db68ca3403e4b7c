"""Rule pipeline: the study's diffusers pipeline folder, fetched from the hub once, found
locally, or (flow.diffusers.tiny) a tiny random-weight one built here, and recorded with the
sha256 of every file."""

import os
import shutil
from pathlib import Path

from _common import job_config, setup

from enfopath.io import write_json
from enfopath.models.t2i_pipeline import pipeline_manifest, resolve_pipeline

sm = snakemake  # noqa: F821
cfg = job_config(sm)
d = cfg["flow"]["diffusers"]
tiny = d["tiny"]
source = None if tiny is not None else d["source"]
log = setup(sm, network=source is not None and not os.path.isdir(source))
if tiny is not None:
    from enfopath.models.tiny_t2i import save_tiny_pipeline

    # beside its manifest, written whole before it is recorded (a rerun replaces it)
    folder = Path(sm.output.manifest).with_name("tiny_pipeline")
    building = folder.with_name(f".{folder.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    save_tiny_pipeline(tiny, building, seed=cfg["seed"])
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)
    record = pipeline_manifest(folder, source=f"tiny:{tiny}", revision=None)
else:
    folder = resolve_pipeline(source, d["revision"])
    record = pipeline_manifest(folder, source=source, revision=d["revision"])
size = sum(f["size"] for f in record["files"].values())
log.info(
    "%s pipeline %s at %s: %d files, %.1f MB",
    record["family"],
    record["source"],
    folder,
    len(record["files"]),
    size / 1e6,
)
write_json(sm.output.manifest, record)
