"""Rule merge_samples: one row per sample, joining KPE, semantic and density tables."""

import pandas as pd
from _common import job_config, setup

from enfopath.io import check_shard_samples, read_parquet, write_parquet
from enfopath.study.tables import merge_on_sample

sm = snakemake  # noqa: F821
log = setup(sm)
expected = job_config(sm)["sampling"]["n_samples"]


def read_shard_table(path: str, shard_size: int) -> pd.DataFrame:
    table = read_parquet(path)
    check_shard_samples(table["sample"].to_numpy(), path, shard_size)
    return table


parts = {
    name: pd.concat(
        [read_shard_table(p, expected // len(sm.input[name])) for p in sm.input[name]],
        ignore_index=True,
    )
    for name in ("kpe", "semantics", "density")
}
merged = merge_on_sample(list(parts.values()), list(parts))
if len(merged) != expected:
    raise ValueError(f"merged {len(merged)} samples, expected sampling.n_samples = {expected}")
log.info(
    "%d samples, %d columns, %d non-finite",
    len(merged),
    merged.shape[1],
    int(merged.nonfinite.sum()),
)
write_parquet(sm.output.table, merged)
