"""Semantic scores of generated samples from a classifier's logits (SCIENCE.md §3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def classifier_scores(logits: torch.Tensor) -> pd.DataFrame:
    """Per-sample scores from logits of shape (N, C).

    Columns: ``clf_class`` (argmax; the class used, since the flow is unconditional),
    ``clf_confidence`` (max softmax probability), ``clf_margin`` (top-1 minus top-2 probability),
    ``clf_entropy`` (of the softmax, in nats).
    """
    logp = torch.log_softmax(logits.detach().double().cpu(), dim=1)
    p = logp.exp()
    top2 = p.topk(2, dim=1)
    return pd.DataFrame(
        {
            "clf_class": top2.indices[:, 0].numpy().astype(np.int64),
            "clf_confidence": top2.values[:, 0].numpy(),
            "clf_margin": (top2.values[:, 0] - top2.values[:, 1]).numpy(),
            "clf_entropy": -(p * logp).sum(dim=1).numpy(),
        }
    )
