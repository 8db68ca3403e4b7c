"""A flow model of your own, as EnfoPath sees it: a module on PYTHONPATH with a factory.

This one needs no training and no download: the exact flow from noise N(0, I) to a Gaussian
fitted to scikit-learn's digits, N(μ, s² I) with μ the mean image and s the pooled standard
deviation. Its velocity along x_t = (1 − t) x0 + t x1 is known in closed form
(docs/science.md §6), so its KPE is too: a study of it is a check of the whole pipeline.

It is called as ``model(x, t)`` with t of shape (B,), like facebookresearch/flow_matching's
``ModelWrapper``: the config says so with ``convention: x_t``.
"""

import torch
from sklearn.datasets import load_digits
from torch import nn


class GaussianFlow(nn.Module):
    """v(x, t) = μ + ((t s² − (1 − t)) / σ_t²)(x − t μ), σ_t² = (1 − t)² + t² s²."""

    def __init__(self, mu: torch.Tensor, s: float) -> None:
        super().__init__()
        self.register_buffer("mu", mu)
        self.s = s

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        var = (1 - t) ** 2 + (t * self.s) ** 2
        return self.mu + ((t * self.s**2 - (1 - t)) / var) * (x - t * self.mu)


def digits_gaussian() -> GaussianFlow:
    """The factory named in the config (``my_flow:digits_gaussian``): the digits in [-1, 1],
    shape (1, 8, 8), as the study prepares them."""
    images = torch.tensor(load_digits().images / 8.0 - 1.0, dtype=torch.float32)[:, None]
    return GaussianFlow(images.mean(0), float(images.std(0).pow(2).mean().sqrt()))
