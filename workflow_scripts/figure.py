"""Rule figure: one named figure of the study."""

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from _common import job_config, setup

from enfopath.io import atomic_path, check_shard_samples, read_csv, read_npz, read_parquet
from enfopath.measures.images import shard_images
from enfopath.study.figure_names import FIGURE
from enfopath.study.figures import FIGURES, FigureContext
from enfopath.study.summary import kpe_footnote
from enfopath.study.tables import analysed_samples

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
name = sm.wildcards.name
spec = FIGURE[name]
df = read_parquet(sm.input.table)
analysed = analysed_samples(df)
extra = {}
if spec.samples is not None:  # the generated images (2-D: the endpoints)
    images = {}
    for path in sm.input.shards:
        shard = read_npz(path, ("sample", "x1"))
        check_shard_samples(shard["sample"], path)
        images.update(zip(shard["sample"].tolist(), shard_images(shard), strict=True))
    names = read_npz(sm.input.dataset, ("class_names",))["class_names"]
    extra = {"images": images, "class_names": [str(n) for n in names]}
if spec.samples == "images":
    extra["grid_samples"] = cfg["figures"]["grid_samples"]
if spec.samples == "plane":  # the plane's data, paths and field
    extra["plane"] = {
        **read_npz(sm.input.dataset, ("x_train",)),
        **{f"paths_{k}": v for k, v in read_npz(sm.input.paths, ("sample", "t", "x")).items()},
        **{f"field_{k}": v for k, v in read_npz(sm.input.field, ("t", "grid", "v")).items()},
    }
for table_field, _ in spec.tables:  # the statistics tables it reads
    extra[table_field] = read_csv(sm.input[table_field])
ctx = FigureContext(
    spaces=cfg["density"]["spaces"],
    k=cfg["density"]["k"],
    group_quantile=cfg["statistics"]["group_quantile"],
    confidence=cfg["statistics"]["confidence"],
    **extra,
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
