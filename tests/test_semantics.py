"""Semantic scores: classifier confidence / margin / entropy and CLIP score / margin."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from enfopath.measures.semantics import classifier_scores, clip_scores


def test_classifier_scores_on_known_logits():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]]))
    s = classifier_scores(logits)
    assert s.clf_class.tolist()[0] == 0
    np.testing.assert_allclose(s.clf_confidence, [0.7, 1 / 3])
    np.testing.assert_allclose(s.clf_margin, [0.5, 0.0], atol=1e-12)
    entropy = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    np.testing.assert_allclose(s.clf_entropy, [entropy, math.log(3)])


def test_clip_score_and_margin_per_sample():
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    angle = math.radians(30)
    image = torch.tensor([[math.cos(angle), math.sin(angle)], [-1.0, -0.01]]) * 3.0
    labelled = clip_scores(image, text, torch.tensor([0, 1]))
    assert labelled.clip_score[0] == pytest.approx(100 * math.cos(angle))
    assert labelled.clip_margin[0] == pytest.approx(100 * (math.cos(angle) - math.sin(angle)))
    # sample 1 points away from its class prompt: score clamped at 0 per sample, margin < 0
    assert labelled.clip_score[1] == 0.0
    assert labelled.clip_margin[1] < 0
    assert set(labelled.clip_class_source) == {"label"}
    zero_shot = clip_scores(image, text, None)
    assert zero_shot.clip_class.tolist() == [0, 2]
    assert (zero_shot.clip_margin > 0).all()
    assert set(zero_shot.clip_class_source) == {"zero_shot"}
