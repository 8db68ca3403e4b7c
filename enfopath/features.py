"""Feature spaces in which local density is measured (SCIENCE.md §4)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SPACES = ("pixels", "classifier")
"""``pixels``: the flattened image in [-1, 1]; ``classifier``: its last hidden layer."""


@torch.no_grad()
def embed(
    space: str,
    images: np.ndarray,
    classifier: nn.Module | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 4096,
) -> np.ndarray:
    """Features of images (N, C, H, W) in ``space``, shape (N, D), float32."""
    if space == "pixels":
        return np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)
    if space == "classifier":
        if classifier is None:
            raise ValueError("the classifier feature space needs the trained classifier")
        out = [
            classifier.features(torch.from_numpy(images[s : s + batch_size]).float().to(device))
            .cpu()
            .numpy()
            for s in range(0, len(images), batch_size)
        ]
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)
    raise ValueError(f"unknown feature space {space!r}; expected one of {SPACES}")
