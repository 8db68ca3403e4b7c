"""Rule kpe_shard: the per-sample KPE table of one trajectory shard."""

from _common import setup

from enfopath.io import check_shard_samples, read_npz, write_parquet
from enfopath.study.tables import SHARD_ARRAYS, kpe_table

sm = snakemake  # noqa: F821
log = setup(sm)
shard = read_npz(sm.input.shard, SHARD_ARRAYS)
check_shard_samples(shard["sample"], sm.input.shard)
table = kpe_table(shard)
log.info(
    "%d samples, %d non-finite, mean KPE %.4f",
    len(table),
    int(table.nonfinite.sum()),
    table.kpe[~table.nonfinite].mean(),
)
write_parquet(sm.output.table, table)
