"""The inception space: torch-fidelity's Inception-v3 on the 8-bit image of each sample, and the
FID and KID of the fidelity stage equal to torch-fidelity's own, end to end from image files."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import random_inception

from enfopath.measures.features import FeatureModels, embed
from enfopath.measures.fidelity import Reference, frechet_distance, kernel_distance
from enfopath.models.inception import load_inception, to_uint8_rgb


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return random_inception(tmp_path_factory.mktemp("inception") / "inception.pt")


def images(seed: int, n: int, channels: int = 3, side: int = 24) -> np.ndarray:
    """Images in [-1, 1] (n, C, H, W), with values between the 8-bit levels."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, channels, side, side)).astype(np.float32)


def save_pngs(batch: np.ndarray, folder: Path) -> Path:
    """Each image as the PNG a user would save: 8-bit, rounded independently of the code."""
    folder.mkdir()
    for i, x in enumerate(batch):
        pixels = np.clip(np.rint((x + 1) / 2 * 255), 0, 255).astype(np.uint8)
        mode = "L" if len(pixels) == 1 else "RGB"
        data = pixels[0] if mode == "L" else pixels.transpose(1, 2, 0)
        Image.fromarray(data, mode).save(folder / f"{i:03d}.png")
    return folder


def test_the_8_bit_image_is_the_saved_files_and_grey_repeats_into_rgb(tmp_path):
    batch = images(0, 4, channels=1)
    batch[0, 0, 0, :3] = [-1.0, 1.0, 0.0]  # the ends and the middle (127.5 rounds to even)
    got = to_uint8_rgb(torch.from_numpy(batch))
    folder = save_pngs(batch, tmp_path / "grey")
    files = sorted(folder.iterdir())
    want = np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])
    np.testing.assert_array_equal(got.numpy(), want)
    assert got[0, :, 0, :3].tolist() == [[0, 255, 128]] * 3
    with pytest.raises(ValueError, match=r"\(B, 1 or 3, H, W\), got \(4, 2, 24, 24\)"):
        to_uint8_rgb(torch.zeros(4, 2, 24, 24))


def test_fid_and_kid_equal_torch_fidelitys_from_the_same_image_files(weights, tmp_path):
    from torch_fidelity import calculate_metrics

    fake, real = images(1, 24), images(2, 30) * 0.6
    models = FeatureModels(
        torch.device("cpu"), inception=load_inception(str(weights), torch.device("cpu"))
    )
    f, r = (embed("inception", x, models, batch_size=16) for x in (fake, real))
    assert f.shape == (24, 2048) and f.dtype == np.float32
    draw = np.random.RandomState(11)
    subsets = [
        (draw.choice(24, 20, replace=False), draw.choice(30, 20, replace=False)) for _ in range(3)
    ]
    metrics = calculate_metrics(
        input1=str(save_pngs(fake, tmp_path / "fake")),
        input2=str(save_pngs(real, tmp_path / "real")),
        fid=True,
        kid=True,
        kid_subsets=3,
        kid_subset_size=20,
        rng_seed=11,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(weights),
        cuda=False,
        cache=False,
        verbose=False,
        batch_size=16,
    )
    fid = frechet_distance(f, Reference.of(r))
    assert fid == pytest.approx(metrics["frechet_inception_distance"], rel=1e-5)
    kid, kid_std = kernel_distance(f, r, subsets)
    assert kid == pytest.approx(metrics["kernel_inception_distance_mean"], rel=1e-4)
    assert kid_std == pytest.approx(metrics["kernel_inception_distance_std"], rel=1e-3)
    assert fid > 0
