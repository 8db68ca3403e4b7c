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


def _tarball(path, batches: dict, meta: object = None, extra: tuple = ()) -> None:
    """A tarball with every member: ``batches`` overrides some batches' dicts, ``meta`` the
    meta's object, ``extra`` adds (member name, blob) pairs first."""
    data = np.zeros((3, 3072), dtype=np.uint8)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in extra:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
            batch = batches.get(name, {b"data": data, b"labels": [0, 1, 2]})
            _add(tar, name, pickle.dumps(batch, protocol=2))
        names = {b"label_names": [b"n"] * 10} if meta is None else meta
        _add(tar, "batches.meta", pickle.dumps(names, protocol=2))


@pytest.mark.parametrize(
    ("batch", "problem"),
    [
        ({b"data": np.full((3, 3072), 0.5, np.float32), b"labels": [0, 1, 2]}, "float32 array"),
        ({b"data": np.full((3, 3072), 300, np.int64), b"labels": [0, 1, 2]}, "int64 array"),
        ({b"data": np.full((3, 3072), -1, np.int16), b"labels": [0, 1, 2]}, "int16 array"),
        ({b"data": np.zeros((3, 3, 32, 32), np.uint8), b"labels": [0, 1, 2]}, r"shape \(3, 3"),
        ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0.0, 1.7, 2.0]}, "not integers"),
        ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [True, 1, 2]}, "not integers"),
        ({b"data": np.zeros((3, 3072), np.uint8), b"labels": np.ones(3)}, "float64 array"),
        ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}, "2 labels for 3"),
        ([1, 2, 3], "a list, not a dict"),
    ],
)
def test_a_batch_of_another_type_is_refused_naming_the_member(tmp_path, batch, problem):
    """Nothing is cast: float pixels in [0, 1] would all become −1, int64 300 and int16 −1
    would wrap, float labels would be truncated."""
    path = tmp_path / "c.tar.gz"
    _tarball(path, {"data_batch_4": batch})
    with pytest.raises(CorruptFileError, match=rf"c\.tar\.gz:data_batch_4: .*{problem}"):
        load_cifar10_tarball(path)


def test_members_are_matched_by_their_exact_names(tmp_path):
    """An earlier ``evil/cifar-10-batches-py/data_batch_1`` is not the batch; a second member
    of the batch's own name is refused."""
    evil = pickle.dumps({b"data": np.full((3, 3072), 7, np.uint8), b"labels": [9, 9, 9]})
    path = tmp_path / "c.tar.gz"
    _tarball(path, {}, extra=[("evil/cifar-10-batches-py/data_batch_1", evil)])
    ds = load_cifar10_tarball(path)
    assert ds.x_train.min() == -1.0 and ds.y_train[:3].tolist() == [0, 1, 2]
    twice = tmp_path / "twice.tar.gz"
    _tarball(twice, {}, extra=[("cifar-10-batches-py/data_batch_1", evil)])
    with pytest.raises(CorruptFileError, match=r"twice\.tar\.gz: two members named .*data_batch_1"):
        load_cifar10_tarball(twice)


@pytest.mark.parametrize(
    "meta", [[b"n"] * 10, {b"label_names": "airplane"}, {b"label_names": [1] * 10}, {b"x": 1}]
)
def test_a_meta_of_the_wrong_type_is_named(tmp_path, meta):
    path = tmp_path / "c.tar.gz"
    _tarball(path, {}, meta=meta)
    with pytest.raises(CorruptFileError, match=r"c\.tar\.gz:batches\.meta: not valid"):
        load_cifar10_tarball(path)
