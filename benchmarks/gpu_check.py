"""GPU check: the CUDA code paths of the library, and a CIFAR-size sampling run in bf16.

Run on a machine with CUDA (it refuses to run without). It prints, for the card it names:
(1) the state-integrated KPE on CUDA against the closed-form Gaussian energy (dopri5 in float64,
RK4 in float32) at CIFAR size (D = 3,072); (2) one trajectory shard of the study's own
velocity MLP generated on CUDA and on the CPU from the same seeds (per-sample KPE agreement);
(3) a shard of CIFAR-size samples from torchcfm's CIFAR-10 UNet (the architecture of
``configs/cifar10.yaml``, random seeded weights, its zero-initialized layers drawn from
N(0, 0.02²) so that v ≠ 0) in fp32 and bf16 autocast: time, NFE, peak GPU
memory and the per-sample KPE difference. ``benchmarks/bench_models.py`` times the paper-scale
networks with and without the energy in the state.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from enfopath import sample_with_energy
from enfopath.analytic import gaussian_energy, gaussian_velocity
from enfopath.models.flows import Flow
from enfopath.models.networks import VelocityMLP, build_model
from enfopath.study.config import load_config
from enfopath.study.shards import SamplingConfig, generate_shard
from enfopath.velocity import FlowSpec

ROOT = Path(__file__).resolve().parents[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")


def closed_form(device: torch.device) -> None:
    """State-integrated KPE against the exact Gaussian energy, on the GPU."""
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 32, 32, generator=g, dtype=torch.float64) * 0.5
    x0 = torch.randn(256, 3, 32, 32, generator=g, dtype=torch.float64)
    exact = gaussian_energy(x0, mu, 0.5)
    for solver, dtype, kw in (
        ("dopri5", torch.float64, {"rtol": 1e-8, "atol": 1e-8}),
        ("rk4", torch.float32, {"steps": 100}),
    ):
        v = gaussian_velocity(mu.to(device, dtype), 0.5)
        start = time.perf_counter()
        res = sample_with_energy(v, x0.to(device, dtype), solver=solver, **kw)
        _sync(device)
        err = ((res.kpe.double().cpu() - exact).abs() / exact).max().item()
        print(
            f"  closed form, {solver} {str(dtype)[6:]}: max relative KPE error {err:.2e}, "
            f"NFE {res.nfe}, {time.perf_counter() - start:.2f} s"
        )


def cuda_vs_cpu(device: torch.device) -> None:
    """The study's velocity MLP: one shard on CUDA and on the CPU from the same seeds."""
    torch.manual_seed(0)
    net = VelocityMLP([1, 8, 8], hidden=256, depth=3, time_features=64).eval()
    cfg = SamplingConfig("dopri5", 100, "uniform", 1e-5, 1e-5, 0.6, 11, 512)
    out = {}
    for dev in (torch.device("cpu"), device):
        flow = Flow(net.to(dev), FlowSpec((1, 8, 8)))
        out[dev.type] = generate_shard(flow, 0, range(0, 1024), cfg, dev)
    a, b = out["cpu"]["kpe"], out[device.type]["kpe"]
    rel = abs(a - b).max() / abs(a).max()
    print(
        f"  velocity MLP, 1,024 samples, dopri5 1e-5: max |KPE cpu − {device.type}| / max KPE "
        f"{rel:.1e}, NFE cpu {out['cpu']['nfe'][0]} {device.type} {out[device.type]['nfe'][0]}"
    )


def cifar_bf16(device: torch.device, n: int, steps: int) -> None:
    """CIFAR-size sampling with torchcfm's UNet in fp32 and bf16 autocast."""
    arch = load_config(ROOT / "configs" / "cifar10.yaml")["flow"]["pretrained"]["arch"]
    net = build_model("torchcfm_unet", arch, seed=0).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # torchcfm zero-initializes its output layers: v would be 0
        for p in net.parameters():
            if not p.any():
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
    net = net.to(device)
    results = {}
    for precision in ("fp32", "bf16"):
        flow = Flow.from_checkpoint(net, "torchcfm_unet", arch, precision=precision)
        for solver, kw in (("euler", {"steps": steps}), ("dopri5", {})):
            cfg = SamplingConfig(
                solver, kw.get("steps", 100), "uniform", 1e-5, 1e-5, 0.6, 11, min(n, 256)
            )
            generate_shard(flow, 0, range(0, cfg.batch_size), cfg, device)  # warm-up
            _sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            arrays = generate_shard(flow, 0, range(0, n), cfg, device)
            _sync(device)
            took = time.perf_counter() - start
            peak = _peak_gib(device)
            results[precision, solver] = arrays
            print(
                f"  CIFAR UNet {precision} {solver}{kw.get('steps', '')}: {n} samples in "
                f"{took:.2f} s ({n / took:.0f} samples/s), NFE {arrays['nfe'].mean():.0f}, "
                f"{peak:.1f} GiB peak, mean KPE {arrays['kpe'].mean():.2f}"
            )
    for solver in ("euler", "dopri5"):
        a, b = results["fp32", solver]["kpe"], results["bf16", solver]["kpe"]
        rel = abs(b - a) / a
        print(f"  bf16 vs fp32, {solver}: |ΔKPE| / KPE mean {rel.mean():.1e}, max {rel.max():.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--cpu", action="store_true", help="a smoke test of this script only")
    args = parser.parse_args()
    if not (args.cpu or torch.cuda.is_available()):
        raise SystemExit("gpu_check.py needs CUDA (or --cpu for a smoke test of the script)")
    device = torch.device("cpu" if args.cpu else "cuda")
    name = "CPU" if args.cpu else torch.cuda.get_device_name()
    print(f"device {name}, torch {torch.__version__}")
    closed_form(device)
    cuda_vs_cpu(device)
    cifar_bf16(device, args.samples, args.steps)


if __name__ == "__main__":
    main()
