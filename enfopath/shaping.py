"""Kinetic Trajectory Shaping's gain in plain floats (no imports beyond ``math``: light for the
summary and figure jobs). The gain itself, η(t) in torch, is
:class:`enfopath.velocity.KineticShaping` (docs/science.md §7)."""

from __future__ import annotations

import math

SHAPING_GAINS = ("shaped", "constant")
"""``sampling.kts.gain``: η(t) itself, or its control, the constant gain of the same ∫₀¹η dt."""


def mean_gain(alpha0: float, beta0: float, tau: float, k: float) -> float:
    """∫₀¹η dt of η = 1 + α₀ (1 − t/τ) before τ and 1 − β₀ (exp(k (t − τ)/(1 − τ)) − 1) from τ
    on, in closed form: τ (1 + α₀/2) + (1 − τ) (1 − β₀ ((e^k − 1)/k − 1)). 0.9816 for
    α₀ = β₀ = 0.01, τ = 0.6, k = 3: a shaped trajectory covers 1.8 % less of the path."""
    launch = tau * (1.0 + alpha0 / 2.0)
    landing = (1.0 - tau) * (1.0 - beta0 * (math.expm1(k) / k - 1.0))
    return launch + landing
