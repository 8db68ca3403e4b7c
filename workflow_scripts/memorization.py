"""Rule memorization: the share of memorized samples (d₁ / d₂ < 1/3 in pixel space) overall and
per KPE quantile bin, with exact Clopper–Pearson intervals: of the endpoints, and, for a study
stopped at t_end < 1, of the projected endpoints x̂₁ = x + (1 − t_end) v as well."""

import pandas as pd
from _common import job_config, setup

from enfopath.io import read_parquet, write_csv
from enfopath.measures.memorization import memorization
from enfopath.study.tables import MEMORIZATION_ENDPOINTS, analysed_samples

sm = snakemake  # noqa: F821
log = setup(sm)
st = job_config(sm)["statistics"]
analysed = analysed_samples(read_parquet(sm.input.table))
parts = []
for endpoint, ratio in MEMORIZATION_ENDPOINTS.items():
    if ratio not in analysed:
        continue  # the projected endpoint of a study stopped at t_end = 1 is its endpoint
    part = memorization(analysed, ratio, "kpe", st["bins"], confidence=st["confidence"])
    parts.append(part.assign(endpoint=endpoint))
    for r in part.itertuples():
        log.info(
            "%s, %s: %d of %d memorized (%.1f %% [%.1f, %.1f]), Spearman(d1/d2, KPE) %.3f",
            endpoint,
            "all samples" if r.bin == 0 else f"KPE bin {r.bin}",
            r.memorized,
            r.n,
            100 * r.fraction,
            100 * r.fraction_ci_low,
            100 * r.fraction_ci_high,
            r.spearman_rho,
        )
table = pd.concat(parts, ignore_index=True)
write_csv(sm.output.table, table[["endpoint", *table.columns.drop("endpoint")]])
