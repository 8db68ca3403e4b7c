"""A text-to-image study's flow as its sampling jobs build it: the pipeline of the study's
manifest without its text encoders, the prompt embeddings of the ``encode_prompts`` job
(refused unless made from this pipeline, prompt file, T5 length and negative prompt), and the
``flow.diffusers`` settings (resolution, guidance) with the precision of ``sampling``."""

from __future__ import annotations

import os
from typing import Any

import torch

from enfopath.models.t2i_pipeline import (
    TEXT_COMPONENTS,
    T2IFlow,
    folder_family,
    load_pipeline,
    read_pipeline_manifest,
)
from enfopath.study.embeddings import family_negative, read_prompt_embeddings


def study_t2i_flow(
    manifest: str | os.PathLike[str],
    embeddings: str | os.PathLike[str],
    prompt_file: str | os.PathLike[str],
    diffusers: dict[str, Any],
    samples_per_prompt: int,
    precision: str,
    device: torch.device,
) -> T2IFlow:
    """The :class:`T2IFlow` of a study (the module docstring); ``diffusers`` is its
    ``flow.diffusers`` section (resolution, guidance, negative_prompt, max_sequence_length)."""
    folder = read_pipeline_manifest(manifest)
    _, prompts = read_prompt_embeddings(
        embeddings,
        folder,
        prompt_file,
        negative=family_negative(folder_family(folder), diffusers["negative_prompt"]),
        max_sequence_length=diffusers["max_sequence_length"],
    )
    pipe = load_pipeline(folder, device, without=TEXT_COMPONENTS)
    side = diffusers["resolution"]
    return T2IFlow(pipe, prompts, samples_per_prompt, side, side, diffusers["guidance"], precision)
