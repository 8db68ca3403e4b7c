"""Tiny random-weight text-to-image pipelines (SD3, FLUX.1-dev, FLUX.1-schnell), built from
configs and saved as a diffusers pipeline folder: what the offline study ``configs/t2i_tiny.yaml``
and the tests sample, in every component the real pipelines have (transformer, AutoencoderKL,
CLIP and T5 text encoders, their tokenizers, the scheduler), with no weights downloaded.

The tokenizers are made here from a small vocabulary, because a real one is a download:

- CLIP's byte-level BPE gets every byte symbol of ``ByteLevel.alphabet()``, alone and with the
  end-of-word suffix, and no merges: every UTF-8 prompt tokenizes, one token a byte (CLIP's
  unknown token is its end-of-text token, so a vocabulary that missed a character would end the
  prompt silently there);
- T5's unigram gets the printable ASCII characters; anything else is its ``<unk>``.

The sizes respect the pipelines' constraints: SD3 pads the two CLIP widths, concatenated, to
the T5 width (``joint_attention_dim``), so the two together must not exceed it or the pipeline
crops silently; its pooled projection is the two CLIP projections concatenated. FLUX's
``in_channels`` is 4 × the latent channels (its 2 × 2 packing) and ``axes_dims_rope`` sums to
``attention_head_dim``. The VAE has two blocks (8 pixels → 4 latent pixels: a factor 2), and
a scaling and shift factor other than 1 and 0, so that decoding is seen to apply them.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any

import torch

TINY_FAMILIES = ("sd3", "flux-dev", "flux-schnell")
"""The tiny pipelines :func:`build_tiny_pipeline` makes."""

LATENT_CHANNELS = 4
TEXT_WIDTH = 16
"""The T5 width (and the transformer's ``joint_attention_dim``)."""
CLIP_WIDTH = 8
"""Each CLIP encoder's width: SD3's two together fill the T5 width exactly."""
CLIP_TOKENS = 77
"""CLIP's context, as in the real encoders (the pipelines truncate prompts there)."""
SD3_POOLED, FLUX_POOLED = 2 * CLIP_WIDTH, CLIP_WIDTH
"""The pooled prompt widths: SD3's two CLIP projections concatenated, FLUX's CLIP-L output."""


def clip_tokenizer() -> Any:
    """A byte-level CLIP tokenizer that covers every byte (the module docstring)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    symbols = sorted(ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols])}
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=CLIP_TOKENS)


def t5_tokenizer() -> Any:
    """A unigram T5 tokenizer of the printable ASCII characters (the module docstring)."""
    from transformers import T5Tokenizer

    characters = sorted(set(string.printable) - set(string.whitespace))
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    return T5Tokenizer(vocab=pieces + [(c, -2.0) for c in characters], extra_ids=0)


def clip_encoder(projection: bool) -> Any:
    """A one-layer CLIP text encoder, with its projection (SD3) or without (FLUX)."""
    import transformers

    vocab = len(clip_tokenizer())
    config = transformers.CLIPTextConfig(
        vocab_size=vocab,
        hidden_size=CLIP_WIDTH,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=CLIP_TOKENS,
        projection_dim=CLIP_WIDTH,
        bos_token_id=vocab - 2,
        eos_token_id=vocab - 1,
        pad_token_id=vocab - 1,
    )
    model = transformers.CLIPTextModelWithProjection if projection else transformers.CLIPTextModel
    return model(config).eval()


def t5_encoder() -> Any:
    """A one-layer T5 encoder of width :data:`TEXT_WIDTH`."""
    import transformers

    config = transformers.T5Config(
        vocab_size=len(t5_tokenizer()),
        d_model=TEXT_WIDTH,
        d_kv=8,
        d_ff=16,
        num_layers=1,
        num_heads=2,
        relative_attention_num_buckets=8,
    )
    return transformers.T5EncoderModel(config).eval()


def vae() -> Any:
    """A two-block AutoencoderKL (factor 2) with scaling 1.5 and shift 0.1."""
    import diffusers

    return diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 8),
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=32,
        scaling_factor=1.5,
        shift_factor=0.1,
    ).eval()


def sd3_transformer() -> Any:
    """SD3 / 3.5's transformer: one joint block, 2 heads × 8, patch 2."""
    import diffusers

    return diffusers.SD3Transformer2DModel(
        sample_size=16,
        patch_size=2,
        in_channels=LATENT_CHANNELS,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=TEXT_WIDTH,
        caption_projection_dim=16,
        pooled_projection_dim=SD3_POOLED,
        out_channels=LATENT_CHANNELS,
        pos_embed_max_size=16,
    ).eval()


def flux_transformer(guidance_embeds: bool) -> Any:
    """FLUX.1's transformer (dev: ``guidance_embeds``; schnell: none): one double and one
    single block, 2 heads × 16."""
    import diffusers

    return diffusers.FluxTransformer2DModel(
        patch_size=1,
        in_channels=4 * LATENT_CHANNELS,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_WIDTH,
        pooled_projection_dim=FLUX_POOLED,
        guidance_embeds=guidance_embeds,
        axes_dims_rope=(4, 6, 6),
    ).eval()


def sd3_scheduler() -> Any:
    """SD3.5's scheduler: the static shift 3."""
    import diffusers

    return diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0)


def flux_scheduler() -> Any:
    """FLUX.1's scheduler: the resolution-dependent shift μ (its published settings)."""
    import diffusers

    return diffusers.FlowMatchEulerDiscreteScheduler(
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )


def sd3_pipeline() -> Any:
    """SD3 / 3.5's pipeline: :func:`sd3_transformer`, three text encoders, the static shift."""
    import diffusers

    return diffusers.StableDiffusion3Pipeline(
        transformer=sd3_transformer(),
        scheduler=sd3_scheduler(),
        vae=vae(),
        text_encoder=clip_encoder(True),
        tokenizer=clip_tokenizer(),
        text_encoder_2=clip_encoder(True),
        tokenizer_2=clip_tokenizer(),
        text_encoder_3=t5_encoder(),
        tokenizer_3=t5_tokenizer(),
    )


def flux_pipeline(guidance_embeds: bool) -> Any:
    """FLUX.1's pipeline: :func:`flux_transformer`, CLIP-L and T5, the resolution-dependent
    shift."""
    import diffusers

    return diffusers.FluxPipeline(
        transformer=flux_transformer(guidance_embeds),  # first: the seed's first draws
        scheduler=flux_scheduler(),
        vae=vae(),
        text_encoder=clip_encoder(False),
        tokenizer=clip_tokenizer(),
        text_encoder_2=t5_encoder(),
        tokenizer_2=t5_tokenizer(),
    )


def build_tiny_pipeline(family: str, seed: int = 0) -> Any:
    """The tiny pipeline of ``family`` (:data:`TINY_FAMILIES`), its weights drawn from ``seed``
    (the global RNG is left as it was)."""
    if family not in TINY_FAMILIES:
        raise ValueError(f"no tiny pipeline {family!r}; known: {TINY_FAMILIES}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "sd3":
            return sd3_pipeline()
        return flux_pipeline(guidance_embeds=family == "flux-dev")


def save_tiny_pipeline(family: str, folder: str | os.PathLike[str], seed: int = 0) -> Path:
    """Build :func:`build_tiny_pipeline` and save it with ``save_pretrained`` into ``folder``
    (a diffusers pipeline folder: ``model_index.json`` and one folder per component)."""
    build_tiny_pipeline(family, seed).save_pretrained(str(folder))
    return Path(folder)
