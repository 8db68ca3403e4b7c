"""The 2-D study (configs/toy2d.yaml): two moons in the plane, end to end through the DAG."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, assert_declared_keys_read, snakemake

from enfopath.io import read_npz
from enfopath.study.config import load_config
from enfopath.study.datasets import load_two_moons
from enfopath.study.figure_names import IMAGE_FIGURES, PLANE_FIGURES


def test_two_moons_lie_in_the_square_with_both_classes():
    data = load_two_moons(0, 0.2)
    assert data.x_train.shape == (1600, 2) and data.x_test.shape == (400, 2)
    assert np.abs(data.x_train).max() < 1.0 and set(data.y_train) == {0, 1}
    again = load_two_moons(0, 0.2)
    assert np.array_equal(data.x_train, again.x_train)  # drawn from the config seed
    assert not np.array_equal(data.x_train, load_two_moons(1, 0.2).x_train)


@pytest.mark.workflow
def test_the_2d_study_runs_end_to_end_with_its_plane_figures(tmp_path):
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    configfile = ROOT / "configs" / "toy2d.yaml"
    run = snakemake(tmp_path, "--cores", "2", "--configfile", str(configfile))
    assert run.returncode == 0, run.stderr[-5000:]
    assert assert_declared_keys_read(tmp_path) > 10
    cfg = load_config(ROOT / "config.yaml", configfile)
    out = tmp_path / "results" / "toy2d"
    figures = {p.stem for p in (out / "figures").glob("*.png")}
    assert set(PLANE_FIGURES) <= figures and not set(IMAGE_FIGURES) & figures
    table = pd.read_parquet(out / "samples.parquet")
    assert len(table) == cfg["sampling"]["n_samples"] and table.kpe.notna().all()
    assert (table.clf_confidence > 0.5).mean() > 0.9  # the moons' classifier recognises samples
    paths = read_npz(out / "plane/paths.npz")
    assert paths["x"].shape == (cfg["figures"]["plane_paths"], 41, 2)
    shard = read_npz(out / "trajectories/shard_0.npz")
    n = len(paths["sample"])
    # the drawn paths end where the study's own integration did (same noise, same flow)
    np.testing.assert_allclose(paths["x"][:, -1], shard["x1"][:n], atol=2e-3)
    np.testing.assert_allclose(paths["x"][:, 0], shard["x0"][:n], atol=1e-6)
    field = read_npz(out / "plane/field.npz")
    assert field["v"].shape == (5, 21, 21, 2) and np.isfinite(field["v"]).all()
    summary = pd.read_csv(out / "statistics/summary.csv").set_index("key")["value"]
    assert summary["experiment"] == "toy2d"
    assert yaml.safe_load(configfile.read_text())["data"]["dataset"] == "two_moons"
