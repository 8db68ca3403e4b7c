"""Replication across training seeds: the spread of each ρ, the config's checks (of the
checkpoint ladder's rungs too: tests/test_ladder.py), and the DAG."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import (
    OUT,
    TINY,
    assert_declared_keys_read,
    copy_of,
    job_counts,
    snakemake,
    write_config,
)

from enfopath.study.config import ConfigError, validate_config
from enfopath.study.replicates import replicate_spread


def _per_flow(rhos: dict[int, list[float]], half: float = 0.05) -> pd.DataFrame:
    """A per-flow table of two measures' ρ with KPE, the first seed the study's."""
    rows = []
    for j, (seed, values) in enumerate(rhos.items()):
        for measure, rho in zip(("a", "b"), values, strict=True):
            rows.append(
                {
                    "flow_seed": seed,
                    "study": j == 0,
                    "energy": "kpe",
                    "measure": measure,
                    "spearman_rho": rho,
                    "spearman_rho_ci_low": rho - half,
                    "spearman_rho_ci_high": rho + half,
                }
            )
    return pd.DataFrame(rows)


def test_the_spread_counts_signs_and_compares_the_sd_with_the_intervals():
    # a: every flow well above 0; b: the study's sign (+) is not shared by seed 2
    table = replicate_spread(_per_flow({0: [0.30, 0.04], 1: [0.20, 0.10], 2: [0.25, -0.08]}))
    a, b = table.set_index("measure").loc["a"], table.set_index("measure").loc["b"]
    assert a.n_flows == 3 and a.study_rho == 0.30
    assert a.rho_mean == pytest.approx(0.25) and a.rho_sd == pytest.approx(0.05)
    assert (a.rho_min, a.rho_max) == (0.20, 0.30)
    assert a.ci_half_width_mean == pytest.approx(0.05) and a.sd_over_half_width == pytest.approx(1)
    assert a.sign_shared and a.sign_established and a.n_above_zero == 3
    assert (b.n_positive, b.n_negative) == (2, 1) and not b.sign_shared
    assert not b.sign_established and b.n_above_zero == 1 and b.n_below_zero == 1
    # a negative relation established in every flow
    neg = replicate_spread(_per_flow({0: [-0.3, 0.0], 5: [-0.2, 0.0]}, half=0.1))
    row = neg.set_index("measure").loc["a"]
    assert row.sign_shared and row.sign_established and row.n_below_zero == 2
    assert not neg.set_index("measure").loc["b"].sign_shared  # ρ = 0 has no sign


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"replicates": {"flow_seeds": [3]}}, "the study's own"),  # TINY's seed is 3
        ({"replicates": {"flow_seeds": [1, 1]}}, "flow_seeds"),
        ({"replicates": {"flow_seeds": [1], "n_samples": 97}}, "replicates.n_samples"),
        (
            {"replicates": {"flow_seeds": [1]}, "flow": {"model": "empirical"}},
            "no training seed",
        ),
        # the checkpoint ladder: rungs before the end of the study's 40 training steps
        ({"replicates": {"flow_steps": [40]}}, "the ladder's top rung already"),
        ({"replicates": {"flow_steps": [10, 50]}}, "step 50 is not before the end of training"),
        ({"replicates": {"flow_steps": [0]}}, "replicates.flow_steps"),
        ({"replicates": {"flow_steps": [10, 10]}}, "replicates.flow_steps"),
        (
            {"replicates": {"flow_steps": [10]}, "flow": {"model": "empirical"}},
            "no training seed or step",
        ),
    ],
    ids=[
        "study seed",
        "repeated seed",
        "too many samples",
        "empirical flow",
        "rung at the last step",
        "rung beyond the run",
        "rung at step 0",
        "repeated rung",
        "rungs of the empirical flow",
    ],
)
def test_bad_replicates_are_refused_naming_the_key(change, key):
    cfg = copy.deepcopy(TINY)
    for section, values in change.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    if cfg["flow"].get("model") == "empirical":
        cfg["sampling"]["t_end"] = 0.999
    with pytest.raises(ConfigError, match=key):
        validate_config(cfg)


def test_replication_is_off_by_default_and_all_samples_when_on():
    cfg = validate_config(copy.deepcopy(TINY))
    assert cfg["replicates"] == {"flow_seeds": [], "flow_steps": [], "n_samples": None}
    on = copy.deepcopy(TINY) | {"replicates": {"flow_seeds": [1, 2]}}
    assert validate_config(on)["replicates"]["n_samples"] == TINY["sampling"]["n_samples"]


def test_the_shipped_replicates_study_is_the_default_study_with_four_more_seeds():
    from conftest import ROOT

    from enfopath.study.config import load_config

    default = load_config(ROOT / "config.yaml")
    cfg = load_config(ROOT / "config.yaml", ROOT / "configs/digits_replicates.yaml")
    assert len(cfg["replicates"]["flow_seeds"]) >= 4 and default["seed"] not in cfg["replicates"]
    for key in ("seed", "data", "flow", "sampling", "density", "semantics"):
        assert cfg[key] == default[key], key


@pytest.mark.workflow
def test_replicate_flows_run_the_studys_noise_and_their_spread_is_reported(study, tmp_path):
    """Two more flows (seeds 1, 2) on the finished tiny study: only the new jobs run; the study's
    own rows equal its correlations table; every replicate starts from the study's noise but is
    another network; the spread table and the figure are made."""
    work = copy_of(study, tmp_path)
    extra = write_config(work / "replicates.yaml", {"replicates": {"flow_seeds": [1, 2]}})
    files = [str(work / "config.yaml"), str(extra)]
    dry = snakemake(work, "-n", "--cores", "1", "--configfile", *files)
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout)
    assert counts == {
        "replicate_flow": 2,
        "replicate_samples": 2,
        "replicates": 1,
        "figure": 1,
        "page_one": 1,  # the study draws one more figure, linked from the first page
        "report_tables": 1,  # and has two more tables
        "figure_pages": 1,
        "inventory": 1,
        "all": 1,
        "total": 11,
    }
    run = snakemake(work, "--cores", "2", "--configfile", *files)
    assert run.returncode == 0, run.stderr[-5000:]
    assert assert_declared_keys_read(work) > 10
    out = work / OUT
    per_flow = pd.read_csv(out / "statistics/replicates.csv")
    assert sorted(set(per_flow.flow_seed)) == [1, 2, 3]
    own = per_flow[per_flow.study].drop(columns=["flow_seed", "study"]).reset_index(drop=True)
    assert set(per_flow[per_flow.study].flow_seed) == {TINY["seed"]}
    pd.testing.assert_frame_equal(own, pd.read_csv(out / "statistics/correlations.csv"))
    table = pd.read_parquet(out / "samples.parquet")
    for seed in (1, 2):
        rep = pd.read_parquet(out / f"replicates/seed_{seed}/samples.parquet")
        assert list(rep["sample"]) == list(table["sample"])
        np.testing.assert_array_equal(rep.x0_norm_sq, table.x0_norm_sq)  # the same noise
        assert not np.allclose(rep.kpe, table.kpe)  # another network
        assert set(table.columns) <= set(rep.columns)
    spread = pd.read_csv(out / "statistics/replicates_spread.csv")
    assert (spread.n_flows == 3).all() and len(spread) == len(own)
    kpe_margin = per_flow[(per_flow.energy == "kpe") & (per_flow.measure == "clf_margin")]
    row = spread[(spread.energy == "kpe") & (spread.measure == "clf_margin")].iloc[0]
    assert row.rho_sd == pytest.approx(kpe_margin.spearman_rho.std(ddof=1))
    assert (out / "figures/replicates.png").stat().st_size > 0
