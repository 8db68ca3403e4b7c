"""Rule density_shard: kNN, Naeem and KDE density of one shard's samples in every space, and the
pixel-space d₁ and d₁ / d₂ of their projected endpoints x̂₁ when the shard has them."""

import pandas as pd
from _common import job_config, setup

from enfopath.columns import PROJECTED_PIXELS
from enfopath.io import check_shard_samples, read_npz, write_parquet
from enfopath.measures.density import density_measures, load_references, neighbour_ratio

sm = snakemake  # noqa: F821
log = setup(sm)
dc = job_config(sm)["density"]
spaces, ks = dc["spaces"], dc["k"]
generated = read_npz(sm.input.features, ("sample", *spaces))
check_shard_samples(generated["sample"], sm.input.features)
references = load_references(spaces, sm.input.references, sm.input.indexes, sm.input.radii, ks)
tables = [pd.DataFrame({"sample": generated["sample"]})]
for space, ref in references.items():
    tables.append(density_measures(ref, generated[space], prefix=space))
    if space == "pixels" and PROJECTED_PIXELS in generated:
        projected = neighbour_ratio(ref, generated[PROJECTED_PIXELS], prefix=PROJECTED_PIXELS)
        tables.append(projected)
        log.info("projected endpoints: median d1/d2 %.4f", projected.iloc[:, 1].median())
    log.info("space %s done", space)
write_parquet(sm.output.table, pd.concat(tables, axis=1))
