"""Rule explorer: the per-sample explorer page (enfopath.study.explorer): every analysed sample
(up to figures.explorer_samples) with its KPE, measures, class, KPE group and image."""

from _common import job_config, setup

from enfopath.columns import density_prefixes
from enfopath.io import atomic_path, read_npz, read_parquet
from enfopath.study.explorer import explorer_chart, explorer_html, explorer_measures, explorer_table
from enfopath.study.figures import shown_samples
from enfopath.study.tables import analysed_samples

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
analysed = analysed_samples(read_parquet(sm.input.table))
measures = explorer_measures(analysed, density_prefixes(cfg["density"]), cfg["density"]["k"][0])
names = [str(n) for n in read_npz(sm.input.dataset, ("class_names",))["class_names"]]
images = shown_samples(sm.input.shards) if hasattr(sm.input, "shards") else None
table, note = explorer_table(
    analysed,
    measures,
    cfg["statistics"]["group_quantile"],
    names,
    images,
    cfg["figures"]["explorer_samples"],
    cfg["seed"],
)
page = explorer_html(explorer_chart(table, measures, f"{cfg['experiment']}: {note}"))
with atomic_path(sm.output.page) as tmp:
    tmp.write_text(page)
log.info("explorer: %s, %d measures, %.1f MB", note, len(measures), len(page.encode()) / 1e6)
