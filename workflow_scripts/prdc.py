"""Rule prdc: precision, recall, density and coverage of all samples and of the low, middle and
high KPE groups against the training set, in every density space, from the FAISS indexes, with
intervals from resampling each group's samples."""

from _common import band_features, job_config, setup, write_space_tables

from enfopath.measures.density import load_references
from enfopath.measures.prdc import prdc_by_band

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
spaces, ks = cfg["density"]["spaces"], cfg["density"]["k"]
bands, features = band_features(sm, cfg)
references = load_references(spaces, sm.input.references, sm.input.indexes, sm.input.radii, ks)
tables = {
    space: prdc_by_band(
        bands,
        features[space],
        ref.features,
        ref.index,
        dict(zip(ref.ks, ref.radii, strict=True)),
        n_boot=cfg["statistics"]["bootstrap"],
        seed=cfg["seed"],
        confidence=cfg["statistics"]["confidence"],
    )
    for space, ref in references.items()
}
write_space_tables(
    sm.output.table,
    tables,
    log,
    "k = %d, %s (%d): precision %.3f [%.3f, %.3f] recall %.3f [%.3f, %.3f] density %.3f "
    "coverage %.3f [%.3f, %.3f]",
    ["k", "group", "n_fake"]
    + [f"{m}{end}" for m in ("precision", "recall") for end in ("", "_ci_low", "_ci_high")]
    + ["density", "coverage", "coverage_ci_low", "coverage_ci_high"],
)
