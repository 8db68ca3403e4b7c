"""Early rejection: paths stopped and continued (advance_with_energy), the selection, the
model evaluations counted against the solver's own calls, the oracle's kept set, the kept
sets' measures against their direct computation, the config's refusals, and on the tiny
study the stage's tables."""

import copy

import faiss
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY

from enfopath.analytic import gaussian_velocity
from enfopath.energy import PathState, advance_with_energy, sample_with_energy, solver_nodes
from enfopath.io import read_parquet
from enfopath.measures.density import build_index, reference_radii
from enfopath.measures.fidelity import Reference, frechet_distance
from enfopath.measures.prdc import RealSet, prdc
from enfopath.measures.rejection import (
    KeptQuality,
    RejectionSettings,
    SpaceReference,
    rejected,
    rejection_quality,
)
from enfopath.study.config import ConfigError, validate_config
from enfopath.study.rejection import RejectionPlan, early_rejection_runs
from enfopath.study.shards import SamplingConfig

OUT = f"results/{TINY['experiment']}"
MU = torch.tensor([1.5, -0.5, 0.25])


def field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return gaussian_velocity(MU, 0.3)(t, x)


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4", "dopri5"])
@pytest.mark.parametrize("grid", ["uniform", "cosine"])
def test_a_path_from_noise_to_the_end_is_sample_with_energys_bit_for_bit(solver, grid):
    x0 = torch.randn(40, 3, generator=torch.Generator().manual_seed(1))
    whole = sample_with_energy(field, x0, solver=solver, steps=12, grid=grid)
    nodes = solver_nodes(12, grid) if solver != "dopri5" else None
    end, nfe = advance_with_energy(field, PathState.noise(x0), 1.0, solver=solver, nodes=nodes)
    assert torch.equal(end.x, whole.x1) and torch.equal(end.kpe, whole.kpe)
    assert torch.equal(end.path_length, whole.path_length) and nfe == whole.nfe


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4"])
def test_a_path_stopped_at_a_node_and_continued_is_the_path_integrated_through(solver):
    x0 = torch.randn(40, 3, generator=torch.Generator().manual_seed(2))
    nodes = solver_nodes(10, "cosine")
    end, _ = advance_with_energy(field, PathState.noise(x0), 1.0, solver=solver, nodes=nodes)
    mid, _ = advance_with_energy(
        field, PathState.noise(x0), nodes[3], solver=solver, nodes=nodes[:4]
    )
    keep = torch.arange(40) % 3 != 1  # a subset of the batch goes on
    on, _ = advance_with_energy(field, mid.rows(keep), 1.0, solver=solver, nodes=nodes[3:])
    assert torch.equal(on.x, end.x[keep]) and torch.equal(on.kpe, end.kpe[keep])
    assert bool((mid.kpe < end.kpe).all())  # E(s) is the part of E up to s


def test_dopri5_stopped_and_continued_stays_within_its_tolerance():
    x0 = torch.randn(40, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    end, _ = advance_with_energy(field, PathState.noise(x0), 1.0, rtol=1e-9, atol=1e-9)
    mid, _ = advance_with_energy(field, PathState.noise(x0), 0.3, rtol=1e-9, atol=1e-9)
    on, _ = advance_with_energy(field, mid, 1.0, rtol=1e-9, atol=1e-9)
    assert float((on.x - end.x).abs().max()) < 1e-6
    assert float(((on.kpe - end.kpe) / end.kpe).abs().max()) < 1e-6


def test_bad_legs_are_refused_naming_the_problem():
    start = PathState.noise(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"from t = 0\.0 to t = 0\.0"):
        advance_with_energy(field, start, 0.0)
    with pytest.raises(ValueError, match="needs the nodes"):
        advance_with_energy(field, start, 0.5, solver="euler")
    with pytest.raises(ValueError, match=r"increase strictly from t = 0\.0 to t = 0\.5"):
        advance_with_energy(field, start, 0.5, solver="euler", nodes=[0.0, 0.4])


def test_the_rejected_are_the_share_at_the_chosen_end_ties_by_sample_order():
    score = np.array([3.0, 1.0, 2.0, 3.0, 0.5, 2.0, 1.0, 0.0])
    assert np.flatnonzero(rejected(score, 0.25, "high")).tolist() == [0, 3]
    assert np.flatnonzero(rejected(score, 0.25, "low")).tolist() == [4, 7]
    assert np.flatnonzero(rejected(score, 0.375, "low")).tolist() == [1, 4, 7]  # a tie: 1 first
    assert not rejected(score, 0.0, "high").any()
    for bad, match in ((("mid", 0.5), "reject must be"), (("low", 1.0), "share must lie")):
        with pytest.raises(ValueError, match=match):
            rejected(score, bad[1], bad[0])
    with pytest.raises(ValueError, match="finite"):
        rejected(np.array([1.0, np.nan]), 0.5, "low")


class ClosedFormFlow:
    """A flow in the library's interface whose field is a closed form, counting the sample
    evaluations the solver makes (rows of every call)."""

    shape = (3,)
    conditional = False

    def __init__(self, velocity):
        self.field, self.rows = velocity, 0

    def labels(self, seed, batch):
        return np.full(len(batch), -1, dtype=np.int64)

    def velocity(self, labels):
        def counted(t, x):
            self.rows += x.shape[0]
            return self.field(t, x)

        return counted


def sampling(**changes) -> SamplingConfig:
    cfg = validate_config(copy.deepcopy(TINY))["sampling"]
    return SamplingConfig.from_config(cfg | {"batch_size": 16} | changes)


@pytest.mark.parametrize("solver", ["heun", "dopri5"])
def test_the_evaluations_counted_are_the_solvers_own_calls(solver):
    flow = ClosedFormFlow(field)
    plan = RejectionPlan((0.2, 0.55), (0.25, 0.5), "high")
    config = sampling(solver=solver, steps=10, grid="uniform")
    partial, compute = early_rejection_runs(flow, 0, 40, plan, config, torch.device("cpu"))
    firsts = compute.drop_duplicates("check_time")
    counted = compute.evaluations_all.iloc[0] + firsts.evaluations_to_check.sum()
    assert flow.rows == counted + compute.evaluations_after.sum()
    assert (compute.evaluations == compute.evaluations_to_check + compute.evaluations_after).all()
    assert (compute.n_rejected == [10, 20, 10, 20]).all()
    if solver == "heun":  # 2 evaluations a step; 0.55 stops at the node 0.6
        assert compute.evaluations_all.iloc[0] == 40 * 10 * 2
        assert firsts.check_node.tolist() == [0.2, 0.6]
        assert firsts.evaluations_to_check.tolist() == [40 * 2 * 2, 40 * 6 * 2]
        assert compute.evaluations_after.tolist() == [30 * 16, 20 * 16, 30 * 8, 20 * 8]
        assert (compute.kept_x1_rms_max == 0).all()
    assert len(partial) == 2 * 40 and not partial.nonfinite.any()


def test_where_e_s_ranks_as_the_final_kpe_early_rejection_keeps_the_oracles_set():
    # dx/dt = (x₂, 0, 0): a constant speed per sample, so E(s) = s · KPE for every sample
    def constant(t, x):
        return torch.stack([x[:, 1], torch.zeros_like(x[:, 0]), torch.zeros_like(x[:, 0])], 1)

    plan = RejectionPlan((0.25,), (0.25, 0.5), "low")
    partial, _ = early_rejection_runs(
        ClosedFormFlow(constant), 0, 48, plan, sampling(), torch.device("cpu")
    )
    final = partial.kpe.to_numpy()
    assert np.allclose(partial.partial_kpe, 0.25 * final, rtol=1e-5)
    quality = random_quality(48)
    settings = RejectionSettings(n_boot=20, fd_boot=10, draws=5, confidence=0.9, seed=0)
    table = rejection_quality(partial, final, [0.25, 0.5], "low", quality, settings)
    assert np.array_equal(table.energy, table.oracle)
    assert np.array_equal(table.energy_ci_low, table.oracle_ci_low)
    # and the oracle's set is the final KPE's top: its mean is that of the 36 highest
    kept = np.sort(np.argsort(final)[12:])
    row = table[(table.share == 0.25) & (table.measure == "score")].iloc[0]
    assert row.oracle == pytest.approx(quality.per_sample["score"][kept].mean())
    assert row.n_kept == 36 and row.reject == "low"


def random_quality(n: int, seed: int = 0) -> KeptQuality:
    rng = np.random.default_rng(seed)
    fake, real = rng.normal(size=(n, 4)), rng.normal(size=(60, 4))
    real32 = real.astype(np.float32)
    index = build_index(real32)
    radii = reference_radii(index, real32, [3])[0]
    space = SpaceReference(fake.astype(np.float32), RealSet(real32, index, radii, 3))
    return KeptQuality({"score": rng.uniform(size=n)}, {"toy": space})


def test_a_kept_sets_measures_are_those_computed_on_its_samples_alone():
    quality = random_quality(50, seed=4)
    rows = np.flatnonzero(np.random.default_rng(5).uniform(size=50) < 0.6)
    got = quality.of(rows)
    space = quality.spaces["toy"]
    reals = space.reals
    direct = prdc(reals.features, reals.index, reals.radii, space.features[rows], 3)
    for m in ("precision", "recall", "density", "coverage"):
        assert got[(m, "toy")] == getattr(direct, m)
    fd = frechet_distance(space.features[rows], Reference.of(reals.features))
    assert got[("fd", "toy")] == pytest.approx(fd, rel=1e-10)
    assert got[("score", "")] == quality.per_sample["score"][rows].mean()
    with_ci = quality.with_intervals(rows, 50, 20, 0, 0.9)
    for key, (value, low, high) in with_ci.items():
        assert value == pytest.approx(got[key]) and low <= high, key
    assert isinstance(reals.index, faiss.Index)


def test_random_rejection_is_the_baseline_each_kept_set_is_ranked_against():
    quality = random_quality(60, seed=6)
    energy = quality.per_sample["score"]  # reject by the measure itself: the best set kept
    partial = pd.DataFrame({"check_time": 0.5, "partial_kpe": energy})
    settings = RejectionSettings(n_boot=20, fd_boot=10, draws=30, confidence=0.9, seed=0)
    final = np.random.default_rng(7).uniform(size=60)
    table = rejection_quality(partial, final, [0.5], "low", quality, settings)
    score = table[table.measure == "score"].iloc[0]
    assert score.energy > score.random_ci_high and score.random_share_better == 0.0
    assert score.energy == np.sort(energy)[30:].mean()
    assert score["all"] == pytest.approx(energy.mean())
    assert set(table.measure) == {"score", "fd", "precision", "recall", "density", "coverage"}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"early_rejection": {"check_times": [0.2, 1.0]}}, "early_rejection.check_times"),
        ({"early_rejection": {"shares": [0.0]}}, "early_rejection.shares"),
        ({"early_rejection": {"reject": "middle"}}, "early_rejection.reject"),
        (
            {"sampling": {"t_end": 0.9}, "early_rejection": {"check_times": [0.95]}},
            "early_rejection.check_times",
        ),
    ],
)
def test_the_config_refuses_a_stop_it_cannot_make(change, key):
    cfg = copy.deepcopy(TINY)
    for section, values in change.items():
        cfg[section] = cfg.get(section, {}) | values
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_config(cfg)


def test_the_tiny_studys_stops_rank_its_own_samples(study):
    partial = read_parquet(study / OUT / "early_rejection/partial.parquet")
    compute = read_parquet(study / OUT / "early_rejection/compute.parquet")
    samples = read_parquet(study / OUT / "samples.parquet").set_index("sample")
    for _, part in partial.groupby("check_time"):  # integrated through: the study's own KPE
        assert np.array_equal(part.kpe.to_numpy(), samples.loc[part["sample"], "kpe"].to_numpy())
    table = pd.read_csv(study / OUT / "statistics/early_rejection.csv")
    assert set(table.check_time) == {0.2, 0.5} and set(table.share) == {0.25, 0.5}
    assert (table.nfe_share < 1).all() and (compute.nfe_share < 1).all()
    assert (table.n_kept == table.n - table.n_rejected).all() and (table.reject == "low").all()
    assert {"clf_confidence", "memorized", "fd", "precision"} <= set(table.measure)


def test_a_share_that_keeps_too_few_samples_is_refused_naming_the_keys():
    quality = random_quality(8)
    partial = pd.DataFrame({"check_time": 0.5, "partial_kpe": np.arange(8.0)})
    settings = RejectionSettings(n_boot=5, fd_boot=5, draws=2, confidence=0.9, seed=0)
    with pytest.raises(
        ValueError, match=r"early_rejection\.shares: stopping 0\.75 of 8 samples keeps 2"
    ):
        rejection_quality(partial, np.arange(8.0), [0.75], "low", quality, settings)
