"""The CIFAR-10 reader on a small tarball in the official format, made here."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np
import pytest
from tiny_models import NAMES, _add, _batch, make_tarball

from enfopath.io import CorruptFileError
from enfopath.study.cifar import load_cifar10_tarball, read_batch


def test_reads_train_and_test_in_range(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    batches = make_tarball(path)
    ds = load_cifar10_tarball(path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    assert ds.x_train.dtype == np.float32
    assert ds.x_train.min() >= -1.0 and ds.x_train.max() <= 1.0
    first = batches[0][0].reshape(-1, 3, 32, 32)
    np.testing.assert_allclose(ds.x_train[:4], first / 127.5 - 1.0, atol=1e-6)
    assert ds.y_test.tolist() == batches[-1][1]
    assert ds.class_names == NAMES


def test_malicious_pickle_is_refused():
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    blob = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
    with pytest.raises(CorruptFileError, match="is not allowed"):
        read_batch(io.BytesIO(blob), "evil_batch")


def test_truncated_tarball_and_missing_batch_are_named(tmp_path):
    path = tmp_path / "c.tar.gz"
    make_tarball(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptFileError, match=r"c\.tar\.gz"):
        load_cifar10_tarball(path)
    partial = tmp_path / "p.tar.gz"
    with tarfile.open(partial, "w:gz") as tar:
        _add(tar, "data_batch_1", _batch(2, 0)[0])
    with pytest.raises(CorruptFileError, match="data_batch_2"):
        load_cifar10_tarball(partial)


@pytest.mark.parametrize("label", [10, -1, 255])
def test_labels_outside_0_9_are_refused_naming_the_batch(tmp_path, label):
    path = tmp_path / "c.tar.gz"
    data = np.zeros((3, 3072), dtype=np.uint8)
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
            labels = [0, label, 1] if name == "data_batch_3" else [0, 1, 2]
            _add(tar, name, pickle.dumps({b"data": data, b"labels": labels}, protocol=2))
        _add(tar, "batches.meta", pickle.dumps({b"label_names": [b"n"] * 10}, protocol=2))
    with pytest.raises(CorruptFileError, match=r"c\.tar\.gz:data_batch_3: .*labels outside 0–9"):
        load_cifar10_tarball(path)
