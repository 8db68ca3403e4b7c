"""Names of the per-sample columns that several stages share (no imports: light for every job).

What each column means, with its formula and units: ``docs/science.md`` (section "Columns").
"""

PER_SAMPLE = (
    "kpe",
    "kpe_per_dim",
    "kpe_early",
    "kpe_late",
    "chord_energy",
    "straightness",
    "path_length",
    "kpe_left_riemann",
)
"""Per-sample scalar fields of :class:`enfopath.energy.EnergyResult` stored in a shard and
copied into the KPE table."""

DENSITY_SUFFIX = r"(d\d+|knn_logdens\d+|naeem\d+|nn_dist|d1_d2|kde_logdens)"
"""Column names of the measures of :func:`enfopath.measures.density.density_measures` after
their ``{space}_`` prefix."""
SPACE_MODEL = {
    "pixels": None,
    "classifier": "classifier",
    "clip": "clip",
    "latent": "vae",
    "inception": "inception",
}
"""The density spaces (``density.spaces``; the ``{space}_`` prefix of their columns) and the
auxiliary model that embeds into each (pixels needs none)."""
SPACES = tuple(SPACE_MODEL)
"""Every density space."""
SELF = "self"
"""The word in the prefix of density measured among the generated samples themselves
(``density.reference: samples``): ``{space}_self_…``."""


def density_prefixes(density: dict) -> list[str]:
    """The column prefixes of a study's density measures, from its ``density`` config section:
    each space of ``spaces``, as ``{space}_self`` where ``reference`` is ``samples``."""
    among_samples = density["reference"] == "samples"
    return [f"{s}_{SELF}" if among_samples else s for s in density["spaces"]]


PROJECTED_PIXELS = "projected_pixels"
"""The prefix of the pixel-space d₁ and d₁ / d₂ columns of the projected endpoints x̂₁ of a study
stopped at t_end < 1, measured against the pixel space's training points (memorization where
the flow is heading). Not a space of its own, so not among the density measures."""
PROMPT_COLUMNS = {
    "prompt_id": "prompt_ids",
    "prompt": "class_names",
    "prompt_category": "categories",
}
"""The per-sample prompt columns of a text-to-image study, and the arrays of its
``data/dataset.npz`` they come from (by the sample's label, its prompt's row)."""
