"""Rule fidelity: the Fréchet distance and KID of all samples and of the low, middle and high KPE
groups against the training set, in every density space, each group's FD with its bootstrap
interval and the FD of random groups of its size."""

import pandas as pd
from _common import job_config, setup

from enfopath.io import read_npz, read_parquet, write_csv
from enfopath.measures.fidelity import FidelitySettings, fidelity_by_band
from enfopath.measures.prdc import kpe_bands, shard_features
from enfopath.study.tables import analysed_samples

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
spaces = cfg["density"]["spaces"]
analysed = analysed_samples(read_parquet(sm.input.table))
bands = kpe_bands(analysed["kpe"], cfg["statistics"]["group_quantile"])
features = shard_features(sm.input.features, spaces, analysed["sample"].to_numpy())
settings = FidelitySettings(
    confidence=cfg["statistics"]["confidence"], seed=cfg["seed"], **cfg["fidelity"]
)
tables = []
for space, refs in zip(spaces, sm.input.references, strict=True):
    real = read_npz(refs, ("features",), expect={"space": space})["features"]
    table = fidelity_by_band(bands, features[space], real, settings)
    tables.append(table.assign(space=space))
    for row in table.itertuples():
        log.info(
            "%s, %s (%d of %d): FD %.4g [%.4g, %.4g], random groups of its size %.4g "
            "[%.4g, %.4g] (%.0f %% below), KID %.4g +- %.2g",
            space,
            row.group,
            row.n_fake,
            row.n_real,
            row.fd,
            row.fd_ci_low,
            row.fd_ci_high,
            row.fd_random,
            row.fd_random_ci_low,
            row.fd_random_ci_high,
            100 * row.fd_random_share,
            row.kid,
            row.kid_std,
        )
table = pd.concat(tables, ignore_index=True)
write_csv(sm.output.table, table[["space", *table.columns.drop("space")]])
