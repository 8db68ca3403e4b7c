"""Atomic, checksummed writes and verified reads of the workflow's files.

A file is written under a temporary name in its own folder and renamed into place, so a killed
job never leaves a half-written output. Its sha256 is recorded at the write in a sidecar
``<file>.sha256`` (``sha256sum`` format: ``cd <folder> && sha256sum -c <file>.sha256`` checks it
by hand) and checked at every read, so a flipped byte in a checkpoint, a table or an index is
never read silently: the error names the file and the command that rebuilds it. Parquet tables
also carry page checksums (verified by pyarrow at read). A read that fails names the file.

``python -m enfopath.io results/<experiment>`` verifies every recorded file of a study.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

SIDECAR = ".sha256"
"""Suffix of the checksum record written beside every file of :func:`atomic_path`."""


class ExplainedError(Exception):
    """An error whose message says all a user needs (the file or key, the problem, the fix):
    workflow jobs log it without a traceback."""


class CorruptFileError(ExplainedError, RuntimeError):
    """A workflow file is missing, truncated, changed since it was written, or not in the
    expected format."""


def file_digest(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex digest of a file (``algorithm`` as :mod:`hashlib` names it), read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    return file_digest(path, "sha256")


def sidecar(path: str | os.PathLike[str]) -> Path:
    """The checksum record of ``path``: ``<path>.sha256``."""
    p = Path(path)
    return p.with_name(p.name + SIDECAR)


def rebuild_hint(path: str | os.PathLike[str]) -> str:
    """The command that rebuilds a workflow file (and, with identical results, what used it)."""
    return (
        f"rebuild it with: snakemake --cores all --forcerun {path} "
        "(add the --configfile of this study, if any)"
    )


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success record its sha256 in the sidecar
    (:func:`sidecar`) and rename it onto ``path``.

    The temporary name is fixed (``.<name>.partial``), so a job killed mid-write leaves at most
    that file, which the rerun overwrites and renames; ``path`` itself is never half-written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    record, tmp_record = sidecar(target), target.with_name(f".{target.name}{SIDECAR}.partial")
    try:
        yield Path(tmp)
        tmp_record.write_text(f"{sha256(tmp)}  {target.name}\n")
        os.replace(tmp_record, record)
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, tmp_record):
            if os.path.exists(leftover):
                os.unlink(leftover)


def verify(path: str | os.PathLike[str], what: str = "workflow") -> None:
    """Check ``path`` against the sha256 recorded when it was written; raise
    :class:`CorruptFileError` naming the file, both hashes and the rebuild command."""
    if not os.path.exists(path):
        raise CorruptFileError(f"{path}: {what} file does not exist")
    record = sidecar(path)
    try:
        recorded = record.read_text().split()[0]
    except (OSError, IndexError) as err:
        raise CorruptFileError(
            f"{path}: no checksum record {record.name} beside it (a file not written by this "
            f"workflow, or copied without it), so it cannot be verified; {rebuild_hint(path)}"
        ) from err
    actual = sha256(path)
    if actual != recorded:
        raise CorruptFileError(
            f"{path}: corrupt {what} file: its sha256 {actual} differs from {recorded}, recorded "
            f"in {record.name} when it was written (the file changed on disk since); "
            f"{rebuild_hint(path)}"
        )


def write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed ``.npz`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def write_parquet(path: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Write a table to parquet atomically, with page checksums."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", write_page_checksum=True)


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


def checked_read(path: str | os.PathLike[str], what: str, reader: Callable[[], Any]) -> Any:
    """``reader()`` after :func:`verify`; any error of the reader becomes a
    :class:`CorruptFileError` naming ``path``."""
    verify(path, what)
    try:
        return reader()
    except Exception as err:  # every reader error means the same thing here
        raise CorruptFileError(
            f"{path}: corrupt or unreadable {what} file ({err}; a file from an older version "
            f"of the workflow lacks what this one reads); {rebuild_hint(path)}"
        ) from err


def read_npz(path: str | os.PathLike[str], keys: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` (checking that ``keys`` are present) into memory."""

    def read() -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise KeyError(f"missing arrays {missing}")
        return arrays

    return checked_read(path, "array (.npz)", read)


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a parquet table, naming the file if it is unreadable."""
    import pyarrow.parquet as pq

    return checked_read(
        path,
        "parquet",
        lambda: pq.read_table(path, page_checksum_verification=True).to_pandas(),
    )


def read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV table, naming the file if it is unreadable."""
    import pandas as pd

    return checked_read(path, "CSV", lambda: pd.read_csv(path))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, naming the file if it is unreadable."""
    return checked_read(path, "JSON", lambda: json.loads(Path(path).read_text()))


_SHARD = re.compile(r"shard_(\d+)\.")


def check_shard_samples(
    samples: np.ndarray, path: str | os.PathLike[str], shard_size: int | None = None
) -> None:
    """Check that the file ``path`` of shard s (``shard_<s>.*``) holds exactly the shard's
    global sample indices s·S … s·S + S − 1, S = ``shard_size`` (default: the file's count).

    A valid file copied over another shard's is caught here, naming the file, instead of as
    duplicate samples further down.
    """
    match = _SHARD.search(Path(path).name)
    if match is None:
        raise ValueError(f"{path}: not a shard file (shard_<number>.*)")
    shard = int(match.group(1))
    size = len(samples) if shard_size is None else shard_size
    expected = np.arange(shard * size, (shard + 1) * size)
    if samples.shape != expected.shape or bool((samples != expected).any()):
        held = f"{samples.min()}…{samples.max()} ({len(samples)})" if len(samples) else "none"
        raise CorruptFileError(
            f"{path}: holds samples {held}, but shard {shard} holds samples "
            f"{expected[0]}…{expected[-1]} ({size}): the file was copied from another shard or "
            f"study; {rebuild_hint(path)}"
        )


def recorded_files(root: str | os.PathLike[str]) -> list[Path]:
    """The files under ``root`` that exist and have a checksum record."""
    paths = (r.with_name(r.name.removesuffix(SIDECAR)) for r in Path(root).rglob(f"*{SIDECAR}"))
    return sorted(p for p in paths if not p.name.startswith(".") and p.is_file())


def verify_tree(root: str | os.PathLike[str]) -> list[str]:
    """Verify every file under ``root`` that has a checksum record; return the errors."""
    errors = []
    for path in recorded_files(root):
        try:
            verify(path)
        except CorruptFileError as err:
            errors.append(str(err))
    return errors


def main(argv: list[str] | None = None) -> int:
    """``python -m enfopath.io FOLDER ...``: verify every checksummed file under the folders."""
    folders = list(sys.argv[1:] if argv is None else argv)
    if not folders:
        print("usage: python -m enfopath.io results/<experiment> ...", file=sys.stderr)
        return 2
    errors = [e for folder in folders for e in verify_tree(folder)]
    for error in errors:
        print(error, file=sys.stderr)
    n = sum(len(recorded_files(f)) for f in folders)
    print(f"{n - len(errors)} of {n} recorded files verified")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
