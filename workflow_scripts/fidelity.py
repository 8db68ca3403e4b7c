"""Rule fidelity: the Fréchet distance and KID of all samples and of the low, middle and high KPE
groups against the training set, in every density space, each group's FD with its bootstrap
interval and the FD of random groups of its size."""

from _common import band_features, job_config, setup, write_space_tables

from enfopath.measures.density import reference_features
from enfopath.measures.fidelity import FidelitySettings, fidelity_by_band

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
bands, features = band_features(sm, cfg)
settings = FidelitySettings(
    confidence=cfg["statistics"]["confidence"], seed=cfg["seed"], **cfg["fidelity"]
)
spaces = cfg["density"]["spaces"]
tables = {
    space: fidelity_by_band(bands, features[space], reference_features(refs, space), settings)
    for space, refs in zip(spaces, sm.input.references, strict=True)
}
write_space_tables(
    sm.output.table,
    tables,
    log,
    "%s (%d of %d): FD %.4g [%.4g, %.4g], random groups of its size %.4g [%.4g, %.4g] "
    "(a share %.3f of them below), KID %.4g +- %.2g",
    [
        *("group", "n_fake", "n_real", "fd", "fd_ci_low", "fd_ci_high", "fd_random"),
        *("fd_random_ci_low", "fd_random_ci_high", "fd_random_share", "kid", "kid_std"),
    ],
)
