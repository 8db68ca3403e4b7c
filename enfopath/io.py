"""Atomic writes and checked reads of the workflow's files.

A file is written under a temporary name in its own folder and renamed into place, so a killed
job never leaves a half-written output; a read that fails names the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class CorruptFileError(RuntimeError):
    """A workflow file is missing, truncated or not in the expected format."""


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name is fixed (``.<name>.partial``), so a job killed mid-write leaves at most
    that file, which the rerun overwrites and renames; ``path`` itself is never half-written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed ``.npz`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def write_parquet(path: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Write a table to parquet atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_csv(path: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Write a table to CSV atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write JSON (indented, NaN as null) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_nan_to_none(obj), indent=2, sort_keys=True) + "\n")


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _checked(path: str | os.PathLike[str], what: str, reader: Callable[[], Any]) -> Any:
    if not os.path.exists(path):
        raise CorruptFileError(f"{path}: {what} file does not exist")
    try:
        return reader()
    except Exception as err:  # every reader error means the same thing here
        raise CorruptFileError(f"{path}: corrupt or truncated {what} file ({err})") from err


def read_npz(path: str | os.PathLike[str], keys: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` (checking that ``keys`` are present) into memory."""

    def read() -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise KeyError(f"missing arrays {missing}")
        return arrays

    return _checked(path, "array (.npz)", read)


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a parquet table, naming the file if it is unreadable."""
    return _checked(path, "parquet", lambda: pd.read_parquet(path))


def read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV table, naming the file if it is unreadable."""
    return _checked(path, "CSV", lambda: pd.read_csv(path))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, naming the file if it is unreadable."""
    return _checked(path, "JSON", lambda: json.loads(Path(path).read_text()))
