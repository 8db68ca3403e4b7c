"""Rule figure: one named figure of the study."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from _common import job_config, setup

from enfopath.io import atomic_path, read_csv, read_parquet
from enfopath.study.figure_names import FIGURE
from enfopath.study.figures import (
    SAVE_OPTIONS,
    image_samples,
    plane_samples,
    render,
    study_context,
)
from enfopath.study.summary import kpe_footnote
from enfopath.study.tables import analysed_samples

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
name = sm.wildcards.name
spec = FIGURE[name]
df = read_parquet(sm.input.table)
analysed = analysed_samples(df)
samples = None  # the generated samples it shows, by the spec's kind
if spec.samples == "images":
    samples = image_samples(sm.input.shards, sm.input.dataset, cfg["figures"]["grid_samples"])
elif spec.samples == "plane":
    samples = plane_samples(sm.input.shards, sm.input.dataset, sm.input.paths, sm.input.field)
tables = {field: read_csv(sm.input[field]) for field, _ in (*spec.tables, *spec.models)}
ctx = study_context(cfg, samples, **tables)
fig = render(name, analysed, ctx, kpe_footnote(cfg["sampling"]) or "")
for path in (sm.output.figure, *sm.output.other_formats):
    fmt = Path(path).suffix[1:]
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=cfg["figures"]["dpi"], format=fmt, **SAVE_OPTIONS[fmt])
plt.close(fig)
log.info("figure %s written (%s)", name, ", ".join(cfg["figures"]["format"]))
