"""Rule early_prediction: can KPE predict quality before the sample is finished? The partial
energy E(s) at each profile time against the final KPE, its groups and every measure."""

from _common import setup

from enfopath.io import read_parquet, write_csv
from enfopath.measures.stats import early_prediction
from enfopath.study.tables import (
    ENERGY_PROFILE_PREFIX,
    NFE_PROFILE_PREFIX,
    analysed_samples,
    measure_columns,
    profile_columns,
)

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.params.config
st = cfg["statistics"]
analysed = analysed_samples(read_parquet(sm.input.table))
columns, times = profile_columns(analysed, ENERGY_PROFILE_PREFIX)
table = early_prediction(
    analysed,
    times,
    columns,
    measure_columns(analysed, cfg["density"]["spaces"]),
    quantile=st["group_quantile"],
    n_boot=st["bootstrap"],
    seed=cfg["seed"],
    confidence=st["confidence"],
)
nfe_cols, _ = profile_columns(analysed, NFE_PROFILE_PREFIX)
spent = analysed[nfe_cols].mean() / analysed[nfe_cols[-1]].mean()
table.insert(1, "nfe_share", table["s"].map(dict(zip(times, spent.to_numpy(), strict=True))))
low = table[table.target == "low_kpe_group"].set_index("s")
for s, r in low.iterrows():
    log.info("s = %.2f (%.0f %% of NFE): AUROC low-KPE group %.3f", s, 100 * r.nfe_share, r.value)
write_csv(sm.output.table, table)
