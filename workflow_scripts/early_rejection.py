"""Rule early_rejection: the quality of what each early stop keeps (the study's semantic
quality, memorized share, and per density space the Fréchet distance and PRDC against the
training set), beside random rejection of the same share and the final-KPE oracle, with the
compute each stop spent."""

from _common import job_config, setup

from enfopath.io import read_parquet, write_csv
from enfopath.measures.density import load_references
from enfopath.measures.prdc import RealSet, shard_features
from enfopath.measures.rejection import (
    KeptQuality,
    RejectionSettings,
    SpaceReference,
    rejection_quality,
)
from enfopath.study.rejection import quality_table_inputs

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
er, st, density = cfg["early_rejection"], cfg["statistics"], cfg["density"]
partial, compute = read_parquet(sm.input.partial), read_parquet(sm.input.compute)
samples = read_parquet(sm.input.table)
ranked, final_kpe, per_sample = quality_table_inputs(partial, samples)
n = len(final_kpe)
study_kpe = samples.set_index("sample").loc[ranked["sample"].iloc[:n], "kpe"].to_numpy()
log.info(
    "%d samples ranked; their KPE integrated through against the study's: largest relative "
    "difference %.3g; quality measures %s",
    n,
    float(abs(final_kpe / study_kpe - 1).max()),
    list(per_sample),
)
spaces, ks = density["spaces"], density["k"]
k = min(ks)
features = shard_features(sm.input.features, spaces, ranked["sample"].unique())
references = load_references(spaces, sm.input.references, sm.input.indexes, sm.input.radii, ks)
quality = KeptQuality(
    per_sample,
    {s: SpaceReference(features[s], RealSet.of(ref, k)) for s, ref in references.items()},
)
settings = RejectionSettings(
    n_boot=st["bootstrap"],
    fd_boot=cfg["fidelity"]["bootstrap"],
    draws=er["random_draws"],
    confidence=st["confidence"],
    seed=cfg["seed"],
)
table = rejection_quality(ranked, final_kpe, er["shares"], er["reject"], quality, settings)
table = table.merge(compute, on=["check_time", "share"], how="left", validate="many_to_one")
if (table.n_y != table.n_x).any() or (table.n_x - table.n_rejected != table.n_kept).any():
    raise ValueError(
        f"{sm.input.compute} counts other samples than {sm.input.partial} ranks: rebuild both "
        "(snakemake --forcerun early_rejection_runs)"
    )
table = table.drop(columns="n_y").rename(columns={"n_x": "n"})
for r in table[table.space == ""].itertuples():
    log.info(
        "s = %g, share %g stopped (%.1f %% of the evaluations): %s of the kept %.4g "
        "[%.4g, %.4g], random %.4g [%.4g, %.4g] (%.0f %% better), oracle %.4g, all %.4g",
        r.check_time,
        r.share,
        100 * r.nfe_share,
        r.measure,
        r.energy,
        r.energy_ci_low,
        r.energy_ci_high,
        r.random,
        r.random_ci_low,
        r.random_ci_high,
        100 * r.random_share_better,
        r.oracle,
        r.all,
    )
write_csv(sm.output.table, table)
