"""Benchmark: the cost of carrying the energy in the ODE state for the paper-scale networks.

For torchcfm's CIFAR-10 UNet (unconditional, pixels) and SiT-XL/2 with classifier-free
guidance (latent, two network calls per step), at full size with random weights, on the device
the workflow would pick (CUDA when present): Euler sampling with and without the energy in the
state, measured side by side (interleaved repeats, the fastest of each), printed as a ratio
against the 5 % target; with CUDA also bf16 autocast against fp32 and the peak GPU memory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_study import augmented_fixed, plain_fixed, side_by_side

from enfopath.models.flows import Flow
from enfopath.models.networks import build_model, pick_device
from enfopath.seeding import initial_noise, sample_labels
from enfopath.study.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def pretrained_arch(config: str) -> dict:
    """The released flow's architecture as a paper-scale config states it."""
    return load_config(ROOT / "configs" / config)["flow"]["pretrained"]["arch"]


def flows(device: torch.device, batch: int) -> dict[str, tuple[Flow, torch.Tensor | None]]:
    unet_arch, sit_arch = pretrained_arch("cifar10.yaml"), pretrained_arch("imagenet256.yaml")
    unet = build_model("torchcfm_unet", unet_arch, seed=0).to(device).eval()
    sit = build_model("sit", sit_arch, seed=0).to(device).eval()
    labels = sample_labels(0, range(batch), 1000).to(device)
    return {
        "torchcfm UNet, CIFAR-10": (Flow.from_checkpoint(unet, "torchcfm_unet", unet_arch), None),
        "SiT-XL/2, CFG 1.5 (3 ch)": (
            Flow.from_checkpoint(sit, "sit", sit_arch, guidance_scale=1.5, guided_channels=3),
            labels,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=None, help="default: 64 on CUDA, 1 on CPU")
    parser.add_argument("--steps", type=int, default=None, help="default: 50 on CUDA, 2 on CPU")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = pick_device()
    cuda = device.type == "cuda"
    batch = args.batch or (64 if cuda else 1)
    steps = args.steps or (50 if cuda else 2)
    repeats = args.repeats
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"device {name}; batch {batch}, Euler {steps} steps, best of {repeats}")
    for label, (flow, labels) in flows(device, batch).items():
        x0 = initial_noise(0, range(batch), flow.shape).to(device)
        v = flow.velocity(labels)
        tp, ta = side_by_side(
            lambda v=v, x0=x0: plain_fixed(v, x0, steps, "euler"),
            lambda v=v, x0=x0: augmented_fixed(v, x0, steps, "euler"),
            repeats=repeats,
        )
        print(
            f"  {label:26s} plain {tp:7.3f} s  with energy {ta:7.3f} s  "
            f"ratio {ta / tp:.3f} (target < 1.05)"
        )
        if cuda:
            flow.precision = "bf16"
            vb = flow.velocity(labels)
            torch.cuda.reset_peak_memory_stats()
            (tb,) = side_by_side(
                lambda vb=vb, x0=x0: augmented_fixed(vb, x0, steps, "euler"),
                repeats=repeats,
            )
            peak = torch.cuda.max_memory_allocated() / 2**30
            ratio = tb / ta
            print(
                f"  {'':26s} bf16 autocast {tb:7.3f} s (×{ratio:.2f} of fp32), {peak:.1f} GiB peak"
            )


if __name__ == "__main__":
    main()
