"""CLIP (open_clip) for semantic scores and image features (docs/science.md §3, §4).

The backbone, its pretrained weights (an open_clip tag such as ``openai``, or a local weights
file), the prompt template and the resize interpolation come from the config's ``clip``
section. :func:`resolve_clip` turns them into a manifest (weights file on disk, its sha256, and
the tag's quick-GELU flag, mean and std) once, in a download rule; compute jobs then
:func:`load_clip` from that file without touching the network.

Preprocessing is CLIP's own, on tensors: images in [-1, 1] are mapped to [0, 1], the shortest
side resized to the model's input size (bicubic by default, antialiased), centre-cropped, and
normalized with the tag's mean and std.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from enfopath.models.hub import expected_cache_dir, is_offline, manifest
from enfopath.velocity import network_precision


@dataclass(frozen=True)
class ClipSetup:
    """CLIP as a job uses it: the download ``manifest`` file of its weights
    (:func:`resolve_clip`), the resize ``interpolation`` (``clip.interpolation``), the images
    per batch (``clip.batch_size``) and the network's ``precision`` (``sampling.precision``)."""

    manifest: str
    interpolation: str
    batch_size: int
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"clip.batch_size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class ClipSpec:
    """Which CLIP weights: the ``model``, ``pretrained`` and ``model_config`` keys of the
    config's ``clip`` section (the rest of it says how the model is used, not which)."""

    model: str
    pretrained: str
    model_config: str | None = None

    @classmethod
    def from_config(cls, clip: dict[str, Any]) -> ClipSpec:
        return cls(
            model=clip["model"],
            pretrained=clip["pretrained"],
            model_config=clip.get("model_config"),
        )


def _register(spec: ClipSpec) -> None:
    import open_clip

    if spec.model_config is not None:
        if not os.path.isfile(spec.model_config):
            raise FileNotFoundError(f"clip.model_config: {spec.model_config} does not exist")
        open_clip.add_model_config(spec.model_config)
    if spec.model not in open_clip.list_models():
        raise ValueError(f"clip.model: unknown open_clip model {spec.model!r}")


RANDOM = "random"
"""``clip.pretrained`` for random weights (drawn from :data:`RANDOM_SEED`): a study that
checks its DAG offline (``configs/t2i_tiny.yaml``), whose scores mean nothing."""
RANDOM_SEED = 0


def resolve_clip(spec: ClipSpec) -> dict[str, object]:
    """The manifest of ``spec``'s weights: download (or find in the cache) a tag's file, or
    check a local file, or (:data:`RANDOM`) none; raises naming the expected path when it
    cannot."""
    import open_clip
    from open_clip.pretrained import download_pretrained

    _register(spec)
    if spec.pretrained == RANDOM:
        return manifest(
            {},
            model=spec.model,
            pretrained=RANDOM,
            model_config=spec.model_config,
            random_seed=RANDOM_SEED,
            quick_gelu=False,
            mean=list(open_clip.OPENAI_DATASET_MEAN),
            std=list(open_clip.OPENAI_DATASET_STD),
        )
    if os.path.isfile(spec.pretrained):
        path, tag_cfg = Path(spec.pretrained), {}
    else:
        tag_cfg = open_clip.get_pretrained_cfg(spec.model, spec.pretrained)
        if not tag_cfg:
            tags = open_clip.list_pretrained_tags_by_model(spec.model)
            raise ValueError(
                f"clip.pretrained: {spec.pretrained!r} is neither a local file nor a tag of "
                f"{spec.model} (tags: {tags})"
            )
        hub = str(tag_cfg.get("hf_hub", "")).split("/")
        where = expected_cache_dir("/".join(hub[:2])) if len(hub) > 2 else "the download cache"
        if is_offline() and not tag_cfg.get("hf_hub"):
            raise FileNotFoundError(f"clip.pretrained: offline, and {spec.pretrained} is url-only")
        try:
            path = Path(download_pretrained(tag_cfg))
        except Exception as err:
            mode = "offline (HF_HUB_OFFLINE=1)" if is_offline() else "online"
            raise FileNotFoundError(
                f"clip.pretrained: cannot get {spec.model}/{spec.pretrained} weights, {mode}; "
                f"expected them under {where} ({err})"
            ) from err
    return manifest(
        {"weights": path},
        model=spec.model,
        pretrained=spec.pretrained,
        model_config=spec.model_config,
        quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
        mean=list(tag_cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        std=list(tag_cfg.get("std", open_clip.OPENAI_DATASET_STD)),
    )


@dataclass
class Clip:
    """A loaded CLIP model with what its preprocessing needs."""

    model: nn.Module
    tokenizer: Any
    size: tuple[int, int]
    mean: torch.Tensor
    std: torch.Tensor
    interpolation: str
    device: torch.device
    precision: str = "fp32"

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], (B, 3, H, W) → CLIP's normalized input (B, 3, *size)."""
        x = (images.float().to(self.device) + 1.0) / 2.0
        h, w = x.shape[-2:]
        scale = max(self.size[0] / h, self.size[1] / w)  # shortest side to the input size
        new = (max(self.size[0], round(h * scale)), max(self.size[1], round(w * scale)))
        if new != (h, w):
            x = nn.functional.interpolate(
                x, size=new, mode=self.interpolation, antialias=True, align_corners=False
            )
        top, left = (new[0] - self.size[0]) // 2, (new[1] - self.size[1]) // 2
        x = x[..., top : top + self.size[0], left : left + self.size[1]].clamp(0.0, 1.0)
        return (x - self.mean[:, None, None]) / self.std[:, None, None]

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalized image embeddings (B, E), float32, of images in [-1, 1]."""
        with network_precision(self.device, self.precision):
            return self.model.encode_image(self.preprocess(images)).float()

    @torch.no_grad()
    def text_features(self, class_names: list[str], template: str) -> torch.Tensor:
        """Unnormalized embeddings (C, E) of one prompt ``template.format(name)`` per class."""
        tokens = self.tokenizer([template.format(n) for n in class_names]).to(self.device)
        with network_precision(self.device, self.precision):
            return self.model.encode_text(tokens).float()


def load_clip(
    record: dict[str, Any],
    interpolation: str,
    device: torch.device,
    precision: str = "fp32",
) -> Clip:
    """Build the CLIP model of a :func:`resolve_clip` manifest from its local weights file."""
    import open_clip

    if record.get("model_config"):
        open_clip.add_model_config(record["model_config"])
    weights = record["files"]["weights"]["path"] if record["pretrained"] != RANDOM else None
    try:
        with torch.random.fork_rng(devices=[]):  # random weights: the same in every job
            torch.manual_seed(record.get("random_seed", RANDOM_SEED))
            model = open_clip.create_model(
                record["model"], pretrained=weights, force_quick_gelu=record["quick_gelu"]
            )
    except Exception as err:  # a wrong, truncated or unsafe (pickled code) weights file
        raise ValueError(
            f"clip.pretrained: {weights} is not loadable {record['model']} weights "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from err
    model = model.to(device).eval()
    size = model.visual.image_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    return Clip(
        model=model,
        tokenizer=open_clip.get_tokenizer(record["model"]),
        size=size,
        mean=torch.tensor(record["mean"], device=device),
        std=torch.tensor(record["std"], device=device),
        interpolation=interpolation,
        device=device,
        precision=precision,
    )
