"""Rule memorization: the share of memorized samples (d₁ / d₂ < 1/3 in pixel space) overall and
per KPE quantile bin, with exact Clopper–Pearson intervals."""

from _common import setup

from enfopath.io import read_parquet, write_csv
from enfopath.measures.stats import memorization
from enfopath.study.tables import analysed_samples

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.params.config
st = cfg["statistics"]
analysed = analysed_samples(read_parquet(sm.input.table))
table = memorization(
    analysed,
    "pixels_d1_d2",
    "kpe",
    st["bins"],
    confidence=st["confidence"],
)
for r in table.itertuples():
    log.info(
        "%s: %d of %d memorized (%.1f %% [%.1f, %.1f]), Spearman(d1/d2, KPE) %.3f",
        "all samples" if r.bin == 0 else f"KPE bin {r.bin}",
        r.memorized,
        r.n,
        100 * r.fraction,
        100 * r.ci_low,
        100 * r.ci_high,
        r.spearman_rho,
    )
write_csv(sm.output.table, table)
