"""The empirical (closed-form) flow of a training set: the flow that memorizes by construction.

For the linear interpolant with data uniform on the training points {x⁽ʲ⁾}, the exact marginal
velocity is (docs/science.md §6)

    v*(x, t) = Σⱼ wⱼ (x⁽ʲ⁾ − x) / (1 − t),  w = softmaxⱼ(−‖x − t x⁽ʲ⁾‖² / (2 (1 − t)²)).

It needs no training and carries every sample to a training point; it diverges at t = 1, so it
is integrated to ``sampling.t_end`` = 1 − ε. The weights are a softmax over the whole training
set, computed in float64 with a running log-sum-exp over chunks of training points, so memory
stays bounded (chunk × batch) and near-ties at t → 1 are resolved without overflow.
"""

from __future__ import annotations

import math

import torch
from torch import nn

CHUNK = 4096
"""Training points per chunk of the log-sum-exp."""


class EmpiricalFlow(nn.Module):
    """v*(x, t) of a training set, called as ``model(t, x)`` (t a 0-d tensor or (B,), t < 1).

    ``data`` (N, *shape) is a buffer, so the study's checkpoint holds the training set itself.
    """

    def __init__(self, shape: list[int], n: int) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.register_buffer("data", torch.zeros((n, *self.shape)))

    @classmethod
    def of(cls, data: torch.Tensor) -> EmpiricalFlow:
        """The empirical flow of ``data`` (N, *shape), kept in its dtype."""
        flow = cls(list(data.shape[1:]), len(data))
        flow.data = data.detach().clone()  # still the registered buffer
        return flow

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        tt = t.reshape(-1).expand(batch) if t.numel() == 1 else t.reshape(batch)
        tt = tt.to(device=x.device, dtype=torch.float64)[:, None]
        flat = x.reshape(batch, -1).double()
        scale = 2.0 * (1.0 - tt) ** 2  # (B, 1)
        top = torch.full((batch, 1), -math.inf, dtype=torch.float64, device=x.device)
        total = torch.zeros((batch, 1), dtype=torch.float64, device=x.device)
        mean = torch.zeros_like(flat)  # Σ exp(l − top) x⁽ʲ⁾, rescaled as top grows
        points = self.data.reshape(len(self.data), -1)
        for start in range(0, len(points), CHUNK):
            ref = points[start : start + CHUNK].to(flat)
            # ‖x − t x⁽ʲ⁾‖², expanded, in float64
            d2 = (
                flat.pow(2).sum(1, keepdim=True)
                - 2.0 * tt * (flat @ ref.T)
                + tt.pow(2) * ref.pow(2).sum(1)[None, :]
            ).clamp_min(0.0)
            logits = -d2 / scale
            new_top = torch.maximum(top, logits.max(dim=1, keepdim=True).values)
            keep = torch.exp(top - new_top)
            weights = torch.exp(logits - new_top)
            total = total * keep + weights.sum(1, keepdim=True)
            mean = mean * keep + weights @ ref
            top = new_top
        target = mean / total  # Σⱼ wⱼ x⁽ʲ⁾
        v = (target - flat) / (1.0 - tt)
        return v.reshape(x.shape).to(x.dtype)
