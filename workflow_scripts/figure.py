"""Rule figure: one named figure of the study."""

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from _common import job_config, setup

from enfopath.columns import density_prefixes
from enfopath.io import atomic_path, read_csv, read_parquet
from enfopath.study.figure_names import FIGURE
from enfopath.study.figures import FIGURES, FigureContext, image_samples, plane_samples
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
ctx = FigureContext(
    spaces=density_prefixes(cfg["density"]),
    k=cfg["density"]["k"],
    group_quantile=cfg["statistics"]["group_quantile"],
    confidence=cfg["statistics"]["confidence"],
    samples=samples,
    **{field: read_csv(sm.input[field]) for field, _ in (*spec.tables, *spec.models)},
)
fig = FIGURES[name](analysed, ctx)
fig.tight_layout()
footnote = kpe_footnote(cfg["sampling"])  # the axes say E = ½∫₀¹‖v‖²dt; is this KPE another?
if footnote:
    fig.text(0.005, 0.005, footnote, fontsize=7, color="0.3")
with atomic_path(sm.output.figure) as tmp:
    fig.savefig(tmp, dpi=120, format="png")
plt.close(fig)
log.info("figure %s written", name)
