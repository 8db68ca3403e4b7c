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


class Projected(torch.nn.Module):
    """A transformers 5 CLIPModel as torchmetrics 1.9 calls it: its ``get_*_features`` return
    the projected embeddings (transformers 5 returns them as the output's ``pooler_output``)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    def get_image_features(self, *args, **inputs):
        return self.model.get_image_features(*args, **inputs).pooler_output

    def get_text_features(self, *args, **inputs):
        return self.model.get_text_features(*args, **inputs).pooler_output


def test_the_clip_score_of_a_prompt_is_torchmetrics_clipscore_per_image():
    """The reference nobody here wrote: torchmetrics' CLIPScore of one image and its prompt,
    max(100 · cos, 0), on a tiny random-weight CLIP of transformers, against
    :func:`clip_scores` of the same model's features with each image's prompt as its label;
    the margin is the cosine with its own prompt less the largest with another prompt."""
    transformers = pytest.importorskip("transformers")
    from torchmetrics.multimodal.clip_score import CLIPScore

    from enfopath.measures.semantics import Semantics
    from enfopath.models.tiny_t2i import clip_tokenizer

    tokenizer = clip_tokenizer()
    vocab = len(tokenizer)
    text = dict(vocab_size=vocab, hidden_size=8, intermediate_size=16, num_hidden_layers=1)
    text.update(num_attention_heads=2, max_position_embeddings=77)
    text.update(bos_token_id=vocab - 2, eos_token_id=vocab - 1, pad_token_id=vocab - 1)
    vision = dict(hidden_size=8, intermediate_size=16, num_hidden_layers=1)
    vision.update(num_attention_heads=2, image_size=32, patch_size=8)
    torch.manual_seed(0)
    config = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)
    model = transformers.CLIPModel(config).eval()
    size = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = transformers.CLIPProcessor(
        image_processor=transformers.CLIPImageProcessor(**size), tokenizer=tokenizer
    )
    metric = CLIPScore(model_name_or_path=lambda: (Projected(model), processor))
    prompts = ["a red cube", "two cats asleep", "a neon sign", "a bowl of soup", "snow"]
    images = torch.randint(0, 256, (8, 3, 32, 32), generator=torch.Generator().manual_seed(1))
    images = images.to(torch.uint8)
    labels = torch.arange(8) % len(prompts)
    want = []
    for image, label in zip(images, labels, strict=True):
        metric.reset()
        want.append(float(metric(image[None], [prompts[label]]).detach()))
    with torch.no_grad():
        pixels = processor(images=list(images), return_tensors="pt")["pixel_values"]
        image_features = model.get_image_features(pixel_values=pixels).pooler_output
        tokens = processor(text=prompts, return_tensors="pt", padding=True)
        text_features = model.get_text_features(**tokens).pooler_output
    semantics = Semantics.of_prompts(prompts)
    assert semantics.template.format(prompts[0]) == prompts[0]
    got = clip_scores(image_features, text_features, labels)
    np.testing.assert_allclose(got.clip_score, want, rtol=1e-5, atol=1e-4)
    assert (got.clip_score == 0).any() and (got.clip_score > 0).any()  # both sides of the clamp
    img = torch.nn.functional.normalize(image_features.double(), dim=1)
    cos = img @ torch.nn.functional.normalize(text_features.double(), dim=1).T
    own = cos[torch.arange(8), labels]
    others = torch.stack([cos[i, [j for j in range(5) if j != labels[i]]].max() for i in range(8)])
    np.testing.assert_allclose(got.clip_margin, 100 * (own - others).numpy(), rtol=1e-12)
    assert got.clip_class.tolist() == labels.tolist()
