"""Inception-v3 pool features (2,048 per image), the features FID and KID are defined on.

The network and its TensorFlow-compatible preprocessing are torch-fidelity's
(``FeatureExtractorInceptionV3``: the 2015-12-05 TensorFlow graph converted to PyTorch, bilinear
resizing to 299 × 299 as TensorFlow 1.x did it, features ``2048``), so the FID of the
``inception`` space is the FID torch-fidelity, and the papers it reproduces, report. The weights
file is fetched once like every other file (``inception.weights``: its url, or a local path on
an offline cluster, with its sha256).

Images arrive in [-1, 1] (B, C, H, W), as every feature space takes them; they are quantized to
the 8-bit values an image file of the sample would hold, round((x + 1) · 127.5) clipped to
[0, 255] (what Inception's preprocessing expects, and what FID computed from saved PNGs sees:
clean-fid's point that the quantization is part of the metric), and a one-channel image is
repeated into the three channels.
"""

from __future__ import annotations

import torch
from torch import nn

FEATURE = "2048"
"""torch-fidelity's name of the pool features."""
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
"""Where torch-fidelity publishes the converted weights (its ``URL_INCEPTION_V3``)."""


def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (B, 1 or 3, H, W) as the uint8 RGB (B, 3, H, W) of their image file."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"Inception features need images (B, 1 or 3, H, W), got {tuple(images.shape)}"
        )
    pixels = torch.round((images.float() + 1.0) * 127.5).clamp(0, 255).to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels


def load_inception(weights: str, device: torch.device) -> nn.Module:
    """torch-fidelity's Inception-v3 with the weights file ``weights`` (a state dict), in
    evaluation mode on ``device``."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    model = FeatureExtractorInceptionV3(
        "inception-v3-compat", [FEATURE], feature_extractor_weights_path=weights
    )
    return model.to(device)


@torch.no_grad()
def inception_features(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The pool features (B, 2048) float32 of images in [-1, 1] (B, C, H, W)."""
    device = next(model.parameters()).device
    (features,) = model(to_uint8_rgb(images).to(device))
    return features.float()
