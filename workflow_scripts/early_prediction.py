"""Rule early_prediction: can KPE predict quality before the sample is finished? The partial
energy E(s) at each profile time and the free baselines against the final KPE, its groups, the
quality groups and every measure."""

from _common import job_config, setup

from enfopath.columns import density_prefixes
from enfopath.io import read_parquet, write_csv
from enfopath.measures.early import early_prediction
from enfopath.per_sample import ENERGY_PROFILE_PREFIX, NFE_PROFILE_PREFIX
from enfopath.study.tables import (
    EARLY_BASELINES,
    SEMANTIC,
    analysed_samples,
    measure_columns,
    profile_columns,
)

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
st = cfg["statistics"]
analysed = analysed_samples(read_parquet(sm.input.table))
columns, times = profile_columns(analysed, ENERGY_PROFILE_PREFIX)
table = early_prediction(
    analysed,
    times,
    columns,
    measure_columns(analysed, density_prefixes(cfg["density"])),
    quantile=st["group_quantile"],
    n_boot=st["bootstrap"],
    seed=cfg["seed"],
    confidence=st["confidence"],
    baselines=list(EARLY_BASELINES),
    quality=[m for m in SEMANTIC if m in analysed],
)
nfe_cols, _ = profile_columns(analysed, NFE_PROFILE_PREFIX)
total = analysed[nfe_cols[-1]].mean()
spent = dict(zip(times, analysed[nfe_cols].mean().to_numpy() / total, strict=True))
cost = {b: n / total for b, n in EARLY_BASELINES.items()}
share = [
    spent[s] if p == "partial_kpe" else cost[p]
    for p, s in zip(table.predictor, table.s, strict=True)
]
table.insert(2, "nfe_share", share)
for (p, s), r in table[table.statistic == "auroc"].groupby(["predictor", "s"], sort=False):
    r = r.set_index("target")
    log.info(
        "%s at s = %.2f (%.1f %% of NFE): AUROC low-KPE group %.3f, high %.3f",
        p,
        s,
        100 * r.nfe_share.iloc[0],
        r.loc["low_kpe_group", "value"],
        r.loc["high_kpe_group", "value"],
    )
write_csv(sm.output.table, table)
