"""Text-to-image check for a GPU: the tiny pipelines under bf16 against fp32, and full-size
transformers with random weights at 1024² for samples/s and peak memory, with and without the
energy in the ODE state.

(1) The tiny random-weight SD3, FLUX.1-dev and FLUX.1-schnell pipelines
(:mod:`enfopath.models.tiny_t2i`) sample a study shard (:func:`generate_shard` of a
:class:`T2IFlow`, Euler on the pipeline's shifted grid) on the device in fp32 and under bf16
autocast: the per-sample KPE difference, relative. (2) An SD3.5-medium-sized transformer
(24 joint layers of 24 heads × 64, dual attention in layers 0–12, RMS q/k norm, 16 latent
channels) with CFG on a doubled batch, and a FLUX.1-sized one (19 double and 38 single blocks
of 24 heads × 128, the guidance embedding), random weights and random prompt embeddings of the
real shapes (T5-XXL width 4096; SD3: 333 tokens, pooled 2048; FLUX: 512 tokens, pooled 768):
Euler steps with the energy in the state against the same steps without, side by side, in
bf16 autocast, for each batch size; samples/s and the peak GPU memory.

Runs on the CPU too, for a check of the script itself: ``--layers 1 --resolution 128
--batches 1`` there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_study import augmented_fixed, plain_fixed, side_by_side

from enfopath.models.networks import pick_device
from enfopath.models.t2i import Prompts, T2IVelocity, latent_shape
from enfopath.models.t2i_pipeline import T2IFlow, encode_prompts, load_pipeline
from enfopath.models.tiny_t2i import TINY_FAMILIES, save_tiny_pipeline
from enfopath.seeding import initial_noise
from enfopath.study.shards import SamplingConfig, generate_shard

TEXTS = ["a red cube on a table", "two cats, one asleep", "the word EnfoPath in neon"]


def tiny_precision(device: torch.device) -> None:
    """(1): each tiny pipeline's shard in fp32 and bf16, the KPE difference per sample."""
    sampling = SamplingConfig("euler", 8, "shifted", 1e-5, 1e-5, 0.6, 5, 6)
    with tempfile.TemporaryDirectory() as root:
        for family in TINY_FAMILIES:
            pipe = load_pipeline(save_tiny_pipeline(family, Path(root) / family), device)
            negative = "" if family == "sd3" else None
            prompts = encode_prompts(pipe, TEXTS, negative=negative, max_sequence_length=32)
            guidance = 4.5 if family == "sd3" else 3.5
            kpe = {}
            for precision in ("fp32", "bf16"):
                flow = T2IFlow(pipe, prompts, 2, 64, 64, guidance=guidance, precision=precision)
                kpe[precision] = generate_shard(flow, 0, range(6), sampling, device)["kpe"]
            rel = abs(kpe["bf16"] - kpe["fp32"]) / abs(kpe["fp32"])
            print(
                f"  tiny {family:12s} KPE fp32 mean {kpe['fp32'].mean():.4f}; bf16 − fp32: "
                f"relative mean {rel.mean():.2e}, max {rel.max():.2e} (6 samples)"
            )


SD35_MEDIUM = dict(
    sample_size=128, patch_size=2, in_channels=16, out_channels=16, num_layers=24,
    attention_head_dim=64, num_attention_heads=24, joint_attention_dim=4096,
    caption_projection_dim=1536, pooled_projection_dim=2048, pos_embed_max_size=384,
    dual_attention_layers=tuple(range(13)), qk_norm="rms_norm",
)  # fmt: skip
"""The SD3.5-medium transformer's architecture (its ``transformer/config.json``)."""
FLUX1_DEV = dict(
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
    num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
    guidance_embeds=True, axes_dims_rope=(16, 56, 56),
)  # fmt: skip
"""The FLUX.1-dev transformer's architecture (its ``transformer/config.json``)."""
FULL_SIZE = {
    "sd3.5-medium": ("SD3Transformer2DModel", SD35_MEDIUM, 77 + 256, 4.5),
    "flux.1": ("FluxTransformer2DModel", FLUX1_DEV, 512, 3.5),
}
"""Each architecture's class, config, prompt tokens (SD3: CLIP 77 + T5 256) and guidance."""


def full_size(family: str, layers: int | None) -> tuple[torch.nn.Module, int, int, float]:
    """A full-size transformer of ``family`` (random weights; ``layers`` joint blocks only, for
    a CPU check): the module, its text tokens, pooled width and guidance."""
    import diffusers

    name, config, tokens, guidance = FULL_SIZE[family]
    config = dict(config)
    if layers:  # the published proportions: FLUX.1 has twice as many single blocks
        config["num_layers"] = layers
        if "num_single_layers" in config:
            config["num_single_layers"] = 2 * layers
        if "dual_attention_layers" in config:
            config["dual_attention_layers"] = tuple(range(min(13, layers)))
    model = getattr(diffusers, name)(**config)
    return model, tokens, config["pooled_projection_dim"], guidance


def throughput(device: torch.device, args: argparse.Namespace) -> None:
    """(2): Euler with and without the energy, bf16 autocast, per batch size."""
    for family in FULL_SIZE:
        torch.manual_seed(0)
        model, tokens, pooled, guidance = full_size(family, args.layers)
        model = model.to(device).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e9
        shape = latent_shape(model, args.resolution, args.resolution)
        print(f"  {family}: {params:.2f} B parameters, latent {shape}, Euler {args.steps} steps")
        for batch in args.batches:
            g = torch.Generator().manual_seed(1)
            embeds = torch.randn(batch, tokens, 4096, generator=g).to(device)
            pool = torch.randn(batch, pooled, generator=g).to(device)
            cfg = family.startswith("sd3")
            prompts = Prompts(
                embeds,
                pool,
                torch.zeros_like(embeds) if cfg else None,
                torch.zeros_like(pool) if cfg else None,
            )
            velocity = T2IVelocity(model, prompts, guidance=guidance, precision="bf16")
            x0 = initial_noise(0, range(batch), shape).to(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            plain, energy = side_by_side(
                lambda v=velocity, x=x0: plain_fixed(v, x, args.steps, "euler"),
                lambda v=velocity, x=x0: augmented_fixed(v, x, args.steps, "euler"),
                repeats=args.repeats,
            )
            peak = (
                f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB peak"
                if device.type == "cuda"
                else "no GPU memory"
            )
            print(
                f"    batch {batch}: plain {plain:.3f} s, with energy {energy:.3f} s "
                f"(ratio {energy / plain:.3f}), {batch / energy:.3f} samples/s, {peak}"
            )
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", type=int, default=None, help="fewer layers (CPU check)")
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    device = pick_device()
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"device {name}, torch {torch.__version__}")
    print("(1) tiny pipelines, bf16 autocast against fp32")
    tiny_precision(device)
    print(f"(2) full-size transformers, random weights, {args.resolution}², bf16 autocast")
    throughput(device, args)


if __name__ == "__main__":
    main()
