"""The image-folder reference set: class labels, the seeded per-class subset, the crop."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from enfopath.study.datasets import n_reference, reference_batches
from enfopath.study.imagefolder import MAX_ASPECT, ImageFileError, center_crop, list_image_folder


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for wnid in ("n02", "n01"):
        (tmp_path / wnid).mkdir()
        for i in range(6):
            pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / wnid / f"{i}.png")
    (tmp_path / "n01" / "notes.txt").write_text("not an image")
    return tmp_path


def test_labels_follow_sorted_folders_and_the_subset_is_seeded(folder):
    a = list_image_folder(folder, per_class=3, seed=0)
    assert a["folders"].tolist() == ["n01", "n02"]
    assert a["labels"].tolist() == [0, 0, 0, 1, 1, 1]
    assert all("/n01/" in p for p in a["paths"][:3])
    b = list_image_folder(folder, per_class=3, seed=0)
    assert a["paths"].tolist() == b["paths"].tolist()
    others = [list_image_folder(folder, 3, seed=s)["paths"].tolist() for s in range(1, 6)]
    assert any(o != a["paths"].tolist() for o in others)
    assert len(list_image_folder(folder, per_class=50, seed=0)["paths"]) == 12


def test_center_crop_is_square_in_range_and_central(tmp_path):
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:, 10:50] = 255  # the central 40 columns white, the side bands black
    Image.fromarray(pixels).save(tmp_path / "x.png")
    img = center_crop(str(tmp_path / "x.png"), 20)
    assert img.shape == (3, 20, 20) and img.dtype == np.float32
    np.testing.assert_allclose(img[:, :, 2:18], 1.0, atol=0.02)


def test_reference_batches_read_the_listed_files(folder):
    listing = list_image_folder(folder, per_class=2, seed=0)
    dataset = {"paths": listing["paths"], "image_size": np.array(8)}
    batches = list(reference_batches(dataset, 3))
    assert [b.shape for b in batches] == [(3, 3, 8, 8), (1, 3, 8, 8)]
    assert n_reference(dataset) == 4
    assert np.abs(np.concatenate(batches)).max() <= 1.0


def test_bad_folders_are_named(tmp_path_factory, folder):
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError, match="not a directory"):
        list_image_folder(empty / "missing", 1, 0)
    with pytest.raises(FileNotFoundError, match="no class subfolders"):
        list_image_folder(empty, 1, 0)
    (folder / "n03").mkdir()
    with pytest.raises(FileNotFoundError, match="n03 has no images"):
        list_image_folder(folder, 1, 0)
    with pytest.raises(OSError, match=r"notes\.txt: not a readable image"):
        center_crop(str(folder / "n01" / "notes.txt"), 8)


def test_an_absurd_aspect_ratio_is_refused_from_the_header(tmp_path):
    """A 94-byte 4000×1 PNG would be upscaled to 1,024,000 × 256 (2.5 GB): it is refused,
    naming the file, before it is decoded; the bound itself is read as usual."""
    Image.new("RGB", (4000, 1)).save(tmp_path / "strip.png")
    with pytest.raises(ImageFileError, match=r"strip\.png: an image of 4000×1 pixels is refused"):
        center_crop(str(tmp_path / "strip.png"), 256)
    Image.new("RGB", (2, 2 * MAX_ASPECT), (255, 0, 0)).save(tmp_path / "tall.png")
    img = center_crop(str(tmp_path / "tall.png"), 16)
    assert img.shape == (3, 16, 16) and img[0].min() > 0.99


def test_a_decompression_bomb_is_named(tmp_path, monkeypatch):
    Image.new("RGB", (30, 20)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 600 pixels > twice the limit
    with pytest.raises(ImageFileError, match=r"bomb\.png: refused as a decompression bomb"):
        center_crop(str(tmp_path / "bomb.png"), 8)


def test_the_crop_is_adms_bit_for_bit(tmp_path):
    """guided-diffusion's center_crop_arr, as ADM / DiT / SiT prepare ImageNet."""
    rng = np.random.default_rng(3)
    for shape in ((97, 300, 3), (40, 33, 3), (600, 257, 3)):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(tmp_path / "x.png")
        with Image.open(tmp_path / "x.png") as im:
            ref = im.convert("RGB")
        size = 32
        while min(*ref.size) >= 2 * size:
            ref = ref.resize(tuple(x // 2 for x in ref.size), resample=Image.BOX)
        scale = size / min(*ref.size)
        ref = ref.resize(tuple(round(x * scale) for x in ref.size), resample=Image.BICUBIC)
        arr = np.array(ref)
        y, x = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
        expected = arr[y : y + size, x : x + size].transpose(2, 0, 1).astype(np.float32)
        ours = center_crop(str(tmp_path / "x.png"), size)
        assert np.array_equal(ours, expected / 127.5 - 1.0)


def test_a_reference_image_changed_after_the_listing_is_named(folder):
    """The listing pins each file's sha256: an image edited (or replaced) between prepare_data
    and the reference features is refused, not embedded."""
    listing = list_image_folder(folder, per_class=2, seed=0)
    dataset = {"paths": listing["paths"], "sha256": listing["sha256"], "image_size": np.array(8)}
    assert len(np.concatenate(list(reference_batches(dataset, 3)))) == 4
    changed = listing["paths"][3]
    Image.new("RGB", (30, 20), (9, 9, 9)).save(changed)
    with pytest.raises(ImageFileError, match=rf"{changed}: changed since the reference set was"):
        list(reference_batches(dataset, 3))
