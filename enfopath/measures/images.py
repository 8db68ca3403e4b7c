"""The generated images that every image-derived measure sees (numpy only)."""

from __future__ import annotations

import numpy as np


def shard_images(shard: dict[str, np.ndarray]) -> np.ndarray:
    """A shard's generated images, float32 (N, C, H, W), clamped to [-1, 1]: the decoded
    ``image`` of a latent flow, else the endpoint ``x1`` (non-finite values of flagged samples
    set to 0).

    The one rule of the study: what is scored (classifier, CLIP) and what density sees in
    image-derived spaces is this clamped image, as a saved image would be; the KPE is the
    unclamped ODE state's, and ``out_of_range`` records the share of values that were clamped.
    """
    if "image" in shard:
        return shard["image"].astype(np.float32) / 127.5 - 1.0
    x1 = np.nan_to_num(shard["x1"], nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(x1, -1.0, 1.0).astype(np.float32)


PROJECTED = {"x1": "x1_projected", "image": "image_projected"}
"""The arrays of a shard stopped at t_end < 1 that hold its projected endpoints x̂₁
(:func:`enfopath.study.shards.projected_endpoint`), by the name of the endpoint's own array."""


def projected_images(shard: dict[str, np.ndarray]) -> np.ndarray:
    """The images of a shard's projected endpoints x̂₁, as :func:`shard_images` makes them of
    the endpoints (the decoded ``image_projected`` of a latent flow, else ``x1_projected``)."""
    return shard_images({k: shard[v] for k, v in PROJECTED.items() if v in shard})
