"""The names of the study's figures and what each one reads, without drawing anything.

Building the DAG (``rules/common.smk``) needs only these names: this module imports nothing, so
``snakemake -n`` does not load matplotlib or seaborn. The drawing functions are in
:mod:`enfopath.study.figures` (``FIGURES``, in this order).
"""

FIGURE_NAMES = (
    "kpe_hist",
    "kpe_vs_margin",
    "kpe_vs_density",
    "kpe_vs_nn_distance",
    "speed_profile",
    "grid_low_kpe",
    "grid_high_kpe",
    "kpe_confounds",
    "early_prediction",
    "memorization",
    "kpe_prdc",
    "robustness_error",
    "robustness_ranking",
    "comparison",
    "replicates",
    "plane_trajectories",
    "plane_field",
    "plane_endpoints",
)
"""Every figure, as the file name figures/<name>.png."""
IMAGE_FIGURES = ("grid_low_kpe", "grid_high_kpe")
"""Figures that need the generated images (the trajectory shards) as input."""
PLANE_FIGURES = ("plane_trajectories", "plane_field", "plane_endpoints")
"""Figures of a 2-D study (instead of the sample grids): they read the shards' endpoints, the
data set and the plane's paths and field (``plane/``)."""
RELATION_FIGURES = ("kpe_vs_margin", "kpe_vs_density", "kpe_vs_nn_distance")
"""Figures that read the statistics tables (correlations, quantile curves)."""
STAGE_FIGURES = {
    "kpe_confounds": ("partial", "partial_correlations"),
    "early_prediction": ("early", "early_prediction"),
    "memorization": ("memorization", "memorization"),
    "kpe_prdc": ("prdc", "prdc"),
    "robustness_error": ("robustness", "robustness"),
    "robustness_ranking": ("robustness", "robustness"),
    "comparison": ("comparison", "comparison"),
    "replicates": ("replicates", "replicates"),
}
"""Figures of the optional stages: the ``FigureContext`` field and the stage's table
(statistics/<table>.csv) each reads."""
