"""Benchmark: what KPE as a training monitor costs the default study's flow training.

Trains the default study's flow (config.yaml: its architecture, coupling, steps and batch) on
one thread twice, interleaved, once plain and once with the monitor of ``flow.monitor``
(evaluations at step 0, every ``every`` steps and the last, each integrating ``n_samples``
noise samples and the held-out loss), and prints both wall times and their ratio, with the
cost of one evaluation beside the cost of one optimizer step. The two runs' weights are
compared too: the monitor draws no random number, so they must be the same bits.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from enfopath.models.networks import build_model, flow_spec
from enfopath.models.training import FlowMonitor, FlowTraining, evaluation_steps, train_flow
from enfopath.seeding import derived_seed
from enfopath.study.config import load_config
from enfopath.study.datasets import load_sklearn_digits

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(ROOT / "config.yaml")
    fc, seed = cfg["flow"], cfg["seed"]
    data = load_sklearn_digits(seed, cfg["data"]["test_fraction"])  # as prepare_data splits it
    x_train, x_test = torch.from_numpy(data.x_train), torch.from_numpy(data.x_test)
    arch = {
        "shape": list(x_train.shape[1:]),
        "hidden": fc["hidden"],
        "depth": fc["depth"],
        "time_features": fc["time_features"],
    }
    training = FlowTraining.from_config(fc, seed)
    device = torch.device("cpu")
    spec = flow_spec("velocity_mlp", arch)

    def run(monitored: bool) -> tuple[float, torch.nn.Module, FlowMonitor]:
        monitor = FlowMonitor.from_config(fc["monitor"], spec, seed, x_test, device)
        model = build_model("velocity_mlp", arch, derived_seed(seed, "init:flow"))
        start = time.perf_counter()
        ema, _, _ = train_flow(
            model,
            x_train,
            training,
            device,
            evaluate=monitor if monitored else None,
            evaluate_at=evaluation_steps(fc["steps"], fc["monitor"]["every"]),
        )
        return time.perf_counter() - start, ema, monitor

    plain, monitored = [], []
    for _ in range(args.repeats):
        t, ema_plain, _ = run(False)
        plain.append(t)
        t, ema_monitored, monitor = run(True)
        monitored.append(t)
    same = all(
        torch.equal(a, b)
        for a, b in zip(
            ema_plain.state_dict().values(), ema_monitored.state_dict().values(), strict=True
        )
    )
    n_eval = len(evaluation_steps(fc["steps"], fc["monitor"]["every"]))
    tp, tm = min(plain), min(monitored)
    m = fc["monitor"]
    print(
        f"flow training, {fc['steps']} steps of batch {fc['batch_size']} ({fc['coupling']}), one "
        f"thread, best of {args.repeats}: plain {tp:.2f} s, with the KPE monitor {tm:.2f} s, "
        f"ratio {tm / tp:.3f} ({n_eval} evaluations of {m['n_samples']} samples, {m['solver']} "
        f"{m['steps']} steps, and the held-out loss); one evaluation {(tm - tp) / n_eval:.3f} s "
        f"against one optimizer step {tp / fc['steps'] * 1e3:.1f} ms; weights identical: {same}"
    )
    last = monitor.rows[-1]
    print(f"last evaluation: step {last['step']}, mean KPE {last['kpe_mean']:.4g}")


if __name__ == "__main__":
    main()
