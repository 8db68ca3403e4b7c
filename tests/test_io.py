"""Atomic writes, checked reads and checkpoints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from enfopath.checkpoint import load_checkpoint, save_checkpoint
from enfopath.io import (
    CorruptFileError,
    atomic_path,
    read_json,
    read_npz,
    read_parquet,
    write_json,
    write_npz,
    write_parquet,
)
from enfopath.models import VelocityMLP


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "sub" / "out.npz"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list((tmp_path / "sub").iterdir()) == []


def test_round_trips(tmp_path):
    write_npz(tmp_path / "a.npz", x=np.arange(3))
    assert read_npz(tmp_path / "a.npz", ("x",))["x"].tolist() == [0, 1, 2]
    write_parquet(tmp_path / "t.parquet", pd.DataFrame({"a": [1.5]}))
    assert read_parquet(tmp_path / "t.parquet").a[0] == 1.5
    write_json(tmp_path / "j.json", {"v": float("nan"), "w": np.float32(2)})
    assert read_json(tmp_path / "j.json") == {"v": None, "w": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "j.json", "t.parquet"]


def test_truncated_and_missing_files_are_named(tmp_path):
    path = tmp_path / "shard_0.npz"
    write_npz(path, x=np.zeros(1000))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptFileError, match=r"shard_0\.npz: corrupt or truncated"):
        read_npz(path)
    with pytest.raises(CorruptFileError, match="missing"):
        read_npz(tmp_path / "missing.npz")
    write_npz(path, x=np.zeros(3))
    with pytest.raises(CorruptFileError, match="missing arrays"):
        read_npz(path, ("x", "kpe"))


def test_checkpoint_round_trip_and_corruption(tmp_path):
    arch = {"shape": [1, 2, 2], "hidden": 8, "depth": 1, "time_features": 4}
    model = VelocityMLP(**arch)
    path = tmp_path / "flow.pt"
    save_checkpoint(path, "velocity_mlp", arch, model, {"loss": 0.5})
    loaded, meta = load_checkpoint(path)
    assert meta == {"loss": 0.5, "model": "velocity_mlp", "arch": arch}
    x, t = torch.randn(3, 1, 2, 2), torch.tensor(0.3)
    torch.testing.assert_close(loaded(t, x), model.eval()(t, x))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptFileError, match=r"flow\.pt: corrupt or truncated checkpoint"):
        load_checkpoint(path)
    torch.save({"anything": 1}, path)
    with pytest.raises(CorruptFileError, match="not an enfopath-checkpoint"):
        load_checkpoint(path)
