"""Reading the official CIFAR-10 python tarball safely.

The batches are Python pickles; they are read through an unpickler that admits only the numpy
array and dtype constructors those files contain, so a tampered file cannot run code. The
tarball is read in place (no extraction).
"""

from __future__ import annotations

import os
import pickle
import tarfile
from typing import IO, Any

import numpy as np

from enfopath.io import CorruptFileError
from enfopath.study.datasets import ImageDataset

CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
"""Published md5 of cifar-10-python.tar.gz."""
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
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one CIFAR-10 python batch."""
    try:
        batch = NumpyOnlyUnpickler(fh, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
            raise ValueError(f"unexpected shapes data {data.shape}, labels {labels.shape}")
        bad = np.flatnonzero((labels < 0) | (labels >= CLASSES))
        if bad.size:
            raise ValueError(
                f"{bad.size} labels outside 0–{CLASSES - 1} (e.g. {int(labels[bad[0]])} at "
                f"image {int(bad[0])})"
            )
    except Exception as err:
        raise CorruptFileError(f"{source}: not a valid CIFAR-10 batch ({err})") from err
    return data.reshape(-1, 3, 32, 32), labels


def _member(tar: tarfile.TarFile, name: str, path: str) -> IO[bytes]:
    for member in tar.getmembers():
        if member.isfile() and member.name.endswith(f"cifar-10-batches-py/{name}"):
            fh = tar.extractfile(member)
            if fh is not None:
                return fh
    raise CorruptFileError(f"{path}: no cifar-10-batches-py/{name} in the tarball")


def load_cifar10_tarball(path: str | os.PathLike[str]) -> ImageDataset:
    """The 50,000 training and 10,000 test images in [-1, 1], shape (N, 3, 32, 32), float32."""
    try:
        with tarfile.open(path, "r:*") as tar:
            return _read_tarball(tar, str(path))
    except (OSError, EOFError, tarfile.TarError) as err:
        raise CorruptFileError(f"{path}: not a readable tarball ({err})") from err


def _read_tarball(tar: tarfile.TarFile, path: str) -> ImageDataset:
    train = [
        read_batch(_member(tar, f"data_batch_{i}", path), f"{path}:data_batch_{i}")
        for i in range(1, 6)
    ]
    test = read_batch(_member(tar, "test_batch", path), f"{path}:test_batch")
    try:
        meta = NumpyOnlyUnpickler(_member(tar, "batches.meta", path), encoding="bytes").load()
        names = [n.decode() for n in meta[b"label_names"]]
        if len(names) != CLASSES:
            raise KeyError(f"{len(names)} label_names, expected {CLASSES}")
    except (pickle.UnpicklingError, KeyError, EOFError) as err:
        raise CorruptFileError(f"{path}:batches.meta: not valid ({err})") from err
    return ImageDataset(
        x_train=_scale(np.concatenate([x for x, _ in train])),
        y_train=np.concatenate([y for _, y in train]),
        x_test=_scale(test[0]),
        y_test=test[1],
        class_names=names,
    )


def _scale(x: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [-1, 1]."""
    return x.astype(np.float32) / 127.5 - 1.0
