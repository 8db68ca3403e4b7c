"""The checkpoint ladder along training: its tables, the config's checks, its figure and the
DAG on the finished tiny study (its top rung is the study's flow and samples, bit for bit)."""

from __future__ import annotations

import copy

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import (
    OUT,
    TINY,
    assert_declared_keys_read,
    copy_of,
    job_counts,
    snakemake,
    write_config,
)
from test_plugin import user_module  # noqa: F401 (the user's model file, a fixture)

from enfopath.measures.correlation import correlations, partial_correlations
from enfopath.study.figures import FIGURES, FigureContext
from enfopath.study.ladder import heldout_at, ladder_relations, ladder_rungs, rung_summary
from enfopath.study.tables import ENERGIES

STATS = {"bootstrap": 40, "confidence": 0.9, "partial_controls": ["x0_norm_sq", "chord_energy"]}


def _rung(seed: int, shift: float) -> pd.DataFrame:
    """A rung's per-sample table: KPE, its parts, one semantic and one density measure."""
    rng = np.random.default_rng(seed)
    n = 60
    kpe = rng.gamma(4.0, size=n) + shift
    chord = 0.8 * kpe + rng.normal(0, 0.1, n)
    return pd.DataFrame(
        {
            "sample": np.arange(n),
            "nonfinite": np.zeros(n, bool),
            "kpe": kpe,
            "kpe_early": 0.6 * kpe,
            "kpe_late": 0.4 * kpe,
            "chord_energy": chord,
            "straightness": kpe - chord,
            "x0_norm_sq": rng.gamma(30.0, size=n),
            "clf_confidence": rng.uniform(0.5, 1, n),
            "clf_margin": rng.uniform(0, 1, n),
            "pixels_knn_logdens2": -kpe + rng.normal(0, 1, n),
            "pixels_d1_d2": np.r_[np.full(6, 0.2), np.full(n - 6, 0.9)],
        }
    )


def test_a_rung_in_numbers():
    table = _rung(0, 0.0)
    row = rung_summary(table)
    assert row["n"] == 60 and row["nonfinite"] == 0
    assert row["kpe_mean"] == pytest.approx(table.kpe.mean())
    assert row["kpe_q50"] == pytest.approx(table.kpe.median())
    assert row["excess_energy_mean"] == pytest.approx(table.straightness.mean())
    assert row["quality_measure"] == "clf_confidence"
    assert row["quality"] == pytest.approx(table.clf_confidence.mean())
    assert row["memorized_share"] == pytest.approx(0.1)  # 6 of 60 below 1/3
    rungs = ladder_rungs(
        {(0, 10): _rung(1, 0.0), (0, 40): table}, {(0, 10): 1.5, (0, 40): 1.2}, (0, 40)
    )
    assert list(rungs.flow_step) == [10, 40] and list(rungs.study) == [False, True]
    assert list(rungs.heldout_loss) == [1.5, 1.2]


def test_every_rung_has_the_studys_raw_and_partial_relations():
    tables = {(0, 10): _rung(1, 0.0), (0, 40): _rung(2, 3.0)}
    rel = ladder_relations(tables, (0, 40), ["pixels"], STATS, seed=5)
    assert set(zip(rel.flow_step, rel.study, strict=True)) == {(10, False), (40, True)}
    measures = ["clf_confidence", "clf_margin", "pixels_knn_logdens2", "pixels_d1_d2"]
    for (_, step), table in tables.items():
        own = rel[rel.flow_step == step]
        raw = own[own.analysis == "raw"].reset_index(drop=True)
        ref = correlations(table, list(ENERGIES), measures, n_boot=40, seed=5, confidence=0.9)
        assert set(ref.measure) <= set(raw.measure)
        ref = ref.set_index(["energy", "measure"])
        for r in raw.itertuples():
            expected = ref.loc[(r.energy, r.measure)]
            assert r.rho == expected.spearman_rho and r.q == expected.spearman_q
            assert (r.rho_ci_low, r.rho_ci_high) == (
                expected.spearman_rho_ci_low,
                expected.spearman_rho_ci_high,
            )
        part = own[own.analysis == "partial"]
        assert set(part.control) == {"x0_norm_sq", "chord_energy"}
        ref = partial_correlations(
            table,
            ["kpe", "straightness", "kpe_early", "kpe_late"],
            [m for m in measures if m in set(part.measure)],
            ["x0_norm_sq", "chord_energy"],
            n_boot=40,
            seed=5,
            confidence=0.9,
        ).set_index(["control", "energy", "measure"])
        for r in part.itertuples():
            assert r.rho == ref.loc[(r.control, r.energy, r.measure)].partial_rho


def test_a_step_the_training_run_did_not_evaluate_is_refused_by_name():
    record = pd.DataFrame({"step": [0, 10, 40], "heldout_loss": [2.0, 1.5, 1.2]})
    assert heldout_at(record, 10, "flow_kpe.csv") == 1.5
    with pytest.raises(ValueError, match=r"seed_3/flow_kpe\.csv: no evaluation at step 20"):
        heldout_at(record, 20, "seed_3/flow_kpe.csv")


def test_the_shipped_ladder_study_is_the_default_study_with_its_rungs():
    from conftest import ROOT

    from enfopath.study.config import load_config

    default = load_config(ROOT / "config.yaml")
    cfg = load_config(ROOT / "config.yaml", ROOT / "configs/digits_ladder.yaml")
    steps = cfg["replicates"]["flow_steps"]
    assert len(steps) >= 3 and max(steps) < cfg["flow"]["steps"]
    for key in ("seed", "data", "flow", "sampling", "density", "semantics"):
        assert cfg[key] == default[key], key


def test_the_ladder_figure_draws_the_tables_numbers():
    tables = {(0, 10): _rung(1, 0.0), (0, 100): _rung(2, 1.0), (0, 400): _rung(3, 3.0)}
    rel = ladder_relations(tables, (0, 400), ["pixels"], STATS, seed=5)
    rungs = ladder_rungs(tables, {(0, 10): 1.5, (0, 100): 1.3, (0, 400): 1.2}, (0, 400))
    ctx = FigureContext(["pixels"], [2], 0.2, ladder=rel, ladder_rungs=rungs)
    fig = FIGURES["ladder"](pd.DataFrame(), ctx)
    raw_ax, partial_ax, kpe_ax, _ = fig.axes[:4]
    for ax, pick in (
        (raw_ax, rel[(rel.analysis == "raw") & (rel.energy == "kpe")]),
        (partial_ax, rel[(rel.control == "chord_energy") & (rel.energy == "kpe")]),
    ):
        drawn = {tuple(np.round(np.asarray(ln.get_ydata(), float), 12)) for ln in ax.get_lines()}
        for measure in ("clf_margin", "pixels_knn_logdens2"):
            rho = pick[pick.measure == measure].sort_values("flow_step").rho
            assert tuple(np.round(rho.to_numpy(float), 12)) in drawn, measure
    means = {tuple(np.asarray(ln.get_ydata(), float)) for ln in kpe_ax.get_lines()}
    assert tuple(rungs.kpe_mean) in means
    assert [t.get_text() for t in kpe_ax.get_xticklabels()] == ["10", "100", "400"]
    with pytest.raises(ValueError, match=r"ladder_rungs\.csv"):
        FIGURES["ladder"](pd.DataFrame(), FigureContext(["pixels"], [2], 0.2, ladder=rel))
    plt.close(fig)


@pytest.mark.workflow
def test_the_ladder_climbs_the_studys_own_training_run(study, tmp_path):
    """Rungs at steps 10 and 30 of the finished tiny study's 40: only the ladder's jobs run;
    the ladder's run is the study's training to the bit; its top rung, asked for by name, is
    the study's own samples to the bit; each rung is another network on the same noise."""
    work = copy_of(study, tmp_path)
    ladder = {"replicates": {"flow_steps": [10, 30], "n_samples": 32}}
    extra = write_config(work / "ladder.yaml", ladder)
    files = [str(work / "config.yaml"), str(extra)]
    dry = snakemake(work, "-n", "--cores", "1", "--configfile", *files)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert job_counts(dry.stdout) == {
        "replicate_flow": 1,
        "rung_samples": 2,
        "ladder": 1,
        "figure": 1,
        "page_one": 1,  # the study draws one more figure, linked from the first page
        "report_tables": 1,  # and has two more tables
        "figure_pages": 1,
        "inventory": 1,
        "all": 1,
        "total": 10,
    }
    run = snakemake(work, "--cores", "2", "--configfile", *files)
    assert run.returncode == 0, run.stderr[-5000:]
    out = work / OUT
    top = out / f"replicates/seed_{TINY['seed']}/step_{TINY['flow']['steps']}/samples.parquet"
    by_name = snakemake(work, str(top.relative_to(work)), "--cores", "1", "--configfile", *files)
    assert by_name.returncode == 0, by_name.stderr[-5000:]
    assert assert_declared_keys_read(work) > 10
    own = torch.load(out / "models/flow.pt", weights_only=False)["state_dict"]
    run_dir = out / f"replicates/seed_{TINY['seed']}"
    again = torch.load(run_dir / "flow.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(own[k], again[k]) for k in own)
    study_rows = pd.read_parquet(out / "samples.parquet").iloc[:32].reset_index(drop=True)
    top_rung = pd.read_parquet(top)
    pd.testing.assert_frame_equal(top_rung, study_rows[top_rung.columns], check_exact=True)
    rungs = pd.read_csv(out / "statistics/ladder_rungs.csv")
    assert list(rungs.flow_step) == [10, 30, 40] and list(rungs.study) == [False, False, True]
    record = pd.read_csv(run_dir / "flow_kpe.csv")
    assert {10, 30, 40} <= set(record.step)
    for r in rungs.itertuples():
        assert r.heldout_loss == record.heldout_loss[record.step == r.flow_step].iloc[0]
    rung10 = pd.read_parquet(run_dir / "step_10/samples.parquet")
    meta = torch.load(run_dir / "flow_step_10.pt", weights_only=False)["meta"]
    assert meta["step"] == 10
    assert meta["heldout_loss"] == pytest.approx(rungs.heldout_loss.iloc[0], rel=1e-15)
    np.testing.assert_array_equal(rung10.x0_norm_sq, top_rung.x0_norm_sq)  # the same noise
    assert not np.allclose(rung10.kpe, top_rung.kpe)  # another network
    assert rungs.kpe_mean.iloc[0] == pytest.approx(rung10.kpe.astype(float).mean())
    rel = pd.read_csv(out / "statistics/ladder.csv")
    assert set(rel.analysis) == {"raw", "partial"} and set(rel.flow_step) == {10, 30, 40}
    assert (out / "figures/ladder.png").stat().st_size > 0


# --- a ladder of checkpoints trained elsewhere (flow.checkpoints), on the user's own model ---


def _user_weights(folder, seed: int, hidden: int = 32):
    """One checkpoint of the user's tiny network (tests/test_plugin.py's module), its sha256."""
    import hashlib
    import sys

    sys.modules.pop("tiny_user_flow", None)
    import tiny_user_flow

    torch.manual_seed(seed)
    path = folder / f"weights_{seed}_{hidden}.pt"
    torch.save({"ema": tiny_user_flow.build(64, hidden).state_dict()}, path)
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _elsewhere_config(folder, rungs: dict[int, dict], top: int = 300) -> dict:
    from test_plugin import SECTION

    cfg = copy.deepcopy(TINY)
    cfg["experiment"] = "elsewhere"
    cfg["flow"] = {
        "plugin": {**SECTION, "checkpoint": _user_weights(folder, 0), "key": "ema"},
        "checkpoints": [{"step": k, "checkpoint": c} for k, c in rungs.items()],
        "checkpoint_step": top,
    }
    cfg["robustness"], cfg["schedules"] = {"enabled": False}, {"enabled": False}
    cfg["early_rejection"] = {"enabled": False}
    cfg["statistics"] = {"partial_controls": ["chord_energy"], "early_prediction": False}
    cfg["statistics"] |= {"prdc": False, "fidelity": False, "bootstrap": 50}
    cfg["replicates"] = {"n_samples": 32}
    return cfg


@pytest.mark.usefixtures("user_module")
def test_a_ladder_from_elsewhere_is_checked_naming_the_key(tmp_path):
    from enfopath.study.config import ConfigError, validate_config

    folder = tmp_path / "user_code"  # the user_module fixture's folder

    rung = _user_weights(folder, 1)
    validate_config(_elsewhere_config(folder, {100: rung}))
    for change, message in (
        (lambda c: c["flow"].update(checkpoint_step=None), r"flow\.checkpoint_step"),
        (lambda c: c["flow"].update(checkpoint_step=100), r"flow\.checkpoints\[0\]\.step"),
        (
            lambda c: c["flow"]["checkpoints"].append(dict(c["flow"]["checkpoints"][0])),
            "step 100 is given twice",
        ),
        (lambda c: c["flow"]["plugin"].update(checkpoint=None), "its own checkpoint"),
        (
            lambda c: c["flow"]["checkpoints"][0]["checkpoint"].update(url="https://x.org/a.pt"),
            r"flow\.checkpoints\[0\]\.checkpoint",
        ),
        (lambda c: c["flow"].pop("checkpoints"), "flow.checkpoints, which is empty"),
    ):
        cfg = _elsewhere_config(folder, {100: rung})
        change(cfg)
        with pytest.raises(ConfigError, match=message):
            validate_config(cfg)
    trained = copy.deepcopy(TINY) | {
        "flow": {**TINY["flow"], "checkpoints": [{"step": 1, "checkpoint": rung}]}
    }
    trained["flow"]["checkpoint_step"] = 40
    with pytest.raises(ConfigError, match=r"replicates\.flow_steps"):
        validate_config(trained)


@pytest.mark.workflow
@pytest.mark.usefixtures("user_module")
def test_a_ladder_of_checkpoints_trained_elsewhere_runs_and_refuses_a_misfit(tmp_path):
    """The user's model at steps 100 and 200 below its own checkpoint at 300: each rung fetched,
    checked and imported, run from the study's noise; no held-out loss (no training run here);
    a rung of another architecture is refused naming its step."""
    folder = tmp_path / "user_code"  # the user_module fixture's folder
    rungs = {100: _user_weights(folder, 1), 200: _user_weights(folder, 2)}
    cfg = _elsewhere_config(folder, rungs)
    work = tmp_path / "study"
    work.mkdir()
    write_config(work / "config.yaml", cfg)
    run = snakemake(work, "--cores", "2")
    assert run.returncode == 0, run.stderr[-5000:]
    assert assert_declared_keys_read(work) > 10
    out = work / "results" / "elsewhere"
    table = pd.read_csv(out / "statistics/ladder_rungs.csv")
    assert list(table.flow_step) == [100, 200, 300] and list(table.study) == [False, False, True]
    assert table.heldout_loss.isna().all()
    assert "rule train_flow" not in run.stderr and "rule replicate_flow" not in run.stderr
    meta = torch.load(out / "models/flow_step_200.pt", weights_only=False)["meta"]
    assert meta["step"] == 200 and meta["source"]["sha256"] == rungs[200]["sha256"]
    study_rows = pd.read_parquet(out / "samples.parquet").iloc[:32].reset_index(drop=True)
    for step in (100, 200):
        rung = pd.read_parquet(out / f"replicates/seed_{TINY['seed']}/step_{step}/samples.parquet")
        np.testing.assert_array_equal(rung.x0_norm_sq, study_rows.x0_norm_sq)  # the same noise
        assert not np.allclose(rung.kpe, study_rows.kpe)  # another checkpoint
    assert (out / "figures/ladder.png").stat().st_size > 0
    # a rung of another architecture: refused by its step, before any sampling
    bad = _elsewhere_config(folder, {100: _user_weights(folder, 1, hidden=16)})
    bad["experiment"] = "misfit"
    write_config(work / "misfit.yaml", bad)
    refused = snakemake(
        work,
        "results/misfit/models/flow_step_100.pt",
        "--cores",
        "1",
        "--configfile",
        str(work / "misfit.yaml"),
    )
    assert refused.returncode != 0
    log = (work / "results/misfit/logs/import_rung/100.log").read_text()
    assert "flow.checkpoints step 100" in log and "do not fit the network" in log


def test_training_seeds_and_steps_multiply_into_one_ladder(tmp_path):
    """With replicates.flow_seeds too, every seed's run climbs the ladder: one run per seed
    (the study's own for its rungs), one rung table per seed and step, one ladder table."""
    cfg = copy.deepcopy(TINY)
    cfg["replicates"] = {"flow_seeds": [1], "flow_steps": [10], "n_samples": 32}
    write_config(tmp_path / "config.yaml", cfg)
    dry = snakemake(tmp_path, "-n", "--cores", "1")
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout)
    assert counts["replicate_flow"] == 2 and counts["replicate_samples"] == 1
    assert counts["rung_samples"] == 2 and counts["ladder"] == 1 and counts["replicates"] == 1
    for seed in (1, TINY["seed"]):
        assert f"{OUT}/replicates/seed_{seed}/step_10/samples.parquet" in dry.stdout
        assert f"{OUT}/replicates/seed_{seed}/flow_step_10.pt" in dry.stdout
