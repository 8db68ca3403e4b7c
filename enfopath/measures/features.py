"""Feature spaces in which local density is measured (docs/science.md §4).

``pixels``: the flattened image in [-1, 1]; ``classifier``: the trained classifier's last hidden
layer; ``clip``: CLIP image embeddings (unnormalized); ``latent``: the scaled SD-VAE latent
(posterior mean for reference images; the ODE endpoint itself for a latent model's samples);
``inception``: Inception-v3 pool features of the 8-bit image (FID's space,
:mod:`enfopath.models.inception`). All features are float32 of shape (N, D).

Images are embedded in batches of the space's model's configured size (``clip.batch_size``,
``vae.batch_size``, ``inception.batch_size``: :attr:`FeatureModels.batch_sizes`), and of
:data:`CHEAP_BATCH` in the spaces whose embedding is cheap (pixels, the small classifier).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from enfopath.columns import SPACE_MODEL, SPACES
from enfopath.measures.images import shard_images
from enfopath.models.clip import Clip, ClipSetup
from enfopath.models.inception import inception_features
from enfopath.models.latent import SD_VAE_SCALE, VaeSetup, encode

CHEAP_BATCH = 1024
"""Images per batch in a space whose model has no configured batch size (pixels, classifier)."""


@dataclass(frozen=True)
class InceptionSetup:
    """Inception-v3's weights file (checked against its fetch manifest by the caller) and how
    many images go into one call."""

    weights: str
    batch_size: int


@dataclass
class FeatureModels:
    """The models that embed images, those not needed left None, and the batch size of each
    model that has one configured (``batch_sizes``, by model: clip, vae)."""

    device: torch.device
    classifier: nn.Module | None = None
    clip: Clip | None = None
    vae: nn.Module | None = None
    vae_scale: float = SD_VAE_SCALE
    inception: nn.Module | None = None
    batch_sizes: dict[str, int] = field(default_factory=dict)

    def batch(self, space: str) -> int:
        """Images per batch embedded into ``space``."""
        return self.batch_sizes.get(SPACE_MODEL[space] or "", CHEAP_BATCH)


def embedder(space: str, models: FeatureModels) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map from a batch of images in [-1, 1] (B, C, H, W) to features (B, D) in ``space``."""
    if space not in SPACES:
        raise ValueError(f"unknown feature space {space!r}; expected one of {SPACES}")
    need = SPACE_MODEL[space]
    if need is not None and getattr(models, need) is None:
        raise ValueError(f"the {space} feature space needs the {need} model")
    if space == "pixels":
        return lambda x: x.flatten(1)
    if space == "classifier":
        return lambda x: models.classifier.features(x.to(models.device))  # type: ignore[union-attr]
    if space == "clip":
        return models.clip.image_features  # type: ignore[union-attr]
    if space == "inception":
        return lambda x: inception_features(models.inception, x)  # type: ignore[arg-type]
    return lambda x: encode(models.vae, x.to(models.device), models.vae_scale).flatten(1)


@torch.no_grad()
def embed_batches(space: str, batches: Iterable[np.ndarray], models: FeatureModels) -> np.ndarray:
    """Features (N, D) float32 of image batches (each (B, C, H, W) in [-1, 1]), in order."""
    fn = embedder(space, models)
    out = [fn(torch.from_numpy(np.asarray(b, np.float32))).float().cpu().numpy() for b in batches]
    return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


def chunks(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive batches of an array."""
    for s in range(0, len(images), batch_size):
        yield images[s : s + batch_size]


def embed(
    space: str, images: np.ndarray, models: FeatureModels, batch_size: int = 256
) -> np.ndarray:
    """Features (N, D) float32 of images (N, C, H, W) in [-1, 1] in ``space``."""
    return embed_batches(space, chunks(images, batch_size), models)


def sample_features(space: str, shard: dict[str, np.ndarray], models: FeatureModels) -> np.ndarray:
    """Features of a trajectory shard's samples (in batches of ``models.batch(space)``); a
    latent model's own endpoint is its latent."""
    if space == "latent" and "image" in shard:
        x1 = np.nan_to_num(shard["x1"], nan=0.0, posinf=0.0, neginf=0.0)
        return np.ascontiguousarray(x1.reshape(len(x1), -1), dtype=np.float32)
    return embed(space, shard_images(shard), models, models.batch(space))


def load_models(
    device: torch.device,
    *,
    classifier: str | None = None,
    clip: ClipSetup | None = None,
    vae: VaeSetup | None = None,
    inception: InceptionSetup | None = None,
) -> FeatureModels:
    """The feature models a job needs, the others left None: the trained ``classifier``
    (its checkpoint file, verified), CLIP, the SD-VAE and Inception-v3 (with their batch
    sizes)."""
    from enfopath.models.checkpoint import load_checkpoint
    from enfopath.models.clip import load_clip
    from enfopath.models.hub import read_manifest
    from enfopath.models.latent import load_vae

    models = FeatureModels(device=device)
    if classifier is not None:
        models.classifier = load_checkpoint(classifier, device)[0]
    if clip is not None:
        record = read_manifest(clip.manifest)
        models.clip = load_clip(record, clip.interpolation, device, clip.precision)
        models.batch_sizes["clip"] = clip.batch_size
    if vae is not None:
        models.vae = load_vae(vae.directory, device)
        models.vae_scale = vae.scale
        models.batch_sizes["vae"] = vae.batch_size
    if inception is not None:
        from enfopath.models.inception import load_inception

        models.inception = load_inception(inception.weights, device)
        models.batch_sizes["inception"] = inception.batch_size
    return models
