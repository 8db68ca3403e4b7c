"""Reading the official CIFAR-10 python tarball safely.

The batches are Python pickles; they are read through an unpickler that admits only the numpy
array and dtype constructors those files contain, so a tampered file cannot run code. The
tarball is read in place (no extraction); its members are found by their exact names, and what
they hold is checked for what the official files hold (types, shapes, dtypes and ranges: pixels
uint8, labels integers in 0–9, ten class names), never cast into it. Every error names the
tarball and the member.
"""

from __future__ import annotations

import os
import pickle
import tarfile
from typing import IO, Any

import numpy as np

from enfopath.io import CorruptFileError
from enfopath.study.split import ImageDataset

CLASSES = 10
"""Labels are 0–9, indexing ``batches.meta``'s ten label_names."""
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3; a pure function
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds builtins and numpy arrays, and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def read_batch(fh: IO[bytes], source: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one CIFAR-10 python batch, checked
    for what the official files hold: a dict whose ``data`` is a uint8 array (N, 3072) and
    whose ``labels`` are N integers in 0–9 (never cast: a float, wider or signed array would
    be rescaled or wrapped silently). Errors name ``source``."""
    try:
        batch = NumpyOnlyUnpickler(fh, encoding="bytes").load()
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise ValueError(f"a {type(batch).__name__}, not a dict with data and labels")
        data = _pixels(batch[b"data"])
        labels = _labels(batch[b"labels"])
        if len(labels) != len(data):
            raise ValueError(f"{len(labels)} labels for {len(data)} images")
        bad = np.flatnonzero((labels < 0) | (labels >= CLASSES))
        if bad.size:
            raise ValueError(
                f"{bad.size} labels outside 0–{CLASSES - 1} (e.g. {int(labels[bad[0]])} at "
                f"image {int(bad[0])})"
            )
    except Exception as err:
        raise CorruptFileError(f"{source}: not a valid CIFAR-10 batch ({err})") from err
    return data.reshape(-1, 3, 32, 32), labels


def _pixels(data: object) -> np.ndarray:
    """A batch's ``data``: a uint8 array (N, 3072), as it is (no cast)."""
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        what = f"{data.dtype} array" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"data is a {what}, expected uint8 pixels")
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"data has shape {data.shape}, expected (N, {3 * 32 * 32})")
    return data


def _labels(labels: object) -> np.ndarray:
    """A batch's ``labels``: a list (or an integer array) of integers, as int64."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ValueError(f"labels are a {labels.dtype} array of shape {labels.shape}")
        return labels.astype(np.int64)
    if not isinstance(labels, list):
        raise ValueError(f"labels are a {type(labels).__name__}, expected a list of integers")
    wrong = [v for v in labels if not isinstance(v, int) or isinstance(v, bool)]
    if wrong:
        raise ValueError(f"{len(wrong)} labels are not integers (e.g. {wrong[0]!r})")
    return np.array(labels, dtype=np.int64)


MEMBERS = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
"""The files of ``cifar-10-batches-py/`` that are read."""


def _members(tar: tarfile.TarFile, path: str) -> dict[str, tarfile.TarInfo]:
    """The tarball's members named exactly ``cifar-10-batches-py/<name>`` (or ``./`` before
    it) for each of :data:`MEMBERS`: a member of that name elsewhere (``x/cifar-10-batches-
    py/data_batch_1``) is not one, and two members of one name are refused."""
    wanted = {f"cifar-10-batches-py/{name}": name for name in MEMBERS}
    found: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        name = wanted.get(member.name.removeprefix("./"))
        if name is None:
            continue
        if name in found:
            raise CorruptFileError(f"{path}: two members named {member.name}: which one is meant?")
        if not member.isfile():
            raise CorruptFileError(f"{path}: {member.name} is not a regular file")
        found[name] = member
    missing = [name for name in MEMBERS if name not in found]
    if missing:
        raise CorruptFileError(f"{path}: no cifar-10-batches-py/{missing[0]} in the tarball")
    return found


def _open(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    fh = tar.extractfile(member)
    assert fh is not None, "a regular file member always extracts"
    return fh


def load_cifar10_tarball(path: str | os.PathLike[str]) -> ImageDataset:
    """The 50,000 training and 10,000 test images in [-1, 1], shape (N, 3, 32, 32), float32."""
    try:
        with tarfile.open(path, "r:*") as tar:
            return _read_tarball(tar, str(path))
    except (OSError, EOFError, tarfile.TarError) as err:
        raise CorruptFileError(f"{path}: not a readable tarball ({err})") from err


def _read_tarball(tar: tarfile.TarFile, path: str) -> ImageDataset:
    members = _members(tar, path)
    train = [
        read_batch(_open(tar, members[f"data_batch_{i}"]), f"{path}:data_batch_{i}")
        for i in range(1, 6)
    ]
    test = read_batch(_open(tar, members["test_batch"]), f"{path}:test_batch")
    return ImageDataset(
        x_train=_scale(np.concatenate([x for x, _ in train])),
        y_train=np.concatenate([y for _, y in train]),
        x_test=_scale(test[0]),
        y_test=test[1],
        class_names=_label_names(_open(tar, members["batches.meta"]), f"{path}:batches.meta"),
    )


def _label_names(fh: IO[bytes], source: str) -> list[str]:
    """The ten class names of ``batches.meta`` (a dict whose ``label_names`` are ten byte
    strings); errors name ``source``."""
    try:
        meta = NumpyOnlyUnpickler(fh, encoding="bytes").load()
        names = meta.get(b"label_names") if isinstance(meta, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, bytes) for n in names):
            raise ValueError(f"label_names is not a list of byte strings ({type(meta).__name__})")
        if len(names) != CLASSES:
            raise ValueError(f"{len(names)} label_names, expected {CLASSES}")
        return [n.decode() for n in names]
    except Exception as err:
        raise CorruptFileError(f"{source}: not valid ({err})") from err


def _scale(x: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [-1, 1]."""
    return x.astype(np.float32) / 127.5 - 1.0
