"""Rule prdc: precision, recall, density and coverage of all samples and of the low, middle and
high KPE groups against the training set, in every density space, from the FAISS indexes, with
intervals from resampling each group's samples."""

import pandas as pd
from _common import job_config, setup

from enfopath.io import read_npz, read_parquet, write_csv
from enfopath.measures.density import load_index
from enfopath.measures.prdc import kpe_bands, prdc_by_band, shard_features
from enfopath.study.tables import analysed_samples

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
spaces, ks = cfg["density"]["spaces"], cfg["density"]["k"]
analysed = analysed_samples(read_parquet(sm.input.table))
bands = kpe_bands(analysed["kpe"], cfg["statistics"]["group_quantile"])
features = shard_features(sm.input.features, spaces, analysed["sample"].to_numpy())
tables = []
for space, refs, index, radii in zip(
    spaces, sm.input.references, sm.input.indexes, sm.input.radii, strict=True
):
    r = read_npz(radii, ("k", "radii"), expect={"space": space, "k": ks})
    table = prdc_by_band(
        bands,
        features[space],
        read_npz(refs, ("features",), expect={"space": space})["features"],
        load_index(index, expect={"space": space}),
        {int(k): r["radii"][i] for i, k in enumerate(r["k"])},
        n_boot=cfg["statistics"]["bootstrap"],
        seed=cfg["seed"],
        confidence=cfg["statistics"]["confidence"],
    )
    tables.append(table.assign(space=space))
    for row in table.itertuples():
        log.info(
            "%s, k = %d, %s (%d): precision %.3f [%.3f, %.3f] recall %.3f [%.3f, %.3f] "
            "density %.3f coverage %.3f [%.3f, %.3f]",
            space,
            row.k,
            row.group,
            row.n_fake,
            row.precision,
            row.precision_ci_low,
            row.precision_ci_high,
            row.recall,
            row.recall_ci_low,
            row.recall_ci_high,
            row.density,
            row.coverage,
            row.coverage_ci_low,
            row.coverage_ci_high,
        )
table = pd.concat(tables, ignore_index=True)
write_csv(sm.output.table, table[["space", *table.columns.drop("space")]])
