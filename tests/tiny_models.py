"""Tiny stand-ins of the paper-scale models, made by the tests (random weights, real code)."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

TINY_CLIP = json.loads(
    (Path(__file__).parents[1] / "configs" / "models" / "enfopath-tiny-clip.json").read_text()
)
"""The tiny open_clip architecture the offline text-to-image study ships (its own config)."""
TINY_SIT = {
    "input_size": 8,
    "patch_size": 2,
    "in_channels": 4,
    "hidden_size": 32,
    "depth": 2,
    "num_heads": 2,
    "num_classes": 3,
    "learn_sigma": True,
}
TINY_UNET = {
    "dim": [3, 32, 32],
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": [1, 2],
    "attention_resolutions": "16",
    "num_heads": 2,
    "num_head_channels": 16,
    "dropout": 0.1,
}


def tiny_clip(folder: Path, name: str = "enfopath-tiny-clip") -> tuple[Path, Path]:
    """An open_clip model config ``<name>.json`` and a random weights file for it."""
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"{name}.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    weights = folder / f"{name}.pt"
    torch.save(open_clip.create_model(name, pretrained=None).state_dict(), weights)
    return config, weights


def tiny_vae(folder: Path) -> Path:
    """A diffusers AutoencoderKL directory (downsampling ×2, 4 latent channels), random weights."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 16),
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=16,
    )
    vae.save_pretrained(folder, safe_serialization=True)
    return folder


def tiny_sit_checkpoint(path: Path) -> Path:
    """A SiT state dict saved the way the public SiT checkpoint is (a bare state dict)."""
    from enfopath.models.sit import SiT

    torch.manual_seed(0)
    torch.save(SiT(**TINY_SIT).state_dict(), path)
    return path


def tiny_unet() -> torch.nn.Module:
    """A small torchcfm UNet (eval mode) whose velocity is not zero before training."""
    from torchcfm.models.unet.unet import UNetModelWrapper

    torch.manual_seed(0)
    net = UNetModelWrapper(**TINY_UNET).eval()
    with torch.no_grad():  # torchcfm zero-initializes its output layers: v = 0 untrained
        for p in net.parameters():
            if not p.any():
                p.normal_(0.0, 0.05)
    return net


def save_release(path: Path, net: torch.nn.Module, prefix: str = "module.") -> Path:
    """Save ``net`` as torchcfm's release checkpoints are: net and EMA weights (with the
    DataParallel prefix by default), optimizer and scheduler state, step."""
    state = {prefix + k: v for k, v in net.state_dict().items()}
    optim = torch.optim.Adam(net.parameters())
    payload = {
        "net_model": state,
        "ema_model": state,
        "optim": optim.state_dict(),
        "sched": {"last_epoch": 3},
        "step": 400000,
    }
    torch.save(payload, path)
    return path


def tiny_unet_release(path: Path) -> Path:
    """A tiny torchcfm UNet saved like torchcfm's release checkpoints."""
    return save_release(path, tiny_unet())


NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _batch(n: int, seed: int) -> tuple[bytes, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    blob = pickle.dumps({b"batch_label": b"x", b"data": data, b"labels": labels}, protocol=2)
    return blob, data, labels


def _add(tar: tarfile.TarFile, name: str, blob: bytes) -> None:
    info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
    info.size = len(blob)
    tar.addfile(info, io.BytesIO(blob))


def make_tarball(path, n: int = 4) -> list[tuple[np.ndarray, list[int]]]:
    """A CIFAR-10 python tarball in the official layout with ``n`` random images per batch."""
    batches = []
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
            blob, data, labels = _batch(n, i)
            _add(tar, name, blob)
            batches.append((data, labels))
        meta = pickle.dumps({b"label_names": [s.encode() for s in NAMES]}, protocol=2)
        _add(tar, "batches.meta", meta)
    return batches


def random_inception(path: Path) -> Path:
    """torch-fidelity's Inception-v3, full size (its architecture is fixed), with random weights,
    saved as the weights file the inception space loads (offline stand-in for the released
    TensorFlow-converted weights). Its constructor always loads a weights file: building the
    random network skips that one call, and the saved file is then loaded for real."""
    from unittest import mock

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    empty = path.with_suffix(".empty.pt")
    torch.save({}, empty)
    torch.manual_seed(0)
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict"):
        model = FeatureExtractorInceptionV3("random", ["2048"], str(empty))
    empty.unlink()
    for module in model.modules():  # He initialisation: the features keep their scale, as
        if isinstance(module, torch.nn.Conv2d):  # trained ones do, through 90-odd layers
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.save(model.state_dict(), path)
    return path
