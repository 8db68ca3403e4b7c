"""Benchmark: the default study end to end, the cost of one job, and the cost of carrying the
energy in the ODE state.

Prints (1) the per-job overhead of a trivial job: a shell job (Snakemake's own floor) and a
script job that does what every workflow script does before its work (``_common.setup``),
measured side by side in one run as the slope of wall time over the number of jobs; (2) the
wall time of the default study (config.yaml) from an empty results folder, run by Snakemake in
a scratch working directory with all cores, against the 90-second target; and (3) sampling
time with and without the energy in the state, measured side by side (interleaved repeats,
the fastest of each) with the study's trained flow model, as a ratio against the 5 % target,
and beside them the same energy run that hands the velocity a view of the solver state instead
of a copy (the unsafe way before: a velocity that edits its input corrupted the state), so that
the copy's own cost is printed as a ratio too. (4) The small-model floor: the batched library
(``sample_with_energy`` on the whole batch, with τ and the 11-point speed profile) against a
per-sample KPE loop as the authors' code runs it (one sample at a time, the energy a left-Riemann
sum of the predictor velocity), Euler and Heun on 100 uniform steps, one thread, side by side
in one run, as a ratio against the 20× floor, beside a bare batched loop (x alone: the floor
of any batched sampler of this model).

Snakemake runs with ``tests/no_slurm`` first on PATH: on a machine with SLURM's client but no
controller, the SLURM plugin's start-up probe would otherwise add ~9 s to each invocation.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import yaml
from torchdiffeq import odeint

from enfopath.energy import (
    FIXED_SOLVERS,
    _Augmented,
    _integrate_dopri5,
    _integrate_fixed,
    _rk_step,
    sample_with_energy,
)
from enfopath.grids import time_grid
from enfopath.models.checkpoint import load_checkpoint
from enfopath.seeding import initial_noise
from enfopath.study.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
ENV = {**os.environ, "PATH": os.pathsep.join([str(ROOT / "tests/no_slurm"), os.environ["PATH"]])}
TRIVIAL = """
rule shell_jobs:
    input: expand("shell/{{i}}.txt", i=range({n}))
rule script_jobs:
    input: expand("script/{{i}}.txt", i=range({n}))
rule stack_jobs:
    input: expand("stack/{{i}}.txt", i=range({n}))
rule shell_job:
    output: "shell/{{i}}.txt"
    log: "logs/shell/{{i}}.log"
    shell: "touch {{output}}"
rule script_job:
    output: "script/{{i}}.txt"
    log: "logs/script/{{i}}.log"
    script: "trivial.py"
rule stack_job:
    output: "stack/{{i}}.txt"
    log: "logs/stack/{{i}}.log"
    script: "stack.py"
"""
TRIVIAL_SCRIPT = f"""
import sys
sys.path.append({str(ROOT / "workflow_scripts")!r})
from _common import setup
setup(snakemake)
open(snakemake.output[0], "w").close()
"""
STACK_SCRIPT = TRIVIAL_SCRIPT.replace(
    "from _common", "import torch, pandas, scipy.stats, enfopath.energy  # noqa\nfrom _common"
)
"""A trivial job that loads the study stack first, as every job did before the light core."""
KINDS = {"shell": None, "script": TRIVIAL_SCRIPT, "stack": STACK_SCRIPT}


def run_study(workdir: Path, cores: str) -> float:
    shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
    cmd = [SNAKEMAKE, "--snakefile", ROOT / "Snakefile", "--directory", workdir]
    start = time.perf_counter()
    subprocess.run([*cmd, "--cores", cores, "--quiet"], check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def job_overhead(few: int = 2, many: int = 12) -> dict[str, float]:
    """Seconds per trivial job (one core, jobs in sequence) of each of :data:`KINDS`: the slope
    of wall time from ``few`` to ``many`` jobs, so Snakemake's own start-up cancels out."""
    wall: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (few, many):
            for kind in KINDS:
                workdir = Path(tmp) / f"{kind}{n}"
                workdir.mkdir()
                (workdir / "Snakefile").write_text(TRIVIAL.format(n=n))
                (workdir / "trivial.py").write_text(TRIVIAL_SCRIPT)
                (workdir / "stack.py").write_text(STACK_SCRIPT)
                start = time.perf_counter()
                subprocess.run(
                    [SNAKEMAKE, f"{kind}_jobs", "--cores", "1", "--quiet"],
                    cwd=workdir,
                    check=True,
                    capture_output=True,
                    env=ENV,
                )
                wall[kind, n] = time.perf_counter() - start
    return {kind: (wall[kind, many] - wall[kind, few]) / (many - few) for kind in KINDS}


def plain_fixed(model: torch.nn.Module, x0: torch.Tensor, steps: int, solver: str) -> None:
    tab = FIXED_SOLVERS[solver]
    nodes = time_grid(steps).tolist()
    flat = x0.reshape(len(x0), -1)

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return model(t, y.reshape(x0.shape)).reshape(len(y), -1)

    y = flat
    for t0, t1 in itertools.pairwise(nodes):
        k1 = f(y.new_tensor(t0), y)
        y = _rk_step(f, t0, t1 - t0, y, tab, k1)  # type: ignore[arg-type]


class _ViewAugmented(_Augmented):
    """The augmented field as it was before the copy: the velocity sees a view of the state."""

    def user_input(self, state: torch.Tensor) -> torch.Tensor:
        return state[:, : self.dim].reshape(self.shape)


def augmented_fixed(
    model: torch.nn.Module, x0: torch.Tensor, steps: int, solver: str, field=_Augmented
) -> None:
    f = field(model, x0)
    y0 = torch.cat([x0.reshape(len(x0), -1), x0.new_zeros(len(x0), 2)], dim=1)
    _integrate_fixed(f, y0, time_grid(steps).tolist(), FIXED_SOLVERS[solver], [0.6])


def plain_dopri5(model: torch.nn.Module, x0: torch.Tensor, rtol: float, atol: float) -> None:
    """x alone, under the same per-sample error norm as the augmented run (same steps)."""

    def per_sample(err: torch.Tensor) -> torch.Tensor:
        return err.flatten(1).pow(2).mean(1).sqrt().max()

    t = x0.new_tensor([0.0, 0.6, 1.0])
    odeint(model, x0, t, rtol=rtol, atol=atol, method="dopri5", options={"norm": per_sample})


def augmented_dopri5(
    model: torch.nn.Module, x0: torch.Tensor, rtol: float, atol: float, field=_Augmented
) -> None:
    f = field(model, x0)
    y0 = torch.cat([x0.reshape(len(x0), -1), x0.new_zeros(len(x0), 2)], dim=1)
    _integrate_dopri5(f, y0, [0.6], rtol, atol)


def per_sample_loop(model: torch.nn.Module, x0: torch.Tensor, steps: int, solver: str) -> None:
    """The KPE of each sample alone, as the authors' code computes it: batch 1, a uniform grid,
    E = Σ_i ½‖v(x_i, t_i)‖² Δt (the predictor's velocity), Euler or Heun."""
    h = 1.0 / steps
    for s in range(len(x0)):
        x, energy = x0[s : s + 1], 0.0
        for i in range(steps):
            t = x.new_tensor(i * h)
            v = model(t, x)
            energy += 0.5 * float(v.pow(2).sum()) * h
            step = 0.5 * (v + model(t + h, x + h * v)) if solver == "heun" else v
            x = x + h * step


def batched_library(model: torch.nn.Module, x0: torch.Tensor, steps: int, solver: str) -> None:
    """:func:`enfopath.energy.sample_with_energy` on the batch: x, E, L in the state, E(τ), the
    speed and energy profiles at 11 times, the left-Riemann energy, non-finite checks."""
    sample_with_energy(model, x0, solver=solver, steps=steps, tau=0.6, profile_points=11)


def side_by_side(*fns: Callable[[], None], repeats: int) -> tuple[float, ...]:
    """The fastest of ``repeats`` interleaved runs of each of ``fns`` (after one warm-up)."""
    times: list[list[float]] = [[] for _ in fns]
    with torch.no_grad():
        for fn in fns:  # warm-up
            fn()
        for _ in range(repeats):
            for fn, out in zip(fns, times, strict=True):
                start = time.perf_counter()
                fn()
                out.append(time.perf_counter() - start)
    return tuple(min(t) for t in times)  # the least-disturbed run of each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cores", default="all")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--checkpoint", type=Path, help="skip the study; time this flow model")
    args = parser.parse_args()
    cfg = load_config(ROOT / "config.yaml")
    if not args.checkpoint:
        per_job = job_overhead()
        print(
            f"per-job overhead, one core: a shell job {per_job['shell']:.2f} s; a script job "
            f"with the workflow's set-up {per_job['script']:.2f} s, with the study stack loaded "
            f"first (torch, pandas, scipy) {per_job['stack']:.2f} s "
            f"(ratio {per_job['script'] / per_job['stack']:.2f})"
        )
    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            wall = run_study(workdir, args.cores)
            print(
                f"default study from empty results/: {wall:.1f} s "
                f"(target < 90 s: ratio {wall / 90:.2f})"
            )
            model, _ = load_checkpoint(workdir / "results" / cfg["experiment"] / "models/flow.pt")
    torch.set_num_threads(1)
    sc = cfg["sampling"]
    x0 = initial_noise(cfg["seed"], range(sc["batch_size"]), tuple(model.shape))
    cases = {
        f"dopri5 rtol={sc['rtol']}": (
            lambda: plain_dopri5(model, x0, sc["rtol"], sc["atol"]),
            lambda: augmented_dopri5(model, x0, sc["rtol"], sc["atol"]),
            lambda: augmented_dopri5(model, x0, sc["rtol"], sc["atol"], _ViewAugmented),
        ),
        f"euler {sc['steps']} steps": (
            lambda: plain_fixed(model, x0, sc["steps"], "euler"),
            lambda: augmented_fixed(model, x0, sc["steps"], "euler"),
            lambda: augmented_fixed(model, x0, sc["steps"], "euler", _ViewAugmented),
        ),
        f"rk4 {sc['steps']} steps": (
            lambda: plain_fixed(model, x0, sc["steps"], "rk4"),
            lambda: augmented_fixed(model, x0, sc["steps"], "rk4"),
            lambda: augmented_fixed(model, x0, sc["steps"], "rk4", _ViewAugmented),
        ),
    }
    print(
        f"energy in the ODE state, batch {sc['batch_size']}, best of {args.repeats} "
        "(target overhead < 5 %); the copy of x for the velocity against a view of the state:"
    )
    for name, (plain, augmented, view) in cases.items():
        tp, ta, tv = side_by_side(plain, augmented, view, repeats=args.repeats)
        print(
            f"  {name:24s} plain {tp * 1e3:8.1f} ms  with energy {ta * 1e3:8.1f} ms  "
            f"ratio {ta / tp:.3f} (overhead {100 * (ta / tp - 1):+.1f} %); the copy: "
            f"{ta * 1e3:.1f} ms against {tv * 1e3:.1f} ms with a view, ratio {ta / tv:.3f}"
        )
    n_floor = 256
    x_floor = initial_noise(cfg["seed"], range(n_floor), tuple(model.shape))
    print(
        f"the batched library against a per-sample KPE loop, {n_floor} samples, one thread, "
        "best of 2 (target: at least 20x faster):"
    )
    for solver in ("euler", "heun"):
        loop, library, bare = side_by_side(
            lambda s=solver: per_sample_loop(model, x_floor, 100, s),
            lambda s=solver: batched_library(model, x_floor, 100, s),
            lambda s=solver: plain_fixed(model, x_floor, 100, s),
            repeats=2,
        )
        print(
            f"  {solver} 100 steps: per-sample loop {loop:.3f} s, library {library:.3f} s, "
            f"{loop / library:.1f}x faster; a bare batched loop (x alone, no energy, no "
            f"profile, no checks) {bare:.3f} s, {loop / bare:.1f}x: the library at "
            f"{library / bare:.3f} of it"
        )
    print(yaml.safe_dump({"torch_threads": torch.get_num_threads()}).strip())


if __name__ == "__main__":
    main()
