"""A diffusers text-to-image pipeline folder as the study's flow: its family read from the
folder, its text encoders run once for a prompt set (the embeddings stored, checksummed), its
transformer sampled through :class:`enfopath.models.t2i.T2IVelocity`, its VAE decoding the
endpoints.

A pipeline folder is what ``save_pretrained`` writes (a hub snapshot has the same layout):
``model_index.json`` names the pipeline class and each component's class, one folder per
component. The family is read from the transformer's class there, before anything loads, and
the pipeline's class must be the family's (:class:`enfopath.models.t2i.T2IFamily`).

The prompts are encoded by the pipeline's own ``encode_prompt`` (the reference: CLIP-L/G and
T5 for SD3, their concatenation and padding; CLIP-L's pooled output and T5 for FLUX), never by
code of ours, so a study's embeddings are those the pipeline would compute. The encoders
truncate a prompt at their context (CLIP: ``model_max_length``, 77; T5: the family's
``max_sequence_length``): :func:`truncations` finds the prompts that lose tokens, which the
encoding job logs with their line, since the model itself truncates them.

Decoding undoes the latent normalisation as the pipelines do, x / ``scaling_factor`` +
``shift_factor`` (SD3.5: 1.5305, 0.0609; FLUX.1: 0.3611, 0.1159), and returns images in
[-1, 1], not clamped. The transformer and the VAE may run under bf16 autocast; the state, the
energy and the stored embeddings stay float32.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from enfopath.io import atomic_path, verify
from enfopath.models.t2i import (
    FAMILIES,
    Prompts,
    T2IFamily,
    T2IVelocity,
    calculate_shift,
    family_of,
    image_tokens,
    latent_shape,
    pipeline_grid,
    pipeline_sigmas,
)
from enfopath.seeding import sample_prompt
from enfopath.velocity import network_precision

PIPELINE_INDEX = "model_index.json"
EMBEDDING_FIELDS = ("embeds", "pooled", "negative", "negative_pooled")
"""The tensors of an embeddings file, as :class:`enfopath.models.t2i.Prompts` holds them."""


class PipelineFolderError(ValueError):
    """A folder that is not a diffusers text-to-image pipeline of a known family."""


def folder_family(folder: str | os.PathLike[str]) -> T2IFamily:
    """The :class:`T2IFamily` of the pipeline saved in ``folder``, from its ``model_index.json``
    (the transformer's class; the pipeline's class must be the family's). Raises
    :class:`PipelineFolderError` naming the file and what is wrong."""
    index = Path(folder) / PIPELINE_INDEX
    if not index.is_file():
        raise PipelineFolderError(
            f"{folder}: no {PIPELINE_INDEX}; a diffusers pipeline folder is what "
            "save_pretrained or a hub snapshot writes"
        )
    try:
        entries = json.loads(index.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PipelineFolderError(f"{index}: not JSON ({err})") from err
    component = entries.get("transformer") if isinstance(entries, dict) else None
    if not (isinstance(component, list) and len(component) == 2):
        raise PipelineFolderError(
            f"{index}: no transformer component [library, class]; the text-to-image families "
            f"are {sorted(FAMILIES)}"
        )
    family = FAMILIES.get(str(component[1]))
    if family is None:
        raise PipelineFolderError(
            f"{index}: transformer {component[1]} is no known family; known: {sorted(FAMILIES)}"
        )
    if entries.get("_class_name") != family.pipeline:
        raise PipelineFolderError(
            f"{index}: pipeline {entries.get('_class_name')} with a {component[1]}; the "
            f"{family.name} family's pipeline is {family.pipeline}"
        )
    return family


PIPELINE_IGNORE = ("*.bin", "*.ckpt", "*.pt", "*.pth", "*.onnx", "*.onnx_data", "*.msgpack")
PIPELINE_IGNORE += ("*.h5", "*.gguf", "*.fp16.*", "*.bf16.*")
"""Files of a hub pipeline that loading it never reads: other frameworks' weights and the
half-precision variants (the float32 or default-precision safetensors are loaded)."""


def resolve_pipeline(source: str, revision: str | None = None) -> Path:
    """The local folder of the pipeline ``source``: a local pipeline folder itself, or a hub
    repository id fetched at ``revision`` (a commit hash pins it) into the hub cache, only its
    ``model_index.json`` and the folders of the components it names (less
    :data:`PIPELINE_IGNORE`), offline afterwards. A gated repository (SD3.5, FLUX.1-dev) is
    fetched with the token of the environment's ``HF_TOKEN``, which the hub client reads
    itself: it is never an argument, a config value or a log line here. Checks the folder's
    family (:func:`folder_family`)."""
    if os.path.isdir(source):
        folder_family(source)
        return Path(source)
    if source.startswith((".", "/")) or source.count("/") != 1:
        raise PipelineFolderError(
            f"{source}: neither a local pipeline folder nor a hub repository id"
        )
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError

    from enfopath.models.hub import expected_cache_dir, is_offline

    try:
        index = hf_hub_download(source, PIPELINE_INDEX, revision=revision)
        entries = json.loads(Path(index).read_text(encoding="utf-8"))
        components = [k for k, v in entries.items() if not k.startswith("_") and v and v[0]]
        folder = snapshot_download(
            source,
            revision=revision,
            allow_patterns=[PIPELINE_INDEX, *(f"{c}/*" for c in components)],
            ignore_patterns=list(PIPELINE_IGNORE),
        )
    except GatedRepoError as err:
        raise PipelineFolderError(
            f"{source}: the hub refused the files of this gated repository "
            f"(HTTP {err.response.status_code}): accept its licence on the hub, then set "
            "HF_TOKEN in the environment (never in a config file)"
        ) from None
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as err:
        mode = "offline (HF_HUB_OFFLINE=1)" if is_offline() else "online"
        raise PipelineFolderError(
            f"{source}: cannot get the pipeline at revision {revision or 'main'} from the hub, "
            f"{mode}; expected it under {expected_cache_dir(source)} ({type(err).__name__})"
        ) from None
    folder_family(folder)
    return Path(folder)


TEXT_COMPONENTS = ("text_encoder", "tokenizer")
"""The name prefixes of a pipeline's text components (CLIP-L/G, T5 and their tokenizers)."""
IMAGE_COMPONENTS = ("transformer", "vae")
"""The components that sample and decode, which encoding the prompts does not need."""


def pipeline_components(folder: str | os.PathLike[str], prefixes: tuple[str, ...]) -> list[str]:
    """The components of the pipeline in ``folder`` whose names start with one of
    ``prefixes``, as its ``model_index.json`` lists them (those saved, not null)."""
    entries = json.loads((Path(folder) / PIPELINE_INDEX).read_text(encoding="utf-8"))
    return [
        k
        for k, v in entries.items()
        if not k.startswith("_") and isinstance(v, list) and v[0] and k.startswith(prefixes)
    ]


def load_pipeline(
    folder: str | os.PathLike[str],
    device: torch.device | str = "cpu",
    without: tuple[str, ...] = (),
) -> Any:
    """The pipeline in ``folder`` (:func:`folder_family` first), float32 weights on ``device``,
    every network in eval mode, loaded from disk only, its progress bars off; the components
    whose names start with a prefix of ``without`` are not loaded at all (a sampling job
    leaves out :data:`TEXT_COMPONENTS`, the encoding job :data:`IMAGE_COMPONENTS`)."""
    family = folder_family(folder)
    import diffusers

    skipped = {name: None for name in pipeline_components(folder, without)} if without else {}
    pipe = getattr(diffusers, family.pipeline).from_pretrained(
        str(folder), local_files_only=True, **skipped
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def pipeline_family(pipe: Any) -> T2IFamily:
    """The :class:`T2IFamily` of a loaded pipeline, by its transformer's class, or by the
    pipeline's own class where the transformer was left out (:func:`load_pipeline`)."""
    if getattr(pipe, "transformer", None) is not None:
        return family_of(pipe.transformer)
    for family in FAMILIES.values():
        if type(pipe).__name__ == family.pipeline:
            return family
    raise ValueError(f"no text-to-image family has the pipeline {type(pipe).__name__}")


FULL_CHECK_BYTES = 1 << 30
"""Files of a pipeline's manifest up to this size are checked by sha256 whenever a job reads
the manifest; a larger one (a transformer's or T5's weights, several GB) by its size, since
hashing it in every job would cost more than sampling a shard: in a hub cache such a file is
a blob named by its own sha256, and its manifest still records the sha256 it had."""


def pipeline_manifest(folder: str | os.PathLike[str], **extra: object) -> dict[str, object]:
    """A JSON-able record of the pipeline in ``folder``: its absolute path, its family, and the
    size and sha256 of every file under it (a hub snapshot's links followed), plus ``extra``."""
    from enfopath.io import file_digest

    base = Path(folder)
    files = sorted(p for p in base.rglob("*") if p.is_file() and ".cache" not in p.parts)
    return {
        **extra,
        "folder": str(base.resolve()),
        "family": folder_family(base).name,
        "files": {
            str(p.relative_to(base)): {"size": p.stat().st_size, "sha256": file_digest(p, "sha256")}
            for p in files
        },
    }


def read_pipeline_manifest(path: str | os.PathLike[str]) -> Path:
    """The pipeline folder of a :func:`pipeline_manifest` file, after checking every file it
    lists (:data:`FULL_CHECK_BYTES`); a file missing, resized or changed is named."""
    from enfopath.io import CorruptFileError, file_digest, read_json

    record = read_json(path)
    folder = Path(record["folder"])
    again = f"resolve it again with: snakemake --cores all --forcerun {path}"
    for name, entry in record["files"].items():
        file = folder / name
        try:
            size = file.stat().st_size
        except OSError as err:
            raise CorruptFileError(
                f"{file}: listed in {path}, unreadable ({err}); {again}"
            ) from err
        if size != entry["size"]:
            raise CorruptFileError(
                f"{file}: {size} bytes, {entry['size']} recorded in {path}; {again}"
            )
        if size <= FULL_CHECK_BYTES and file_digest(file, "sha256") != entry["sha256"]:
            raise CorruptFileError(
                f"{file}: its sha256 differs from the one recorded in {path}; {again}"
            )
    return folder


@dataclass(frozen=True)
class Truncation:
    """Prompt ``index`` has ``tokens`` tokens in ``tokenizer`` (a pipeline component), which
    keeps ``limit``."""

    index: int
    tokenizer: str
    tokens: int
    limit: int


def truncations(pipe: Any, texts: list[str], max_sequence_length: int) -> list[Truncation]:
    """The prompts that the pipeline's encoders truncate, per tokenizer (the module
    docstring): the family's long tokenizer at ``max_sequence_length``, CLIP at its own
    ``model_max_length``."""
    family = pipeline_family(pipe)
    found = []
    for name, tokenizer in pipe.components.items():
        if not name.startswith("tokenizer") or tokenizer is None:
            continue
        limit = max_sequence_length if name == family.long_tokenizer else tokenizer.model_max_length
        for i, ids in enumerate(tokenizer(texts, add_special_tokens=True).input_ids):
            if len(ids) > limit:
                found.append(Truncation(i, name, len(ids), limit))
    return found


@torch.no_grad()
def encode_prompts(
    pipe: Any,
    texts: list[str],
    *,
    negative: str | None,
    max_sequence_length: int,
    batch_size: int = 16,
) -> Prompts:
    """Every prompt's embeddings by the pipeline's own ``encode_prompt``, in batches, float32
    on the CPU. ``negative``: the negative prompt of classifier-free guidance (SD3), encoded
    once (batch 1); None for no guidance, and for FLUX, which has none."""
    family = pipeline_family(pipe)
    if negative is not None and family.guidance != "cfg":
        raise ValueError(f"{family.name}: no classifier-free guidance, so no negative prompt")
    if not texts:
        raise ValueError("no prompts to encode")
    embeds, pooled = [], []
    for start in range(0, len(texts), batch_size):
        e, p = _encode(pipe, family, texts[start : start + batch_size], max_sequence_length)
        embeds.append(e)
        pooled.append(p)
    prompts = Prompts(torch.cat(embeds), torch.cat(pooled))
    if negative is None:
        return prompts
    e, p = _encode(pipe, family, [negative], max_sequence_length)
    return Prompts(prompts.embeds, prompts.pooled, e, p)


def _encode(
    pipe: Any, family: T2IFamily, texts: list[str], max_sequence_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch's embeddings and pooled embeddings by ``pipe.encode_prompt``, float32 on the
    CPU (SD3's asked without its own CFG pass: the negative prompt is encoded on its own)."""
    options: dict[str, Any] = {"prompt_2": None, "device": pipe.text_encoder.device}
    if family.guidance == "cfg":
        options.update(prompt_3=None, do_classifier_free_guidance=False)
    out = pipe.encode_prompt(prompt=list(texts), max_sequence_length=max_sequence_length, **options)
    pooled = (
        out[2] if family.guidance == "cfg" else out[1]
    )  # SD3: (e, e∅, p, p∅); FLUX: (e, p, ids)
    return out[0].float().cpu(), pooled.float().cpu()


def write_embeddings(
    path: str | os.PathLike[str], prompts: Prompts, ids: list[str], identity: dict[str, Any]
) -> None:
    """Store ``prompts`` (safetensors; rows in the order of ``ids``) atomically with its
    checksum record and ``identity`` (what made it: pipeline, encoders' settings, prompt file)."""
    from safetensors.torch import save_file

    if len(ids) != prompts.embeds.shape[0]:
        raise ValueError(f"{len(ids)} prompt ids for {prompts.embeds.shape[0]} embeddings")
    tensors = {
        name: getattr(prompts, name).contiguous()
        for name in EMBEDDING_FIELDS
        if getattr(prompts, name) is not None
    }
    with atomic_path(path, identity={**identity, "prompt_ids": list(ids)}) as tmp:
        save_file(tensors, str(tmp))


def read_embeddings(
    path: str | os.PathLike[str], expect: dict[str, Any] | None = None
) -> tuple[list[str], Prompts]:
    """The prompt ids and :class:`Prompts` of :func:`write_embeddings`' file, after checking it
    against its record (sha256, study location, the ``expect``-ed identity entries)."""
    from safetensors.torch import load_file

    record = verify(path, "prompt embeddings", expect=expect)
    tensors = load_file(str(path))
    ids = list(record.identity["prompt_ids"])
    return ids, Prompts(**{name: tensors.get(name) for name in EMBEDDING_FIELDS})


@torch.no_grad()
def decode_latents(pipe: Any, latents: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """Images (B, 3, H, W), nominally in [-1, 1] and not clamped, from the scaled latents
    (B, C, h, w) the transformer samples (the module docstring), float32."""
    config = pipe.vae.config
    shift = config.shift_factor or 0.0
    z = latents.to(pipe.vae.device, torch.float32) / config.scaling_factor + shift
    with network_precision(z.device, precision):
        images = pipe.vae.decode(z, return_dict=False)[0]
    return images.float()


@dataclass
class T2IFlow:
    """A text-to-image pipeline ready to sample a prompt set, as the study samples every flow
    (:func:`enfopath.study.shards.generate_shard`): sample i is prompt
    i // ``samples_per_prompt`` (its label, :func:`enfopath.seeding.sample_prompt`) with its
    noise from (seed, i); its state is the scaled latent of a ``height`` × ``width`` image,
    its velocity the guided :class:`T2IVelocity`, its endpoints decoded by the pipeline's VAE,
    and its own time grid the pipeline's σ schedule (:meth:`schedule_grid`).

    ``prompts``: every prompt's embeddings (:func:`encode_prompts`), row p for prompt p, on
    the CPU; ``guidance``: SD3's CFG scale (> 1 needs the negative prompt) or FLUX.1-dev's
    embedded value; ``precision``: the transformer's and the VAE's (fp32 or bf16 autocast)."""

    pipe: Any
    prompts: Prompts
    samples_per_prompt: int
    height: int
    width: int
    guidance: float = 1.0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.family = family_of(self.pipe.transformer)
        self.shape = latent_shape(
            self.pipe.transformer, self.height, self.width, vae_scale=self.pipe.vae_scale_factor
        )
        self.num_prompts = int(self.prompts.embeds.shape[0])
        if self.samples_per_prompt < 1:
            raise ValueError(
                f"prompts.samples_per_prompt must be at least 1, got {self.samples_per_prompt}"
            )
        self.velocity(torch.zeros(1, dtype=torch.long))  # refuses CFG without a negative prompt

    conditional = True
    """Every sample has a label: its prompt."""

    @property
    def n_samples(self) -> int:
        """Samples the prompt set holds: each prompt's ``samples_per_prompt`` seeds."""
        return self.num_prompts * self.samples_per_prompt

    def labels(self, seed: int, batch: range) -> np.ndarray:
        """The prompt of each sample of ``batch`` (N,) int64 (``seed`` plays no part: the
        assignment is prompt-major); a sample beyond the prompt set is refused."""
        if batch.stop > self.n_samples:
            raise ValueError(
                f"samples {batch.start}…{batch.stop - 1}: the prompt set has {self.num_prompts} "
                f"prompts × {self.samples_per_prompt} seeds = {self.n_samples} samples"
            )
        return np.array([sample_prompt(i, self.samples_per_prompt)[0] for i in batch], np.int64)

    def velocity(self, labels: torch.Tensor | None) -> T2IVelocity:
        """The guided velocity of a batch whose sample j has prompt ``labels[j]``."""
        if labels is None:
            raise ValueError("a text-to-image flow samples each sample's prompt: labels needed")
        device = self.pipe.transformer.device
        rows = self.prompts.rows(labels.cpu(), device)
        return T2IVelocity(self.pipe.transformer, rows, self.guidance, self.precision)

    def images(self, x1: torch.Tensor) -> torch.Tensor:
        """The decoded endpoints (:func:`decode_latents`), a non-finite latent decoded as 0."""
        x1 = torch.nan_to_num(x1, nan=0.0, posinf=0.0, neginf=0.0)
        return decode_latents(self.pipe, x1, self.precision)

    def schedule_grid(self, steps: int) -> torch.Tensor:
        """The pipeline's own grid t = 1 − σ for ``steps`` steps at this resolution
        (:func:`enfopath.models.t2i.pipeline_sigmas`, asked of a copy of its scheduler)."""
        scheduler = type(self.pipe.scheduler).from_config(self.pipe.scheduler.config)
        sigmas = pipeline_sigmas(scheduler, self.pipe.transformer, steps, self.shape)
        return pipeline_grid(sigmas)

    def describe(self) -> dict[str, Any]:
        """What the study's summary records of this flow: the family and its conventions (the
        timestep scale, the guidance kind and value actually applied, the packing), the
        schedule's shift (SD3: the scheduler's static ``shift``; FLUX: the μ of this
        resolution), the image and latent sizes and the precision, JSON-able."""
        transformer, config = self.pipe.transformer, self.pipe.scheduler.config
        if self.family.guidance == "embedded":
            applied = bool(transformer.config.guidance_embeds)
            guidance = {"kind": "embedded" if applied else "none"}
        else:
            applied = self.guidance > 1.0
            guidance = {"kind": "cfg" if applied else "none"}
        if applied:
            guidance["value"] = self.guidance
        rule = self.family.schedule
        dynamic = rule.dynamic or bool(config.get("use_dynamic_shifting", False))
        shift: dict[str, Any] = {"dynamic": dynamic}
        if dynamic:
            shift["mu"] = calculate_shift(
                image_tokens(transformer, self.shape),
                config.get("base_image_seq_len", 256),
                config.get("max_image_seq_len", 4096),
                config.get("base_shift", 0.5),
                config.get("max_shift", rule.max_shift),
            )
        else:
            shift["shift"] = float(config.get("shift", 1.0))
        return {
            "family": self.family.name,
            "pipeline": type(self.pipe).__name__,
            "transformer": type(transformer).__name__,
            "timestep_scale": self.family.time.scale,
            "guidance": guidance,
            "packing": self.family.packing,
            "schedule_shift": shift,
            "resolution": [self.height, self.width],
            "latent_shape": list(self.shape),
            "precision": self.precision,
            "prompts": self.num_prompts,
            "samples_per_prompt": self.samples_per_prompt,
        }
