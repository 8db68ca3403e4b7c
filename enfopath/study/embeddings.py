"""The prompt embeddings of a text-to-image study: its prompt file encoded once by the
pipeline's own text encoders (what the ``encode_prompts`` job does), so that no sampling job
loads a text encoder.

The embeddings file records what made it, and a reader names any difference: the prompt file's
sha256, the pipeline's family and the sha256 of its ``model_index.json`` and of its text
encoders' weights, the T5 tokens kept (``max_sequence_length``) and the negative prompt. Its rows
are the prompts in the file's order, with their ids.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from enfopath.io import sha256
from enfopath.models.t2i import Prompts, T2IFamily
from enfopath.models.t2i_pipeline import (
    PIPELINE_INDEX,
    encode_prompts,
    pipeline_family,
    read_embeddings,
    truncations,
    write_embeddings,
)
from enfopath.study.prompts import Prompt, read_prompts, truncation_notes


def family_negative(family: T2IFamily, negative_prompt: str) -> str | None:
    """The negative prompt the embeddings of ``family`` hold: ``flow.diffusers.negative_prompt``
    for a family with classifier-free guidance (encoded whatever the guidance scale, so that
    changing the scale never re-encodes the prompts), None for one without (FLUX.1)."""
    return negative_prompt if family.guidance == "cfg" else None


def encoder_identity(
    folder: str | os.PathLike[str],
    prompt_file: str | os.PathLike[str],
    *,
    negative: str | None,
    max_sequence_length: int,
) -> dict[str, Any]:
    """What an embeddings file is made from (the module docstring), JSON-able."""
    folder = Path(folder)
    encoders = sorted(folder.glob("text_encoder*/*.safetensors"))
    return {
        "prompt_file_sha256": sha256(prompt_file),
        "model_index_sha256": sha256(folder / PIPELINE_INDEX),
        "text_encoders_sha256": {str(p.relative_to(folder)): sha256(p) for p in encoders},
        "max_sequence_length": max_sequence_length,
        "negative_prompt": negative,
    }


def encode_prompt_file(
    pipe: Any,
    folder: str | os.PathLike[str],
    prompt_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    negative: str | None,
    max_sequence_length: int,
    batch_size: int = 16,
    log: logging.Logger | None = None,
) -> list[Prompt]:
    """Encode every prompt of ``prompt_file`` with ``pipe`` (loaded from ``folder``) and write
    the embeddings file ``out`` with its identity (:func:`encoder_identity`); log each prompt
    the encoders truncate, by its line. Returns the prompts."""
    prompts = read_prompts(prompt_file)
    texts = [p.text for p in prompts]
    for note in truncation_notes(
        prompt_file, prompts, truncations(pipe, texts, max_sequence_length)
    ):
        (log or logging.getLogger(__name__)).warning(note)
    embeddings = encode_prompts(
        pipe,
        texts,
        negative=negative,
        max_sequence_length=max_sequence_length,
        batch_size=batch_size,
    )
    identity = encoder_identity(
        folder, prompt_file, negative=negative, max_sequence_length=max_sequence_length
    )
    identity["family"] = pipeline_family(pipe).name
    write_embeddings(out, embeddings, [p.id for p in prompts], identity)
    return prompts


def read_prompt_embeddings(
    path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    prompt_file: str | os.PathLike[str],
    *,
    negative: str | None,
    max_sequence_length: int,
) -> tuple[list[str], Prompts]:
    """The ids and embeddings of :func:`encode_prompt_file`'s file, refused (naming the entry)
    unless made from this pipeline folder, prompt file, T5 length and negative prompt."""
    expect = encoder_identity(
        folder, prompt_file, negative=negative, max_sequence_length=max_sequence_length
    )
    return read_embeddings(path, expect=expect)
