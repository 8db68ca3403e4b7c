"""A reference set of images on disk: an ImageNet-style folder with one subfolder per class.

Class labels are the positions of the class folders in sorted order; for an ImageNet train
folder with its 1000 wnid folders that is the standard ImageNet class index. A per-class subset
is drawn from each class's sorted file list by a seed derived from the config seed and the
class folder's name. Images are centre-cropped to a square the way ADM / DiT / SiT prepare
ImageNet (box-downsample while at least twice the target, bicubic resize of the shortest side,
centre crop) and returned in [-1, 1], shape (N, 3, size, size), float32: bit for bit what ADM's
``center_crop_arr`` gives, so the reference set is the one its FID statistics use.

What a file may be is bounded before it is decoded (``Image.open`` reads only the header): an
image whose long side exceeds :data:`MAX_ASPECT` times its short side is refused, naming the
file, so the resize never makes more than ``MAX_ASPECT · size²`` pixels (a 94-byte 4000×1 PNG
at size 256 would otherwise be upscaled to 1,024,000 × 256: 2.5 GB). Cropping the long side
before the resizes would bound it too, but would change every reference image against ADM's
(the box and bicubic filters see pixels across the crop), so the aspect ratio is bounded
instead. A decompression bomb (more pixels than PIL's limit) is refused naming the file too.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from enfopath.io import ExplainedError, file_digest
from enfopath.seeding import derived_seed

EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
MAX_ASPECT = 16
"""The largest ratio of an image's long side to its short side that is read (see above)."""


class ImageFileError(ExplainedError, OSError):
    """An image file of the reference folder that is unreadable or absurd; names the file."""


def list_image_folder(root: str | os.PathLike[str], per_class: int, seed: int) -> dict:
    """Files of the reference subset: ``paths`` (N,) str, ``sha256`` (N,) str of each file (so
    that a reference image changed after the listing is named, not read: :func:`center_crop`),
    ``labels`` (N,) int64, ``folders`` (C,) str class folder names; raises naming ``root`` when
    it holds no class folders."""
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
        "sha256": np.array([file_digest(p, "sha256") for p in paths]),
        "labels": np.array(labels, dtype=np.int64),
        "folders": np.array(folders),
    }


def center_crop(path: str, size: int, sha256: str | None = None) -> np.ndarray:
    """One image file as (3, size, size) float32 in [-1, 1], cropped as ADM / DiT do; raises
    :class:`ImageFileError` naming the file when its bytes are not those listed (``sha256``,
    when given), or it is unreadable, a decompression bomb, or longer than :data:`MAX_ASPECT`
    times its width (checked from its header, before decoding)."""
    from PIL import Image

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ImageFileError(f"{path}: not a readable image ({err})") from err
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ImageFileError(
            f"{path}: changed since the reference set was listed (sha256 {sha256[:12]}…, now "
            f"{hashlib.sha256(data).hexdigest()[:12]}…): list it again with: snakemake --cores "
            "all --forcerun prepare_data (add the --configfile of this study)"
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            if min(width, height) < 1 or max(width, height) > MAX_ASPECT * min(width, height):
                raise ImageFileError(
                    f"{path}: an image of {width}×{height} pixels is refused: its sides differ "
                    f"by more than {MAX_ASPECT}× (data.folder holds photographs to centre-crop)"
                )
            img = im.convert("RGB")
    except Image.DecompressionBombError as err:
        raise ImageFileError(f"{path}: refused as a decompression bomb ({err})") from err
    except (OSError, SyntaxError, ValueError) as err:
        if isinstance(err, ImageFileError):
            raise
        raise ImageFileError(f"{path}: not a readable image ({err})") from err
    while min(img.size) >= 2 * size:
        img = img.resize(tuple(s // 2 for s in img.size), resample=Image.Resampling.BOX)
    scale = size / min(img.size)
    img = img.resize(tuple(round(s * scale) for s in img.size), resample=Image.Resampling.BICUBIC)
    arr = np.asarray(img)
    top, left = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    arr = arr[top : top + size, left : left + size]
    return (arr.transpose(2, 0, 1).astype(np.float32) / 127.5) - 1.0


def load_images(
    paths: list[str] | np.ndarray, size: int, sha256: list[str] | np.ndarray | None = None
) -> np.ndarray:
    """Files as a batch (N, 3, size, size) float32 in [-1, 1], each checked against its listed
    ``sha256`` when given."""
    digests = [None] * len(paths) if sha256 is None else [str(d) for d in sha256]
    return (
        np.stack([center_crop(str(p), size, d) for p, d in zip(paths, digests, strict=True)])
        if len(paths)
        else np.zeros((0, 3, size, size), np.float32)
    )
