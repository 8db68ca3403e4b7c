"""Atomic writes, checked reads and checkpoints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

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
from enfopath.models.checkpoint import load_checkpoint, save_checkpoint
from enfopath.models.networks import VelocityMLP


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
    names = ["a.npz", "j.json", "t.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names, *(f"{n}.sha256" for n in names)]
    )


def test_truncated_and_missing_files_are_named(tmp_path):
    path = tmp_path / "shard_0.npz"
    write_npz(path, x=np.zeros(1000))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptFileError, match=r"shard_0\.npz: corrupt .*sha256"):
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
    with pytest.raises(CorruptFileError, match=r"flow\.pt: corrupt checkpoint file: its sha256"):
        load_checkpoint(path)
    with atomic_path(path) as tmp:
        torch.save({"anything": 1}, tmp)
    with pytest.raises(CorruptFileError, match="not an enfopath-checkpoint"):
        load_checkpoint(path)


def _flip(path, offset: int) -> None:
    """Flip the bits of one byte of ``path`` in place (a silent disk or copy error)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_flipped_byte_is_named_with_both_hashes_and_the_rebuild_command(tmp_path):
    """Checkpoints and parquet pages have no checksum of their own that torch or pandas
    checks: a flipped byte in the middle reads back as different numbers, unless verified."""
    arch = {"shape": [1, 2, 2], "hidden": 8, "depth": 1, "time_features": 4}
    ckpt = tmp_path / "models" / "flow.pt"
    save_checkpoint(ckpt, "velocity_mlp", arch, VelocityMLP(**arch), {})
    table = tmp_path / "samples.parquet"
    write_parquet(table, pd.DataFrame({"kpe": np.linspace(1.0, 2.0, 1000)}))
    for path, read in ((ckpt, load_checkpoint), (table, read_parquet)):
        recorded = (tmp_path / path.with_name(path.name + ".sha256")).read_text().split()[0]
        _flip(path, path.stat().st_size // 2)
        with pytest.raises(CorruptFileError) as err:
            read(path)
        msg = str(err.value)
        assert str(path) in msg and recorded in msg and f"--forcerun {path}" in msg


def test_parquet_pages_carry_their_own_checksums(tmp_path):
    """A table copied without its sidecar is still checked page by page by pyarrow."""
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    write_parquet(path, pd.DataFrame({"kpe": np.linspace(1.0, 2.0, 1000)}))
    _flip(path, path.stat().st_size // 3)
    with pytest.raises(OSError, match="CRC"):
        pq.read_table(path, page_checksum_verification=True)


def test_a_file_without_its_checksum_record_is_refused(tmp_path):
    path = tmp_path / "a.npz"
    write_npz(path, x=np.arange(3))
    (tmp_path / "a.npz.sha256").unlink()
    with pytest.raises(CorruptFileError, match=r"a\.npz: no checksum record a\.npz\.sha256"):
        read_npz(path)


def test_a_shard_copied_over_another_is_named(tmp_path):
    from enfopath.io import check_shard_samples

    check_shard_samples(np.arange(8, 12), tmp_path / "shard_2.npz")
    check_shard_samples(np.arange(8, 12), tmp_path / "kpe" / "shard_2.parquet", shard_size=4)
    with pytest.raises(
        CorruptFileError, match=r"shard_2\.npz: holds samples 4…7 \(4\), but shard 2"
    ):
        check_shard_samples(np.arange(4, 8), tmp_path / "shard_2.npz")
    with pytest.raises(CorruptFileError, match="shard 1 holds samples 8…15"):
        check_shard_samples(np.arange(4, 8), tmp_path / "shard_1.parquet", shard_size=8)
