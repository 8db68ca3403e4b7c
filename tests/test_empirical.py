"""The empirical (closed-form) flow: known answers, and integration to 1 − ε."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY, assert_declared_keys_read, core_stages_only, snakemake, write_config

from enfopath import sample_with_energy
from enfopath.analytic import gaussian_velocity
from enfopath.io import read_npz
from enfopath.models.empirical import EmpiricalFlow
from enfopath.study.config import ConfigError, validate_config


def brute_force(data: torch.Tensor, t: float, x: torch.Tensor) -> torch.Tensor:
    """v*(x, t) from its definition, in float64, with scipy-free softmax over all points."""
    flat, ref = x.reshape(len(x), -1).double(), data.reshape(len(data), -1).double()
    d2 = ((flat[:, None, :] - t * ref[None, :, :]) ** 2).sum(-1)
    w = torch.softmax(-d2 / (2 * (1 - t) ** 2), dim=1)
    return ((w @ ref - flat) / (1 - t)).reshape(x.shape)


@pytest.mark.parametrize("t", [0.0, 0.5, 0.99, 0.9999])
def test_the_velocity_is_the_softmax_formula_in_chunks(t, monkeypatch):
    monkeypatch.setattr("enfopath.models.empirical.CHUNK", 7)  # many chunks of the log-sum-exp
    g = torch.Generator().manual_seed(0)
    data = torch.randn(30, 2, 3, generator=g, dtype=torch.float64)
    x = torch.randn(5, 2, 3, generator=g, dtype=torch.float64)
    v = EmpiricalFlow.of(data).double()(torch.tensor(t, dtype=torch.float64), x)
    torch.testing.assert_close(v, brute_force(data, t, x), rtol=1e-9, atol=1e-9)


def test_one_training_point_gives_the_straight_line_and_its_closed_form_energy():
    """v* = (x₁ − x)/(1 − t): x(t) = (1 − t) x0 + t x₁ and E = ½‖x₁ − x0‖² T on [0, T]."""
    g = torch.Generator().manual_seed(1)
    point = torch.randn(1, 4, generator=g, dtype=torch.float64)
    x0 = torch.randn(64, 4, generator=g, dtype=torch.float64)
    flow = EmpiricalFlow.of(point).double()
    t_end = 0.999
    exact = 0.5 * (point - x0).pow(2).sum(1) * t_end
    for solver, options in (("dopri5", {"rtol": 1e-9, "atol": 1e-9}), ("rk4", {"steps": 20})):
        res = sample_with_energy(flow, x0, solver=solver, t_end=t_end, **options)
        torch.testing.assert_close(res.kpe, exact, rtol=1e-7, atol=0)
        torch.testing.assert_close(res.x1, (1 - t_end) * x0 + t_end * point, rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(
            res.straightness, torch.zeros(64, dtype=torch.float64), atol=1e-7, rtol=0
        )
        assert res.profile_t[-1] == pytest.approx(t_end) and res.t_end == t_end


def test_t_end_one_is_bit_identical_and_a_shorter_span_is_the_integral_to_it():
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64)
    v = gaussian_velocity(mu, 0.5)
    x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    plain = sample_with_energy(v, x0, solver="heun", steps=40)
    same = sample_with_energy(v, x0, solver="heun", steps=40, t_end=1.0)
    for field in ("kpe", "x1", "speed_sq", "kpe_profile", "kpe_left_riemann"):
        assert torch.equal(getattr(plain, field), getattr(same, field)), field
    fine = sample_with_energy(v, x0, solver="dopri5", rtol=1e-10, atol=1e-10, profile_points=41)
    short = sample_with_energy(v, x0, solver="dopri5", rtol=1e-10, atol=1e-10, t_end=0.75)
    # E(0.75) read from the fine run's profile (times 0, 0.025, ..., 1)
    torch.testing.assert_close(short.kpe, fine.kpe_profile[:, 30], rtol=1e-7, atol=0)
    with pytest.raises(ValueError, match="t_end"):
        sample_with_energy(v, x0, t_end=0.5, tau=0.6)


def test_the_projected_endpoint_is_the_weighted_training_mean_and_x_itself_at_one():
    from enfopath.study.shards import projected_endpoint

    g = torch.Generator().manual_seed(3)
    data = torch.randn(40, 2, 3, generator=g, dtype=torch.float64)
    x = torch.randn(6, 2, 3, generator=g, dtype=torch.float64)
    flow = EmpiricalFlow.of(data).double()
    for t in (0.5, 0.99, 0.999):
        flat, ref = x.reshape(6, -1), data.reshape(40, -1)
        w = torch.softmax(-((flat[:, None] - t * ref[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2), 1)
        torch.testing.assert_close(
            projected_endpoint(flow, x, t), (w @ ref).reshape(x.shape), rtol=1e-9, atol=1e-9
        )
    calls = []
    assert projected_endpoint(lambda t, y: calls.append(t) or y, x, 1.0) is x and not calls


def test_the_config_needs_t_end_below_one_for_the_empirical_flow():
    cfg = copy.deepcopy(TINY)
    cfg["flow"] = {"model": "empirical"}
    with pytest.raises(ConfigError, match=r"sampling\.t_end"):
        validate_config(copy.deepcopy(cfg))
    cfg["sampling"] = {**cfg["sampling"], "t_end": 0.999}
    validate_config(copy.deepcopy(cfg))
    cfg["sampling"]["tau"] = 0.9995
    with pytest.raises(ConfigError, match=r"sampling\.tau"):
        validate_config(copy.deepcopy(cfg))


@pytest.mark.workflow
def test_the_empirical_flow_memorizes_through_the_whole_dag(tmp_path):
    """No training; nearly every sample lands on a training point, and the study's memorization
    detector (d₁/d₂ < 1/3 in pixel space) says so."""
    cfg = copy.deepcopy(TINY)
    cfg["experiment"] = "empirical"
    cfg["flow"] = {"model": "empirical"}
    cfg["sampling"] = {**cfg["sampling"], "t_end": 0.999}
    cfg = core_stages_only(cfg)
    write_config(tmp_path / "config.yaml", cfg)
    run = snakemake(tmp_path, "--cores", "2", "results/empirical/statistics/memorization.csv")
    assert run.returncode == 0, run.stderr[-5000:]
    assert "rule train_flow" not in run.stderr and "rule empirical_flow" in run.stderr
    assert assert_declared_keys_read(tmp_path) > 10
    out = tmp_path / "results" / "empirical"
    mem = pd.read_csv(out / "statistics/memorization.csv")
    overall = mem[mem.endpoint == "endpoint"].set_index("bin").loc[0]
    assert overall["fraction"] > 0.95 and overall["ratio_median"] < 0.05
    table = pd.read_parquet(out / "samples.parquet")
    assert (table["pixels_d1_d2"] < 1 / 3).mean() == overall["fraction"]
    # the projected endpoint x̂₁ = x + (1 − t_end) v*: the weighted training mean, from the
    # shards' endpoints and the training images in float64, against the table's d₁ and d₁ / d₂
    shards = [read_npz(p) for p in sorted((out / "trajectories").glob("shard_*.npz"))]
    x1 = torch.from_numpy(np.concatenate([s["x1"] for s in shards])).double()
    data = torch.from_numpy(read_npz(out / "data/dataset.npz")["x_train"]).double()
    t_end = cfg["sampling"]["t_end"]
    heading = (x1 + (1 - t_end) * brute_force(data, t_end, x1)).clamp(-1, 1).flatten(1)
    d = torch.cdist(heading, data.flatten(1)).sort(dim=1).values.numpy()
    np.testing.assert_allclose(table["projected_pixels_nn_dist"], d[:, 0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        table["projected_pixels_d1_d2"], d[:, 0] / d[:, 1], rtol=1e-4, atol=1e-5
    )
    projected = mem[mem.endpoint == "projected"].set_index("bin").loc[0]
    assert projected["memorized"] == (d[:, 0] / d[:, 1] < 1 / 3).sum()
    assert projected["ratio_median"] < overall["ratio_median"] / 10  # it is where it heads


def test_the_study_config_is_the_default_study_with_the_empirical_flow(tmp_path):
    from conftest import ROOT

    from enfopath.study.config import load_config

    default = load_config(ROOT / "config.yaml")
    empirical = load_config(ROOT / "config.yaml", ROOT / "configs/digits_empirical.yaml")
    assert empirical["flow"]["model"] == "empirical" and empirical["sampling"]["t_end"] < 1
    assert empirical["seed"] == default["seed"] and empirical["data"] == default["data"]
    run = snakemake(
        tmp_path,
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(ROOT / "config.yaml"),
        str(ROOT / "configs/digits_empirical.yaml"),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "empirical_flow" in run.stdout and "train_flow" not in run.stdout
