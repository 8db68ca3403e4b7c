"""Rule self_density: density among the generated samples themselves (density.reference
samples: each sample's exact kNN among the others, in every space), one table per shard."""

import numpy as np
import pandas as pd
from _common import job_config, setup

from enfopath.io import check_shard_samples, read_npz, write_parquet
from enfopath.measures.density import self_density

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
spaces, ks = cfg["density"]["spaces"], cfg["density"]["k"]
shards = [read_npz(p, ("sample", *spaces)) for p in sm.input.features]
for path, shard in zip(sm.input.features, shards, strict=True):
    check_shard_samples(shard["sample"], path)
samples = np.concatenate([s["sample"] for s in shards])
columns = [self_density(np.concatenate([s[space] for s in shards]), ks, space) for space in spaces]
table = pd.concat([pd.DataFrame({"sample": samples}), *columns], axis=1)
size = cfg["sampling"]["shard_size"]
for i, path in enumerate(sm.output.tables):
    part = table.iloc[i * size : (i + 1) * size].reset_index(drop=True)
    write_parquet(path, part)
log.info("%d samples, spaces %s, k %s: %d columns", len(table), spaces, ks, table.shape[1] - 1)
