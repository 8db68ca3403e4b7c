"""The schedules stage: its settings, the energy grid a job builds from the calibration, the
comparison table, and on the tiny study the calibration, the reference shared with the
robustness stage, the NFE accounting and a study sampled on its own energy grid."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY, copy_of, snakemake, write_config

from enfopath.grids import energy_grid
from enfopath.io import read_npz
from enfopath.study.config import validate_config
from enfopath.study.energy_grid import Calibration, EnergyGrid
from enfopath.study.robustness import SolverSetting
from enfopath.study.schedules import schedule_settings
from enfopath.study.shards import SamplingConfig

OUT = f"results/{TINY['experiment']}"


def calibration() -> Calibration:
    t = np.linspace(0, 1, 21)
    return Calibration(
        t, {"speed": 1 + t, "energy_rate": 0.5 * (1 + t) ** 2, "acceleration": t**4}, 8
    )


def test_the_settings_spend_each_budget_as_whole_steps_and_energy_once_per_profile():
    settings = schedule_settings(["euler", "heun", "rk4"], [4, 6], ["uniform", "energy"])
    labels = [s.label for s in settings]
    assert labels[:4] == [
        "euler 4 uniform",
        "euler 4 energy (speed)",
        "euler 4 energy (energy_rate)",
        "euler 4 energy (acceleration)",
    ]
    assert "heun 3 uniform" in labels and "rk4 1 uniform" in labels
    assert not [label for label in labels if label.startswith("rk4") and " 6 " in label]
    assert len(labels) == len(set(labels)) == 4 * 2 + 4 * 2 + 4  # rk4: 4 NFE only


def sampling(**changes) -> SamplingConfig:
    cfg = validate_config(copy.deepcopy(TINY))["sampling"] | {"solver": "euler", "steps": 8}
    return SamplingConfig.from_config(
        cfg | changes, EnergyGrid(calibration(), "acceleration", 0.5, 0.0, 0.1)
    )


def test_a_job_builds_the_energy_grid_from_the_calibration_at_its_own_steps():
    grid = sampling(grid="energy").solver_kwargs()["grid"]
    c = calibration()
    want = energy_grid(
        torch.from_numpy(c.t), torch.from_numpy(c.profiles["acceleration"]), 8, 0.5, 0.0, 0.1
    )
    assert torch.equal(grid, want) and grid[4] > 0.5  # dense where t⁴ grows
    setting = SolverSetting("heun", 3, grid="energy", profile="speed")
    speed = setting.applied_to(sampling(grid="uniform")).solver_kwargs()["grid"]
    assert len(speed) == 4 and not torch.equal(speed, want[:4])
    assert sampling(grid="energy", solver="dopri5").solver_kwargs()["grid"] == "uniform"
    bare = SamplingConfig.from_config(
        validate_config(copy.deepcopy(TINY))["sampling"] | {"grid": "energy", "solver": "euler"}
    )
    with pytest.raises(ValueError, match=r"needs the study's calibration \(grids/calibration.npz"):
        bare.solver_kwargs()
    restored = Calibration.from_arrays(c.to_arrays())
    assert restored.n_samples == 8 and np.array_equal(
        restored.profiles["speed"], c.profiles["speed"]
    )


def test_the_energy_grid_is_refused_where_it_would_follow_another_flow(tiny_config):
    from enfopath.study.config import ConfigError

    tiny_config["sampling"] = {**tiny_config["sampling"], "grid": "energy"}
    tiny_config["replicates"] = {"flow_seeds": [4]}
    with pytest.raises(ConfigError, match=r"'sampling.grid'.*replicates.flow_seeds samples other"):
        validate_config(tiny_config)
    del tiny_config["replicates"]
    validate_config(tiny_config)


def test_the_comparison_gives_each_grids_error_against_uniform_and_the_reference_first():
    from enfopath.measures.density import build_index, reference_radii
    from enfopath.measures.prdc import RealSet
    from enfopath.measures.schedules import compare_schedules

    rng = np.random.default_rng(0)
    n = 40
    ref_x = rng.uniform(-1, 1, (n, 4))
    rows, pixels, grids = [], {}, {}
    for setting, grid, scale in (
        ("dopri5", "adaptive", 0.0),
        ("euler 4 uniform", "uniform", 0.2),
        ("euler 4 energy (speed)", "energy (speed)", 0.1),
    ):
        x = ref_x + scale * rng.standard_normal((n, 4))
        err = np.sqrt(((x - ref_x) ** 2).mean(1))
        kpe = 10 + scale * rng.standard_normal(n)
        rows.append(
            pd.DataFrame(
                {
                    "setting": setting,
                    "solver": setting.split()[0],
                    "steps": 4.0,
                    "reference": scale == 0,
                    "sample": np.arange(n),
                    "kpe": 10.0 if scale == 0 else kpe,
                    "nfe": 4,
                    "x1_rms_error": err,
                    "nonfinite": False,
                }
            )
        )
        pixels[setting], grids[setting] = x.astype(np.float32), grid
    rows[2].loc[3, "nonfinite"] = True
    runs = pd.concat(rows, ignore_index=True)
    real = rng.uniform(-1, 1, (200, 4)).astype(np.float32)
    index = build_index(real)
    reals = RealSet(real, index, reference_radii(index, real, [2])[0], 2)
    features = {s: {"pixels": x, "twice": 2 * x} for s, x in pixels.items()}
    references = {
        "pixels": reals,
        "twice": RealSet(2 * real, build_index(2 * real), 2 * reals.radii, 2),
    }
    table = compare_schedules(runs, grids, features, references, n_boot=50, seed=0, confidence=0.9)
    bare = compare_schedules(runs, grids, features, {}, n_boot=0, seed=0, confidence=0.9)
    assert not [c for c in bare if c.split("_")[0] in ("fd", "precision", "recall")]
    pd.testing.assert_series_equal(bare.x1_error_vs_uniform, table.x1_error_vs_uniform)
    assert list(table.setting) == ["dopri5", "euler 4 uniform", "euler 4 energy (speed)"]
    first, uniform, energy = (table.iloc[i] for i in range(3))
    assert first.x1_rms_error == 0 and np.isnan(first.x1_error_vs_uniform)
    assert uniform.x1_error_vs_uniform == 1.0 and energy.n == n - 1
    want = rows[2].x1_rms_error.drop(3).mean()
    assert energy.x1_rms_error == pytest.approx(want)
    assert energy.x1_error_vs_uniform == pytest.approx(want / uniform.x1_rms_error)
    assert energy.x1_rms_error_ci_low < want < energy.x1_rms_error_ci_high
    assert energy.kpe_rel_error == pytest.approx((rows[2].kpe.drop(3) - 10).abs().mean() / 10)
    from enfopath.measures.fidelity import Reference, frechet_distance

    kept = np.delete(pixels["euler 4 energy (speed)"], 3, axis=0)
    assert energy.fd_pixels == pytest.approx(frechet_distance(kept, Reference.of(real)))
    assert energy.fd_twice == pytest.approx(4 * energy.fd_pixels)  # FD scales as a square
    assert 0 <= energy.precision_pixels <= 1 and energy.precision_twice == energy.precision_pixels


def test_the_tiny_studys_schedules_share_the_robustness_reference_and_count_their_nfe(study):
    runs = pd.read_parquet(study / OUT / "schedules/runs.parquet")
    robust = pd.read_parquet(study / OUT / "robustness/runs.parquet")
    mine = runs[runs.reference].set_index("sample").loc[robust[robust.reference]["sample"]]
    theirs = robust[robust.reference].set_index("sample")
    for column in ("kpe", "nfe", "x1_rms_error"):  # the same batches: the same dopri5 steps
        np.testing.assert_array_equal(mine[column].to_numpy(), theirs[column].to_numpy())
    table = pd.read_csv(study / OUT / "statistics/schedules.csv")
    fixed = table[table.grid != "adaptive"]
    stages = fixed.solver.map({"euler": 1, "heun": 2})
    np.testing.assert_array_equal(fixed.nfe, fixed.steps * stages)  # the solver's own count
    assert set(fixed.nfe) == {4, 8, 16, 32} and (table.n == 96).all()
    assert set(fixed.grid) == {
        "uniform",
        "cosine",
        "energy (speed)",
        "energy (energy_rate)",
        "energy (acceleration)",
    }
    uniform = fixed[fixed.grid == "uniform"]
    assert (uniform.x1_error_vs_uniform == 1.0).all()
    # 32 NFE more accurate than 4 on every grid
    for _, g in fixed.groupby(["solver", "grid"]):
        g = g.set_index("nfe").x1_rms_error
        assert g[32] < g[4]
    c = read_npz(study / OUT / "grids/calibration.npz")
    assert int(c["n_samples"]) == 96 and len(c["t"]) == 101 and (c["acceleration"] > 0).all()


def test_a_study_sampled_on_its_energy_grid_is_the_library_on_the_calibrations_nodes(
    study, tmp_path
):
    from enfopath.energy import sample_with_energy
    from enfopath.models.flows import load_flow
    from enfopath.study.shards import batch_problem

    work = copy_of(study, tmp_path)
    change = write_config(
        work / "energy.yaml", {"sampling": {"grid": "energy", "solver": "euler", "steps": 8}}
    )
    shard = f"{OUT}/trajectories/shard_0.npz"
    plan = snakemake(work, shard, "--cores", "1", "-n", "--configfile", str(change))
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert (
        "grids/calibration.npz" in plan.stdout.split("rule generate_shard:")[1].split("output:")[0]
    )
    run = snakemake(work, shard, "--cores", "1", "--configfile", str(change))
    assert run.returncode == 0, run.stderr[-3000:]
    got = read_npz(work / shard)
    cfg = validate_config(
        copy.deepcopy(TINY)
        | {"sampling": {**TINY["sampling"], "grid": "energy", "solver": "euler", "steps": 8}}
    )
    grid = EnergyGrid.from_config(
        Calibration.from_arrays(read_npz(work / OUT / "grids/calibration.npz")),
        cfg["grid_calibration"],
    )
    flow, _ = load_flow(str(work / OUT / "models/flow.pt"), torch.device("cpu"))
    x0, velocity = batch_problem(flow, TINY["seed"], range(0, 16), torch.device("cpu"))
    want = sample_with_energy(
        velocity,
        x0,
        solver="euler",
        steps=8,
        grid=grid.nodes(8),
        tau=cfg["sampling"]["tau"],
        profile_points=cfg["sampling"]["profile_points"],
    )
    np.testing.assert_array_equal(got["x1"][:16], want.x1.numpy())
    np.testing.assert_array_equal(got["kpe"][:16], want.kpe.numpy())
    assert (got["nfe"] == 8).all()
