"""Training the embedded study's flow model (conditional flow matching) and classifier."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from enfopath.monitor import KpeSummary, kpe_monitor, monitor_noise
from enfopath.seeding import derived_seed
from enfopath.velocity import FlowSpec

log = logging.getLogger(__name__)

COUPLINGS = {
    "independent": "ConditionalFlowMatcher",
    "exact_ot": "ExactOptimalTransportConditionalFlowMatcher",
}
"""The couplings of flow-matching training: torchcfm's matcher class for each (imported when a
flow is trained, so the classifier's job does not load torchcfm)."""


@dataclass(frozen=True)
class FlowTraining:
    """Hyper-parameters of flow-matching training (see the config schema for units)."""

    coupling: str
    steps: int
    batch_size: int
    lr: float
    ema_decay: float
    seed: int

    @classmethod
    def from_config(cls, flow: dict[str, Any], seed: int) -> FlowTraining:
        """Take the fields from a validated config's ``flow`` section and the master seed."""
        return cls(seed=seed, **{f.name: flow[f.name] for f in fields(cls) if f.name != "seed"})


def _seed_everything(seed: int) -> None:
    # torchcfm draws t with torch's global generator and OT pairs with numpy's.
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (torchcfm's OT sampler uses the global RNG)


def ema_decay(decay: float, n: int) -> float:
    """The EMA decay at the n-th average (n ≥ 1 earlier updates): min(decay, (1 + n) / (10 + n)).

    The warm-up keeps the first steps' (untrained) weights from lingering: with a fixed 0.999
    over 2,000 steps, 13.5 % of the average would still sit on the first step's parameters.
    """
    return min(decay, (1.0 + n) / (10.0 + n))


def _ema(model: nn.Module, decay: float) -> AveragedModel:
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor) -> None:
        torch._foreach_lerp_(averaged, current, 1.0 - ema_decay(decay, int(n)))

    return AveragedModel(model, multi_avg_fn=update)


Evaluation = Callable[[int, nn.Module], None]
"""``evaluate(step, ema_model)``: called during training with the EMA weights in eval mode."""


def evaluation_steps(steps: int, every: int, also: Iterable[int] = ()) -> list[int]:
    """The steps at which training is evaluated: 0 (the initial weights), each multiple of
    ``every``, the last step, and the steps ``also`` (a ladder's rungs), each at most
    ``steps``."""
    if every < 1:
        raise ValueError(f"evaluations every {every} steps: expected at least 1")
    extra = set(also)
    if any(not 0 <= s <= steps for s in extra):
        raise ValueError(f"evaluation steps {sorted(extra)} must lie in 0 … {steps}")
    return sorted({0, *range(every, steps + 1, every), steps, *extra})


def _evaluate(evaluate: Evaluation, step: int, ema: AveragedModel) -> None:
    module = ema.module
    was_training = module.training
    module.eval()
    evaluate(step, module)
    module.train(was_training)


def train_flow(
    model: nn.Module,
    x_train: torch.Tensor,
    cfg: FlowTraining,
    device: torch.device,
    evaluate: Evaluation | None = None,
    evaluate_at: Collection[int] = (),
) -> tuple[nn.Module, nn.Module, pd.DataFrame]:
    """Train ``model(t, x)`` by flow matching on x_train (N, ...).

    Noise x0 ~ N(0, I) is paired with data x1 (independently, or by exact OT within a batch);
    the regression target is u = x1 − x0 at x_t = (1 − t) x0 + t x1 (torchcfm with σ = 0).
    Returns the EMA model (warm-up decay, :func:`ema_decay`), the raw final model (both in eval
    mode) and the loss log. ``evaluate``, when given, is called with the EMA weights at each
    step of ``evaluate_at`` (0: before the first update; step k: after the k-th; e.g.
    :func:`evaluation_steps`); it must not draw from the global generators, which training
    uses.
    """
    if cfg.coupling not in COUPLINGS:
        raise ValueError(f"unknown coupling {cfg.coupling!r}; expected one of {sorted(COUPLINGS)}")
    _seed_everything(derived_seed(cfg.seed, "train_flow"))
    from torchcfm import conditional_flow_matching

    matcher = getattr(conditional_flow_matching, COUPLINGS[cfg.coupling])(sigma=0.0)
    model = model.to(device).train()
    ema = _ema(model, cfg.ema_decay)
    # foreach: one kernel per step for all parameters (on the CPU too: the same bits, tested)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, foreach=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps)
    data = x_train.to(device)
    rows = []
    evaluated = set(evaluate_at) if evaluate is not None else set()
    if 0 in evaluated:
        _evaluate(evaluate, 0, ema)  # type: ignore[arg-type]
    for step in range(1, cfg.steps + 1):
        x1 = data[torch.randint(len(data), (cfg.batch_size,), device=device)]
        x0 = torch.randn_like(x1)
        t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
        loss = (model(t, xt) - ut).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        ema.update_parameters(model)
        rows.append((step, loss.item()))
        if step % max(1, cfg.steps // 10) == 0:
            log.info("flow step %d/%d loss %.4f", step, cfg.steps, rows[-1][1])
        if step in evaluated:
            _evaluate(evaluate, step, ema)  # type: ignore[arg-type]
    return ema.module.eval(), model.eval(), pd.DataFrame(rows, columns=["step", "loss"])


@torch.no_grad()
def heldout_loss(
    model: nn.Module,
    x: torch.Tensor,
    seed: int,
    repeats: int = 8,
    device: torch.device | str = "cpu",
) -> float:
    """The independent-coupling flow-matching loss (I-CFM, σ = 0) of ``model(t, x)`` on data x
    (N, ...): the mean over ``repeats`` passes of ‖v(x_t, t) − (x1 − x0)‖² per coordinate, with
    x0 and t drawn from ``seed``, so two models compared with one seed see the same draws."""
    g = torch.Generator().manual_seed(seed)
    x = x.float()
    total = 0.0
    for _ in range(repeats):
        x0 = torch.randn(x.shape, generator=g)
        t = torch.rand(len(x), generator=g)
        tb = t.view(-1, *([1] * (x.dim() - 1)))
        xt = (1 - tb) * x0 + tb * x
        v = model(t.to(device), xt.to(device)).float().cpu()
        total += float((v - (x - x0)).pow(2).mean())
    return total / repeats


@dataclass
class FlowMonitor:
    """The training monitor of a flow: at each evaluation (an :data:`Evaluation`), the KPE of
    the study's fixed noise under the EMA weights (:func:`enfopath.monitor.kpe_monitor`) and
    their held-out loss (:func:`heldout_loss`, the study's draws), one row per step."""

    spec: FlowSpec
    """How the network is called as ``velocity(t, x)`` (the study's route)."""
    x0: torch.Tensor
    """The fixed noise batch (:func:`enfopath.monitor.monitor_noise`), on the device."""
    x_heldout: torch.Tensor
    heldout_seed: int
    solver: str
    steps: int
    device: torch.device
    rows: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def from_config(
        cls,
        monitor: dict[str, Any],
        spec: FlowSpec,
        seed: int,
        x_heldout: torch.Tensor,
        device: torch.device,
    ) -> FlowMonitor:
        """The monitor of a validated config's ``flow.monitor`` section, on the noise of the
        study's ``seed`` (its held-out loss draws from the same seed as the study's)."""
        return cls(
            spec=spec,
            x0=monitor_noise(seed, monitor["n_samples"], spec.shape, device),
            x_heldout=x_heldout,
            heldout_seed=derived_seed(seed, "heldout_loss"),
            solver=monitor["solver"],
            steps=monitor["steps"],
            device=device,
        )

    def summary(self, model: nn.Module) -> KpeSummary:
        """The KPE summary of the fixed noise under ``model`` (no random draw)."""
        return kpe_monitor(self.spec.velocity(model), self.x0, solver=self.solver, steps=self.steps)

    def __call__(self, step: int, model: nn.Module) -> None:
        summary = self.summary(model)
        loss = heldout_loss(model, self.x_heldout, self.heldout_seed, device=self.device)
        self.rows.append({"step": step, **summary.row(), "heldout_loss": loss})
        log.info(
            "step %d: KPE %.4g (excess %.4g) on %d samples, held-out loss %.4f",
            step,
            summary.kpe_mean,
            summary.excess_energy_mean,
            summary.n,
            loss,
        )

    def table(self) -> pd.DataFrame:
        """One row per evaluation: ``step``, the :meth:`KpeSummary.row` columns, the solver
        and its steps, and ``heldout_loss``."""
        out = pd.DataFrame(self.rows)
        out.insert(1, "solver", self.solver)
        out.insert(2, "solver_steps", self.steps)
        return out


def train_classifier(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: torch.device,
) -> tuple[nn.Module, pd.DataFrame]:
    """Train a classifier by cross-entropy with Adam; return it (eval mode) and the epoch log."""
    _seed_everything(derived_seed(seed, "train_classifier"))
    g = torch.Generator().manual_seed(derived_seed(seed, "classifier_batches"))
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    rows = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x_train), generator=g)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        rows.append((epoch, total / len(order)))
    return model.eval(), pd.DataFrame(rows, columns=["epoch", "loss"])


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    """Fraction of correctly classified samples."""
    pred = model(x.to(device)).argmax(dim=1).cpu()
    return float((pred == y).float().mean())


def check_accuracy(test_accuracy: float, minimum: float) -> None:
    """Refuse a trained classifier whose held-out accuracy is below ``minimum``
    (``classifier.min_test_accuracy``): the semantic scores of a poor classifier would not be
    trustworthy, and a study must not go on with them."""
    if not test_accuracy >= minimum:
        raise RuntimeError(
            f"classifier test accuracy {test_accuracy:.4f} is below classifier.min_test_accuracy"
            f" = {minimum}: the semantic scores would not be trustworthy"
        )
