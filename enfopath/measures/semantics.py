"""Semantic scores of generated samples: a classifier's confidence and margin, or CLIP's score
and margin (docs/science.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

if TYPE_CHECKING:
    from enfopath.measures.features import FeatureModels


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


def clip_scores(
    image_features: torch.Tensor, text_features: torch.Tensor, labels: torch.Tensor | None
) -> pd.DataFrame:
    """CLIP score and CLIP margin per sample (docs/science.md §3).

    Args:
        image_features: (N, E) image embeddings (normalized here).
        text_features: (C, E) embeddings of one prompt per class (normalized here).
        labels: (N,) class of each sample (the conditioning label of a class-conditional
            model), or None for an unconditional model, whose class is then the zero-shot
            argmax of the cosine similarities.

    Columns: ``clip_class``, ``clip_class_source`` (``label`` or ``zero_shot``),
    ``clip_score`` = 100 · max(cos(image, prompt of its class), 0), computed per sample, and
    ``clip_margin`` = 100 · (that cosine − the largest cosine with any other class).
    """
    img = torch.nn.functional.normalize(image_features.detach().double().cpu(), dim=1)
    txt = torch.nn.functional.normalize(text_features.detach().double().cpu(), dim=1)
    cos = img @ txt.T
    source = "zero_shot" if labels is None else "label"
    cls = cos.argmax(dim=1) if labels is None else labels.detach().long().cpu()
    own = cos.gather(1, cls[:, None])[:, 0]
    others = cos.scatter(1, cls[:, None], float("-inf")).amax(dim=1)
    return pd.DataFrame(
        {
            "clip_class": cls.numpy().astype(np.int64),
            "clip_class_source": source,
            "clip_score": (100.0 * own.clamp_min(0.0)).numpy(),
            "clip_margin": (100.0 * (own - others)).numpy(),
        }
    )


SEMANTIC_METHODS = ("classifier", "clip")
"""How samples are scored (``semantics.method``)."""


@dataclass(frozen=True)
class Semantics:
    """How a study scores its samples: ``method`` (:data:`SEMANTIC_METHODS`), and for CLIP the
    dataset's ``class_names`` by index and the prompt ``template`` (``clip.template``, one
    ``{}`` for the name)."""

    method: str
    class_names: tuple[str, ...] = ()
    template: str = "a photo of a {}."

    def __post_init__(self) -> None:
        if self.method not in SEMANTIC_METHODS:
            raise ValueError(f"semantics.method {self.method!r} is not one of {SEMANTIC_METHODS}")
        if self.method == "clip" and not self.class_names:
            raise ValueError("CLIP scores need the dataset's class names (none given)")
        if self.method == "clip" and self.template.count("{}") != 1:
            raise ValueError(f"clip.template {self.template!r} must hold one {{}} for the name")

    @classmethod
    def of_prompts(cls, prompts: list[str] | tuple[str, ...]) -> Semantics:
        """A text-to-image study's semantics: the CLIP score of each image against its own
        prompt (its label: the prompt's index, :func:`enfopath.seeding.sample_prompt`) and its
        margin against every other prompt of the set, the prompt text as written (template
        ``{}``). CLIP's tokenizer cuts a prompt at its 77 tokens, as in torchmetrics'
        ``CLIPScore``, which defines the score the same way, per image."""
        return cls("clip", tuple(prompts), "{}")


def sample_semantics(
    semantics: Semantics, images: np.ndarray, labels: np.ndarray, models: FeatureModels
) -> pd.DataFrame:
    """The semantic scores of generated ``images`` (N, C, H, W) in [-1, 1] (clamped), by
    ``semantics.method``: ``classifier`` (:func:`classifier_scores` of the study's classifier)
    or ``clip`` (:func:`clip_scores` against one prompt per class name, the template filled in;
    the class of a sample is its conditioning label when ``labels`` (N,) are all ≥ 0, else the
    zero-shot argmax). A label with no name is an error."""
    if semantics.method == "classifier":
        with torch.no_grad():
            logits = models.classifier(torch.from_numpy(images).float().to(models.device))
        return classifier_scores(logits)
    from enfopath.measures.features import embed

    names = list(semantics.class_names)
    conditioned = bool((labels >= 0).all()) and len(labels) > 0
    if conditioned and int(labels.max()) >= len(names):
        raise ValueError(f"class label {int(labels.max())} has no name ({len(names)} classes)")
    text = models.clip.text_features(names, semantics.template)
    feats = embed("clip", images, models, models.batch("clip"))
    return clip_scores(
        torch.from_numpy(feats), text, torch.from_numpy(labels) if conditioned else None
    )
