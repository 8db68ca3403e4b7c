"""A reference set of images on disk: an ImageNet-style folder with one subfolder per class.

Class labels are the positions of the class folders in sorted order; for an ImageNet train
folder with its 1000 wnid folders that is the standard ImageNet class index. A per-class subset
is drawn from each class's sorted file list by a seed derived from the config seed and the
class folder's name. Images are centre-cropped to a square the way ADM / DiT / SiT prepare
ImageNet (box-downsample while at least twice the target, bicubic resize of the shortest side,
centre crop) and returned in [-1, 1], shape (N, 3, size, size), float32.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from enfopath.seeding import derived_seed

EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


def list_image_folder(root: str | os.PathLike[str], per_class: int, seed: int) -> dict:
    """Files of the reference subset: ``paths`` (N,) str, ``labels`` (N,) int64, ``folders``
    (C,) str class folder names; raises naming ``root`` when it holds no class folders."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"data.folder: {root} is not a directory")
    folders = sorted(p.name for p in base.iterdir() if p.is_dir())
    if not folders:
        raise FileNotFoundError(f"data.folder: {root} has no class subfolders")
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(folders):
        files = sorted(str(p) for p in (base / name).iterdir() if p.suffix.lower() in EXTENSIONS)
        if not files:
            raise FileNotFoundError(f"data.folder: class folder {base / name} has no images")
        rng = np.random.default_rng(derived_seed(seed, f"reference:{name}"))
        take = rng.permutation(len(files))[: min(per_class, len(files))]
        paths += [files[i] for i in sorted(take)]
        labels += [label] * len(take)
    return {
        "paths": np.array(paths),
        "labels": np.array(labels, dtype=np.int64),
        "folders": np.array(folders),
    }


def center_crop(path: str, size: int) -> np.ndarray:
    """One image file as (3, size, size) float32 in [-1, 1], cropped as ADM / DiT do."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except OSError as err:
        raise OSError(f"{path}: not a readable image ({err})") from err
    while min(img.size) >= 2 * size:
        img = img.resize(tuple(s // 2 for s in img.size), resample=Image.Resampling.BOX)
    scale = size / min(img.size)
    img = img.resize(tuple(round(s * scale) for s in img.size), resample=Image.Resampling.BICUBIC)
    arr = np.asarray(img)
    top, left = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    arr = arr[top : top + size, left : left + size]
    return (arr.transpose(2, 0, 1).astype(np.float32) / 127.5) - 1.0


def load_images(paths: list[str] | np.ndarray, size: int) -> np.ndarray:
    """Files as a batch (N, 3, size, size) float32 in [-1, 1]."""
    return (
        np.stack([center_crop(str(p), size) for p in paths])
        if len(paths)
        else np.zeros((0, 3, size, size), np.float32)
    )
