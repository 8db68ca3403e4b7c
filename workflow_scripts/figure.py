"""Rule figure: one named figure of the study."""

import matplotlib.pyplot as plt
from _common import setup

from enfopath.figures import FIGURES, IMAGE_FIGURES, FigureContext
from enfopath.io import atomic_path, read_npz, read_parquet
from enfopath.trajectories import shard_images

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.config
name = sm.wildcards.name
df = read_parquet(sm.input.table)
analysed = df[~df.nonfinite].reset_index(drop=True)
images = {}
if name in IMAGE_FIGURES:
    for path in sm.input.shards:
        shard = read_npz(path, ("sample", "x1"))
        images.update(zip(shard["sample"].tolist(), shard_images(shard), strict=True))
ctx = FigureContext(
    spaces=cfg["density"]["spaces"],
    k=cfg["density"]["k"],
    group_quantile=cfg["statistics"]["group_quantile"],
    grid_samples=cfg["figures"]["grid_samples"],
    images=images,
)
fig = FIGURES[name](analysed, ctx)
fig.tight_layout()
with atomic_path(sm.output.figure) as tmp:
    fig.savefig(tmp, dpi=120, format="png")
plt.close(fig)
log.info("figure %s written", name)
