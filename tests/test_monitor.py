"""KPE as a training monitor (enfopath.monitor, FlowMonitor): analytic values, non-finite
samples, the study's noise and batches, and a training run the monitor leaves untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from enfopath.analytic import gaussian_energy, gaussian_velocity
from enfopath.energy import sample_with_energy
from enfopath.models.networks import build_model, flow_spec
from enfopath.models.training import FlowMonitor, FlowTraining, evaluation_steps, train_flow
from enfopath.monitor import QUANTILES, kpe_monitor, monitor_noise
from enfopath.seeding import initial_noise

MU = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)


def test_the_summary_of_a_closed_form_flow_is_its_exact_energy():
    x0 = monitor_noise(0, 200, (3,)).double()
    s = kpe_monitor(gaussian_velocity(MU, s=0.5), x0, solver="dopri5", rtol=1e-9, atol=1e-9)
    exact = gaussian_energy(x0, MU, 0.5).numpy()
    assert s.n == 200 and s.nonfinite == 0
    assert s.kpe_mean == pytest.approx(exact.mean(), rel=1e-7)
    np.testing.assert_allclose(s.kpe_quantiles, np.quantile(exact, QUANTILES), rtol=1e-7)
    # the exact endpoint of the Gaussian flow: x1 = μ + s x0, so the chord energy is known too
    chord = 0.5 * ((MU + 0.5 * x0) - x0).pow(2).sum(1).numpy()
    assert s.chord_energy_mean == pytest.approx(chord.mean(), rel=1e-7)
    assert s.excess_energy_mean == pytest.approx(exact.mean() - chord.mean(), rel=1e-5)
    row = s.row()
    assert [k for k in row if k.startswith("kpe_q")] == [
        "kpe_q05",
        "kpe_q25",
        "kpe_q50",
        "kpe_q75",
        "kpe_q95",
    ]
    assert row["kpe_q50"] == s.kpe_quantiles[2] and row["nfe"] == s.nfe


def test_batches_give_the_per_batch_nfe_and_the_same_fixed_grid_energies():
    x0 = monitor_noise(1, 50, (3,))
    v = gaussian_velocity(MU.float(), s=0.5)
    whole = kpe_monitor(v, x0, solver="rk4", steps=8)
    split = kpe_monitor(v, x0, solver="rk4", steps=8, batch_size=7)
    assert whole.nfe == split.nfe == 32
    assert split.kpe_mean == pytest.approx(whole.kpe_mean, rel=1e-6)
    adaptive = kpe_monitor(v, x0, solver="dopri5", batch_size=20)
    per_batch = [sample_with_energy(v, x0[i : i + 20]).nfe for i in (0, 20, 40)]
    assert adaptive.nfe == pytest.approx(
        (20 * per_batch[0] + 20 * per_batch[1] + 10 * per_batch[2]) / 50
    )


def test_non_finite_samples_are_counted_and_left_out():
    def velocity(t, x):
        v = torch.ones_like(x)
        v[0] = float("nan")
        return v

    s = kpe_monitor(velocity, torch.zeros(4, 2), solver="euler", steps=4)
    assert s.n == 4 and s.nonfinite == 1
    assert s.kpe_mean == pytest.approx(1.0)  # ½‖(1, 1)‖² over unit time
    assert s.excess_energy_mean == pytest.approx(0.0, abs=1e-6)
    none_left = kpe_monitor(lambda t, x: x * float("nan"), torch.ones(2, 2), steps=2)
    assert none_left.nonfinite == 2 and np.isnan(none_left.kpe_mean)


def test_the_noise_is_the_studys_and_bad_sizes_are_refused():
    assert torch.equal(monitor_noise(7, 5, (1, 8, 8)), initial_noise(7, range(5), (1, 8, 8)))
    with pytest.raises(ValueError, match="at least one sample"):
        monitor_noise(7, 0, (3,))
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        kpe_monitor(gaussian_velocity(MU, s=0.5), monitor_noise(0, 3, (3,)), batch_size=0)


def test_evaluation_steps():
    assert evaluation_steps(1000, 300) == [0, 300, 600, 900, 1000]
    assert evaluation_steps(40, 200) == [0, 40]
    assert evaluation_steps(4, 2) == [0, 2, 4]
    assert evaluation_steps(1000, 300, also=[250, 600]) == [0, 250, 300, 600, 900, 1000]
    with pytest.raises(ValueError, match="must lie in 0 … 1000"):
        evaluation_steps(1000, 300, also=[1001])
    with pytest.raises(ValueError, match="at least 1"):
        evaluation_steps(10, 0)


def test_the_monitor_leaves_training_bit_identical_and_logs_each_evaluation():
    x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    arch = {"shape": [6], "hidden": 16, "depth": 1, "time_features": 4}
    cfg = FlowTraining("exact_ot", steps=30, batch_size=32, lr=1e-2, ema_decay=0.9, seed=5)
    monitor_cfg = {"n_samples": 24, "solver": "heun", "steps": 4}
    spec = flow_spec("velocity_mlp", arch)
    monitor = FlowMonitor.from_config(monitor_cfg, spec, 11, x[:50], torch.device("cpu"))

    def run(evaluate):
        model = build_model("velocity_mlp", arch, seed=1)
        at = evaluation_steps(cfg.steps, 10)
        return train_flow(model, x, cfg, torch.device("cpu"), evaluate=evaluate, evaluate_at=at)

    plain, _, plain_losses = run(None)
    ema, _, losses = run(monitor)
    for a, b in zip(plain.state_dict().values(), ema.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert losses.equals(plain_losses)
    table = monitor.table()
    assert list(table.step) == [0, 10, 20, 30]
    assert (table.solver == "heun").all() and (table.solver_steps == 4).all()
    assert (table.nfe == 8).all() and (table.n == 24).all()
    # the last evaluation is the returned EMA flow's, on the study's noise of seed 11
    last = monitor.summary(ema).row()
    assert {k: table.iloc[-1][k] for k in last} == last
    direct = kpe_monitor(spec.velocity(ema), initial_noise(11, range(24), (6,)), steps=4)
    assert direct.kpe_mean == table.kpe_mean.iloc[-1]
    assert table.kpe_mean.iloc[0] != table.kpe_mean.iloc[-1]  # training moved the energy
