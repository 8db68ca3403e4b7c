"""Kinetic Trajectory Shaping: off is bit-identical, on is the shaped energy along the shaped
trajectory (checked against an independent quadrature on the closed-form Gaussian flow)."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY, assert_declared_keys_read
from scipy.integrate import quad, solve_ivp

from enfopath import sample_with_energy
from enfopath.analytic import gaussian_velocity
from enfopath.models.networks import VelocityMLP
from enfopath.shaping import SHAPING_GAINS, mean_gain
from enfopath.study.config import ConfigError, validate_config
from enfopath.study.shards import SamplingConfig, generate_shard
from enfopath.study.summary import kpe_definition
from enfopath.velocity import NO_SHAPING, FlowSpec, KineticShaping

MU = np.array([1.0, -0.5, 2.0])
S = 0.7
SHAPING = KineticShaping(alpha0=0.3, beta0=0.02, switch_time=0.6, landing_sharpness=3.0)


def eta(t: float) -> float:
    """η(t) from its definition (docs/science.md §7), in plain floats."""
    s = SHAPING
    tau, k = s.switch_time, s.landing_sharpness
    if t < tau:
        return 1.0 + s.alpha0 * (1.0 - t / tau)
    return 1.0 - s.beta0 * (math.exp(k * (t - tau) / (1.0 - tau)) - 1.0)


def v(t: float, x: np.ndarray) -> np.ndarray:
    var = (1.0 - t) ** 2 + (t * S) ** 2
    return MU + ((t * S * S - (1.0 - t)) / var) * (x - t * MU)


def shaped_energy(x0: np.ndarray) -> float:
    """½∫₀¹ η²‖v‖² along dx/dt = η v: scipy's DOP853 trajectory, then adaptive quadrature."""
    sol = solve_ivp(
        lambda t, x: eta(t) * v(t, x),
        (0.0, 1.0),
        x0,
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        dense_output=True,
    )
    integrand = lambda t: 0.5 * eta(t) ** 2 * float(np.sum(v(t, sol.sol(t)) ** 2))  # noqa: E731
    head, _ = quad(integrand, 0.0, SHAPING.switch_time, epsabs=0.0, epsrel=1e-11, limit=200)
    tail, _ = quad(integrand, SHAPING.switch_time, 1.0, epsabs=0.0, epsrel=1e-11, limit=200)
    return head + tail


def test_the_shaped_energy_is_the_quadrature_along_the_shaped_trajectory():
    x0 = np.random.default_rng(0).normal(size=(4, 3))
    exact = np.array([shaped_energy(row) for row in x0])
    velocity = SHAPING.shape(gaussian_velocity(torch.tensor(MU), S))
    x0t = torch.tensor(x0)
    tight = sample_with_energy(velocity, x0t, solver="dopri5", rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tight.kpe.numpy(), exact, rtol=1e-7)
    rk4 = sample_with_energy(velocity, x0t, solver="rk4", steps=400)
    np.testing.assert_allclose(rk4.kpe.numpy(), exact, rtol=1e-5)
    plain = sample_with_energy(gaussian_velocity(torch.tensor(MU), S), x0t, rtol=1e-10, atol=1e-10)
    assert np.abs(plain.kpe.numpy() / exact - 1).min() > 1e-3  # shaping changes the energy


def test_eta_launches_and_lands():
    t = torch.tensor([0.0, 0.3, 0.6, 1.0], dtype=torch.float64)
    expected = [eta(x) for x in t.tolist()]
    torch.testing.assert_close(SHAPING.eta(t), torch.tensor(expected, dtype=torch.float64))
    assert SHAPING.eta(t)[0] == pytest.approx(1.3) and SHAPING.eta(t)[2] == pytest.approx(1.0)


def test_off_is_bit_identical():
    """α₀ = β₀ = 0: the velocity is not wrapped, and a shard is the same bits."""
    velocity = gaussian_velocity(torch.tensor(MU), S)
    assert KineticShaping(switch_time=0.3, landing_sharpness=5.0).shape(velocity) is velocity
    from enfopath.models.flows import Flow

    flow = Flow(
        VelocityMLP([1, 4, 4], hidden=16, depth=1, time_features=8).eval(), FlowSpec((1, 4, 4))
    )
    base = {
        "solver": "dopri5",
        "steps": 10,
        "grid": "uniform",
        "rtol": 1e-5,
        "atol": 1e-5,
        "tau": 0.6,
        "profile_points": 5,
        "batch_size": 8,
        "t_end": 1.0,
        "kts": {},  # the defaults: off
    }
    plain = generate_shard(
        flow, 0, range(16), SamplingConfig.from_config(base), torch.device("cpu")
    )
    kts_off = {
        **base,
        "kts": {"alpha0": 0.0, "beta0": 0.0, "switch_time": 0.4, "landing_sharpness": 2.0},
    }
    off = generate_shard(
        flow, 0, range(16), SamplingConfig.from_config(kts_off), torch.device("cpu")
    )
    for key in plain:
        assert np.array_equal(plain[key], off[key], equal_nan=True), key
    kts_on = {
        **base,
        "kts": {"alpha0": 0.2, "beta0": 0.01, "switch_time": 0.6, "landing_sharpness": 3.0},
    }
    on = generate_shard(flow, 0, range(16), SamplingConfig.from_config(kts_on), torch.device("cpu"))
    assert not np.array_equal(plain["kpe"], on["kpe"])
    assert (
        SamplingConfig.from_config(base).kts is NO_SHAPING
        or SamplingConfig.from_config(base).kts.off
    )


def test_the_config_refuses_a_landing_that_reverses_the_flow_and_the_summary_labels_kpe():
    cfg = copy.deepcopy(TINY)
    cfg["sampling"] = {**cfg["sampling"], "kts": {"beta0": 0.06}}  # (e³ − 1) 0.06 > 1
    with pytest.raises(ConfigError, match=r"sampling\.kts\.beta0"):
        validate_config(cfg)
    cfg["sampling"]["kts"] = {"alpha0": 0.01, "beta0": 0.01}
    sampling = validate_config(cfg)["sampling"]
    assert kpe_definition(sampling).startswith("shaped E = ½∫₀¹η²‖v‖²dt (KTS α₀ = 0.01")
    assert "no trajectory shaping" in kpe_definition(
        validate_config(copy.deepcopy(TINY))["sampling"]
    )


@pytest.mark.parametrize("alpha0, beta0, tau, k", [(0.01, 0.01, 0.6, 3.0), (0.3, 0.02, 0.4, 5.0)])
def test_the_control_gain_is_the_mean_of_eta(alpha0, beta0, tau, k):
    """∫₀¹η dt in closed form against adaptive quadrature of η; the control's η is that constant
    everywhere (0.9816 for the shipped KTS study, as the issue measured)."""
    shaped = KineticShaping(alpha0, beta0, tau, k)
    control = KineticShaping(alpha0, beta0, tau, k, gain="constant")
    f = lambda t: float(shaped.eta(torch.tensor(t, dtype=torch.float64)))  # noqa: E731
    mean = quad(f, 0.0, tau, epsabs=0.0, epsrel=1e-13)[0] + quad(f, tau, 1.0, epsrel=1e-13)[0]
    assert control.mean_eta == shaped.mean_eta == pytest.approx(mean, rel=1e-12)
    t = torch.linspace(0.0, 1.0, 7, dtype=torch.float64)
    assert torch.equal(control.eta(t), torch.full_like(t, mean_gain(alpha0, beta0, tau, k)))
    if (alpha0, beta0) == (0.01, 0.01):
        assert round(control.mean_eta, 4) == 0.9816


def test_the_constant_gain_energy_is_the_quadrature_along_its_trajectory():
    """dx/dt = c v(x, t) with c = ∫η: the energy in the state is ½∫c²‖v‖² along that
    trajectory (scipy's DOP853 and quad), and differs from the shaped one."""
    control = KineticShaping(
        SHAPING.alpha0, SHAPING.beta0, SHAPING.switch_time, SHAPING.landing_sharpness, "constant"
    )
    c = control.mean_eta
    x0 = np.random.default_rng(1).normal(size=(3, 3))
    sols = [
        solve_ivp(
            lambda t, x: c * v(t, x),
            (0.0, 1.0),
            row,
            "DOP853",
            rtol=1e-12,
            atol=1e-12,
            dense_output=True,
        )
        for row in x0
    ]
    exact = [
        quad(
            lambda t, s=sol: 0.5 * c**2 * float(np.sum(v(t, s.sol(t)) ** 2)),
            0.0,
            1.0,
            epsabs=0.0,
            epsrel=1e-11,
            limit=200,
        )[0]
        for sol in sols
    ]
    velocity = control.shape(gaussian_velocity(torch.tensor(MU), S))
    tight = sample_with_energy(velocity, torch.tensor(x0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tight.kpe.numpy(), exact, rtol=1e-7)
    shaped = sample_with_energy(
        SHAPING.shape(gaussian_velocity(torch.tensor(MU), S)),
        torch.tensor(x0),
        rtol=1e-10,
        atol=1e-10,
    )
    assert np.abs(shaped.kpe.numpy() / exact - 1).min() > 1e-3


def test_the_control_is_configured_named_and_checked():
    """sampling.kts.gain is the schema's enum of SHAPING_GAINS; the summary names the control's
    constant; compare.control needs a baseline and is a third experiment."""
    from enfopath.study.config import schema

    gain = schema()["properties"]["sampling"]["properties"]["kts"]["properties"]["gain"]
    assert tuple(gain["enum"]) == SHAPING_GAINS and gain["default"] == "shaped"
    cfg = copy.deepcopy(TINY)
    cfg["sampling"] = {
        **cfg["sampling"],
        "kts": {"alpha0": 0.01, "beta0": 0.01, "gain": "constant"},
    }
    sampling = validate_config(cfg)["sampling"]
    assert kpe_definition(sampling).startswith("E = ½∫₀¹c²‖v‖²dt, constant gain c = ∫η dt = 0.9816")
    cfg["sampling"]["kts"]["gain"] = "linear"
    with pytest.raises(ConfigError, match=r"sampling\.kts\.gain"):
        validate_config(cfg)
    with pytest.raises(ValueError, match=r"sampling\.kts\.gain must be one of"):
        KineticShaping(gain="linear")
    for compare, says in (
        ({"control": "c"}, "set compare.baseline"),
        ({"baseline": "b", "control": "b"}, "a third experiment"),
        ({"baseline": "b", "control": TINY["experiment"]}, "a third experiment"),
    ):
        with pytest.raises(ConfigError, match=rf"compare\.control.*{says}"):
            validate_config({**copy.deepcopy(TINY), "compare": compare})


def test_paired_comparison_finds_a_known_change_and_none():
    from enfopath.measures.paired import paired_comparison

    rng = np.random.default_rng(3)
    base = pd.DataFrame(
        {"sample": np.arange(500), "a": rng.normal(size=500), "memorized": rng.random(500) < 0.3}
    )
    other = base.sample(frac=1.0, random_state=1).assign(a=lambda d: d.a + 0.5)  # shuffled rows
    other.loc[other["sample"] < 50, "memorized"] = True
    table, per_sample = paired_comparison(
        base.astype({"memorized": float}),
        other.astype({"memorized": float}),
        ["a", "memorized"],
        n_boot=200,
        seed=0,
    )
    a = table.set_index("measure").loc["a"]
    assert a.change_mean == pytest.approx(0.5) and a.change_mean_ci_low == pytest.approx(0.5)
    assert a.spearman_rho == pytest.approx(1.0) and a.wilcoxon_p < 1e-10
    # the effect size: 0.5 over the base's SD, its interval from resampling both
    assert a.effect_size == pytest.approx(0.5 / base.a.std(ddof=0))
    assert a.effect_size_ci_low < a.effect_size < a.effect_size_ci_high
    sds = [
        base.a.to_numpy()[i].std() for i in np.random.default_rng(9).integers(0, 500, (200, 500))
    ]
    spread = np.quantile(0.5 / np.array(sds), [0.025, 0.975])
    assert a.effect_size_ci_high - a.effect_size_ci_low == pytest.approx(
        spread[1] - spread[0], rel=0.3
    )
    m = table.set_index("measure").loc["memorized"]
    expected = (base.memorized | (base["sample"] < 50)).mean() - base.memorized.mean()
    assert (
        m.change_mean == pytest.approx(expected)
        and m.change_mean_ci_low < expected < m.change_mean_ci_high
    )
    assert m.base_mean_ci_low < base.memorized.mean() < m.base_mean_ci_high
    assert list(per_sample.columns[:4]) == ["sample", "a_base", "a", "a_change"]
    np.testing.assert_allclose(per_sample.a_change, 0.5)
    same, _ = paired_comparison(base, base, ["a"], n_boot=50, seed=0)
    assert same.change_mean.iloc[0] == 0 and np.isnan(same.wilcoxon_p.iloc[0])


def _identity(dataset: str, x_train: np.ndarray, x0: np.ndarray) -> dict:
    from enfopath.study.summary import samples_identity

    return {
        "dataset": dataset,
        **samples_identity({"x0": x0}, {"x_train": x_train}),
        "seed": 0,
        "n_samples": 96,
        "t_end": 1.0,
        "density_spaces": ["pixels", "classifier"],
        "density_k": [2, 3],
    }


def test_a_baseline_of_other_samples_is_refused_naming_what_differs():
    """Same seed and n, but a 2-D study against a 64-D one: the data set, the reference set,
    the state shape and the noise all differ, and the first of them is named."""
    from enfopath.io import ExplainedError
    from enfopath.seeding import initial_noise
    from enfopath.study.relations import check_same_samples

    digits = np.zeros((10, 1, 8, 8), np.float32)
    base = _identity("sklearn_digits", digits, initial_noise(0, range(2), (1, 8, 8)).numpy())
    check_same_samples(base, dict(base), "base")
    plane = _identity(
        "two_moons", np.zeros((10, 2), np.float32), initial_noise(0, range(2), (2,)).numpy()
    )
    with pytest.raises(ExplainedError, match=r"compare\.baseline: base has dataset sklearn_digits"):
        check_same_samples(base, plane, "base")
    for key, value in (
        (
            "reference_sha256",
            _identity("sklearn_digits", digits + 1, digits[:1])["reference_sha256"],
        ),
        ("state_shape", [64]),
        ("seed", 1),
        ("n_samples", 48),
        ("noise_sha256", "0" * 64),
        ("t_end", 0.999),
        ("density_spaces", ["pixels"]),
        ("density_k", [5]),
    ):
        with pytest.raises(ExplainedError, match=rf"compare\.baseline: base has {key} "):
            check_same_samples(base, {**base, key: value}, "base")
    old = {k: v for k, v in base.items() if k != "noise_sha256"}
    with pytest.raises(
        ExplainedError, match=r"summary of base has no noise_sha256.*forcerun summary"
    ):
        check_same_samples(old, base, "base")


@pytest.mark.workflow
def test_a_shaped_study_is_compared_with_its_baseline_through_the_dag(study, tmp_path):
    """The tiny study as the baseline, its constant-gain control and the same study with KTS as
    overlays: one table of the three contrasts and one figure, sample by sample; the summary
    says the KPE is shaped; what exceeds the control is the study's change less the control's."""
    import shutil

    from conftest import OUT, snakemake, write_config

    workdir = tmp_path / "work"
    shutil.copytree(study, workdir, symlinks=True)
    kts = {"alpha0": 0.05, "beta0": 0.01}
    control = {
        "experiment": "tiny_kts_control",
        "sampling": {"kts": {**kts, "gain": "constant"}},
        "compare": {"baseline": "tiny"},
        "statistics": {
            "prdc": False,
            "fidelity": False,
            "partial_controls": [],
            "early_prediction": False,
        },
        "robustness": {"enabled": False},
        "schedules": {"enabled": False},
        "early_rejection": {"enabled": False},
    }
    overlay = {
        "experiment": "tiny_kts",
        "sampling": {"kts": kts},
        "compare": {"baseline": "tiny", "control": "tiny_kts_control"},
    }
    write_config(workdir / "control.yaml", control)
    write_config(workdir / "kts.yaml", overlay)
    first = "results/tiny_kts_control/statistics/summary.json"
    run = snakemake(workdir, "--cores", "2", first, "--configfile", str(workdir / "control.yaml"))
    assert run.returncode == 0, run.stderr[-5000:]
    targets = [
        "results/tiny_kts/statistics/comparison.csv",
        "results/tiny_kts/figures/comparison.png",
    ]
    run = snakemake(workdir, "--cores", "2", *targets, "--configfile", str(workdir / "kts.yaml"))
    assert run.returncode == 0, run.stderr[-5000:]
    assert assert_declared_keys_read(workdir) > 10
    every = pd.read_csv(workdir / targets[0])
    assert list(every.contrast.unique()) == [
        "study_vs_baseline",
        "control_vs_baseline",
        "study_vs_control",
    ]
    table = every[every.contrast == "study_vs_baseline"].set_index("measure")
    base = pd.read_parquet(workdir / OUT / "samples.parquet")
    assert table.loc["kpe", "n"] == len(base) and table.loc["kpe", "base_mean"] == pytest.approx(
        base.kpe.mean()
    )
    assert table.loc["kpe", "change_mean"] != 0 and "memorized" in table.index
    beyond = every[every.contrast == "study_vs_control"].set_index("measure")
    by_control = every[every.contrast == "control_vs_baseline"].set_index("measure")
    for m in ("kpe", "clf_margin"):
        assert beyond.loc[m, "change_mean"] == pytest.approx(
            table.loc[m, "change_mean"] - by_control.loc[m, "change_mean"], abs=1e-9
        )
    per_sample = pd.read_parquet(workdir / "results/tiny_kts/comparison/per_sample.parquet")
    shaped = pd.read_parquet(workdir / "results/tiny_kts/samples.parquet").set_index("sample")
    gain = pd.read_parquet(workdir / "results/tiny_kts_control/samples.parquet")
    np.testing.assert_array_equal(per_sample.kpe_control, gain.set_index("sample").kpe)
    np.testing.assert_allclose(
        per_sample.kpe_change_vs_control, shaped.kpe.to_numpy() - per_sample.kpe_control
    )
    summary = pd.read_csv(workdir / "results/tiny_kts/statistics/summary.csv").set_index("key")
    assert summary.loc["kpe_definition", "value"].startswith("shaped E")
    summary = pd.read_csv(workdir / "results/tiny_kts_control/statistics/summary.csv")
    assert "constant gain c = ∫η dt" in summary.set_index("key").loc["kpe_definition", "value"]
    empty = tmp_path / "empty"
    empty.mkdir()
    write_config(empty / "config.yaml", {**TINY, **overlay})
    missing = snakemake(empty, "-n", "--cores", "1")
    said = missing.stdout + missing.stderr
    assert missing.returncode != 0 and "compare.baseline" in said
    assert "results/tiny/samples.parquet" in said and "run the baseline study" in said
    shutil.rmtree(workdir / "results/tiny_kts_control")
    missing = snakemake(workdir, "-n", *targets, "--configfile", str(workdir / "kts.yaml"))
    said = missing.stdout + missing.stderr
    assert missing.returncode != 0 and "compare.control" in said
    assert "results/tiny_kts_control/samples.parquet" in said and "run the control study" in said


@pytest.mark.parametrize(
    ("old", "new"),
    [("tau", "sampling.kts.switch_time"), ("k", "sampling.kts.landing_sharpness")],
)
def test_the_old_names_of_ktss_tau_and_k_are_refused_with_their_new_names(old, new):
    """KTS's τ and k were sampling.kts.tau and .k, the names of two other keys' leaves
    (sampling.tau, density.k); a study file that still uses them is told the new name."""
    cfg = copy.deepcopy(TINY)
    cfg["sampling"] = {**cfg["sampling"], "kts": {"alpha0": 0.01, old: 0.5}}
    with pytest.raises(ConfigError, match=rf"'sampling\.kts\.{old}' is now '{re.escape(new)}'"):
        validate_config(cfg)
