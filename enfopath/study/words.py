"""Per-sample columns in words, with their symbols: the axis labels of the figures and the
measures named on the report's first page (no imports beyond the column names: light)."""

from __future__ import annotations

import re

from enfopath.columns import SELF
from enfopath.per_sample import PROFILE_PREFIX

SPACE_WORDS = {
    "pixels": "pixels",
    "classifier": "classifier features",
    "clip": "CLIP image features",
    "latent": "SD-VAE latent",
    "inception": "Inception-v3 pool features",
}
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
COLUMN_WORDS = {
    "kpe": "kinetic path energy E = ½∫₀¹‖v‖² dt",
    "kpe_early": "early kinetic energy ½∫₀^τ‖v‖² dt",
    "kpe_late": "late kinetic energy ½∫_τ^1‖v‖² dt",
    "clf_confidence": "classifier confidence p₍₁₎ (max softmax)",
    "clf_margin": "classifier margin p₍₁₎ − p₍₂₎",
    "clf_entropy": "classifier entropy H(p) (nats)",
    "clip_score": "CLIP score 100·max(cos(image, own prompt), 0)",
    "clip_margin": "CLIP margin 100·(cos own − max cos other)",
    "straightness": "excess energy E − ½‖x₁ − x₀‖²",
    "chord_energy": "chord energy ½‖x₁ − x₀‖²",
    "x0_norm_sq": "squared noise norm ‖x₀‖²",
    "x1_norm_sq": "squared endpoint norm ‖x₁‖²",
}
SPACE_COLUMNS = {
    r"knn_logdens(\d+)": "kNN log-density, {space}, k = {k} (−D log d{sub})",
    r"naeem(\d+)": "Naeem density, {space}, k = {k} (balls containing the sample / k)",
    r"d(\d+)": "distance to the {k}-th nearest training point d{sub}, {space}",
    "nn_dist": "distance to the nearest training point d₁, {space}",
    "d1_d2": "memorization ratio d₁ / d₂, {space}",
    "kde_logdens": "Gaussian KDE log-density, {space} (local bandwidth)",
}


def describe(column: str) -> str:
    """An axis label in words, with the symbol, for a column of the per-sample table."""
    if column in COLUMN_WORDS:
        return COLUMN_WORDS[column]
    if re.fullmatch(rf"{PROFILE_PREFIX}\d+\.\d+", column):
        return f"squared speed ‖v(x, t)‖² at t = {float(column[len(PROFILE_PREFIX) :]):g}"
    for space, words in SPACE_WORDS.items():
        if column.startswith(f"{space}_"):
            rest = column[len(space) + 1 :]
            among_samples = rest.startswith(f"{SELF}_")  # density.reference: samples
            if among_samples:
                rest, words = rest[len(SELF) + 1 :], f"{words}, among the samples"
            for pattern, text in SPACE_COLUMNS.items():
                m = re.fullmatch(pattern, rest)
                if m:
                    k = m.group(1) if m.groups() else ""
                    if among_samples:
                        text = text.replace("training point", "other sample")
                    return text.format(space=words, k=k, sub=k.translate(SUBSCRIPT))
    raise KeyError(f"no description for column {column!r}")
