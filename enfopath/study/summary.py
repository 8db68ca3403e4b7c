"""What the study's summary table records beyond the statistics: provenance, sample quality,
exact copies and clamped values."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

CONFIDENT = 0.9
"""A generated sample is confidently recognised when the classifier's confidence reaches this."""


def provenance(root: str | Path | None = None) -> dict[str, str]:
    """The ``enfopath`` version and the git commit of the code at ``root`` (the repository that
    holds the package by default), ``+dirty`` when the work tree has uncommitted changes, or
    ``unknown`` outside a git work tree. Snakemake does not track library code: this says which
    code made the numbers."""
    import enfopath

    root = Path(enfopath.__file__).resolve().parents[1] if root is None else Path(root)
    commit = "unknown"
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if head.returncode == 0:
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            commit = head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {"enfopath_version": enfopath.__version__, "git_commit": commit}


def sample_quality(df: pd.DataFrame) -> dict[str, object]:
    """How recognisable the analysed generated samples are, from their semantic columns.

    Classifier semantics: mean confidence, share with confidence ≥ :data:`CONFIDENT`, and the
    count of samples per predicted class. CLIP: mean score and margin, and, where the class is
    the conditioning label, the share whose CLIP zero-shot argmax is that label (margin > 0).
    """
    out: dict[str, object] = {}
    if "clf_confidence" in df:
        out["generated_mean_confidence"] = float(df.clf_confidence.mean())
        out[f"generated_share_confidence_ge_{CONFIDENT}"] = float(
            (df.clf_confidence >= CONFIDENT).mean()
        )
        counts = df.clf_class.value_counts().sort_index()
        out["generated_class_counts"] = " ".join(f"{c}:{n}" for c, n in counts.items())
    if "clip_score" in df:
        out["generated_mean_clip_score"] = float(df.clip_score.mean())
        out["generated_mean_clip_margin"] = float(df.clip_margin.mean())
        if (df.clip_class_source == "label").all():
            out["generated_clip_accuracy_vs_label"] = float((df.clip_margin > 0).mean())
    return out


def copies_and_clamping(df: pd.DataFrame, spaces: list[str]) -> dict[str, object]:
    """Counts of exact copies of training points per space, and the image values clamped."""
    out: dict[str, object] = {
        f"n_exact_copies_{s}": int(df[f"{s}_exact_copy"].sum())
        for s in spaces
        if f"{s}_exact_copy" in df
    }
    share = df["out_of_range"].to_numpy(np.float64)
    out["out_of_range_mean_share"] = float(share.mean())
    out["samples_with_values_clamped"] = float((share > 0).mean())
    return out
