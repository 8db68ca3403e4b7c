"""Seeds derived from the config seed and a sample's global index (torch is imported only by the
functions that return tensors, so the statistics jobs do not load it).

Every random draw of the study comes from a generator seeded by (config seed, stream, index),
so per-sample results do not depend on shard count, batch size or scheduling.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def derived_seed(seed: int, stream: str, index: int = 0) -> int:
    """A 63-bit seed for ``stream`` (e.g. ``"noise"``) and ``index``, via numpy's SeedSequence."""
    key = (zlib.crc32(stream.encode()), int(index))
    state = np.random.SeedSequence(entropy=int(seed), spawn_key=key).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def initial_noise(
    seed: int,
    indices: range | list[int],
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """x0 ~ N(0, I) for the given global sample indices, shape (len(indices), *shape).

    Sample i is drawn from its own CPU generator seeded by ``derived_seed(seed, "noise", i)``,
    so it is the same bits whatever batch or shard it belongs to. ``dtype``: float32 unless
    given (drawn in float64, then cast).
    """
    import torch

    g = torch.Generator()
    out = torch.empty((len(indices), *shape), dtype=torch.float64)
    for row, i in enumerate(indices):
        g.manual_seed(derived_seed(seed, "noise", i))
        out[row] = torch.randn(shape, generator=g, dtype=torch.float64)
    return out.to(torch.float32 if dtype is None else dtype)


def numpy_rng(seed: int, stream: str) -> np.random.Generator:
    """A numpy generator for a whole-study draw (split, bootstrap) named by ``stream``."""
    return np.random.default_rng(derived_seed(seed, stream))


def sample_labels(seed: int, indices: range | list[int], num_classes: int) -> torch.Tensor:
    """Class label of each global sample index, uniform on 0 … num_classes − 1, shape (N,).

    Sample i's label comes from its own seed ``derived_seed(seed, "label", i)``.
    """
    import torch

    return torch.tensor(
        [
            int(np.random.default_rng(derived_seed(seed, "label", i)).integers(num_classes))
            for i in indices
        ],
        dtype=torch.int64,
    )


def sample_prompt(sample: int, samples_per_prompt: int) -> tuple[int, int]:
    """(prompt index, seed index) of global sample ``sample``: prompt-major, the seeds of one
    prompt consecutive."""
    if samples_per_prompt < 1:
        raise ValueError(f"prompts.samples_per_prompt must be at least 1, got {samples_per_prompt}")
    if sample < 0:
        raise ValueError(f"sample index {sample} is negative")
    return divmod(sample, samples_per_prompt)
