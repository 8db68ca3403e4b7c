"""The summary's provenance, sample quality, exact copies and clamping records."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from enfopath.study.summary import copies_and_clamping, provenance, sample_quality


def test_provenance_names_the_version_and_the_commit(tmp_path):
    import enfopath

    here = provenance()
    assert here["enfopath_version"] == enfopath.__version__
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?|unknown", here["git_commit"])
    assert provenance(tmp_path)["git_commit"] == "unknown"  # not a git work tree
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    (tmp_path / "f").write_text("a")
    subprocess.run(["git", "add", "f"], **run)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], **run
    )
    head = subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()
    assert provenance(tmp_path)["git_commit"] == head
    (tmp_path / "f").write_text("b")
    assert provenance(tmp_path)["git_commit"] == head + "+dirty"


def test_sample_quality_of_classifier_and_clip_semantics():
    clf = pd.DataFrame({"clf_confidence": [0.95, 0.5, 0.99, 0.9], "clf_class": [1, 1, 0, 2]})
    q = sample_quality(clf)
    assert q["generated_mean_confidence"] == pytest.approx(0.835)
    assert q["generated_share_confidence_ge_0.9"] == 0.75
    assert q["generated_class_counts"] == "0:1 1:2 2:1"
    clip = pd.DataFrame(
        {"clip_score": [30.0, 20.0], "clip_margin": [2.0, -1.0], "clip_class_source": "label"}
    )
    assert sample_quality(clip)["generated_clip_accuracy_vs_label"] == 0.5
    zero_shot = clip.assign(clip_class_source="zero_shot")
    assert "generated_clip_accuracy_vs_label" not in sample_quality(zero_shot)


def test_exact_copies_and_clamped_values_are_counted():
    df = pd.DataFrame(
        {
            "pixels_exact_copy": [True, False, True],
            "clip_exact_copy": [False, False, False],
            "out_of_range": np.array([0.0, 0.25, 0.5]),
        }
    )
    rec = copies_and_clamping(df, ["pixels", "clip"])
    assert rec["n_exact_copies_pixels"] == 2 and rec["n_exact_copies_clip"] == 0
    assert rec["out_of_range_mean_share"] == pytest.approx(0.25)
    assert rec["samples_with_values_clamped"] == pytest.approx(2 / 3)
