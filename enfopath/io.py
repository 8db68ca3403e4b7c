"""Atomic, checksummed writes and verified reads of the workflow's files, each with a record of
what it is.

A file is written under a temporary name in its own folder and renamed into place, so a killed
job never leaves a half-written output. Its sha256 is recorded at the write in a sidecar
``<file>.sha256`` and checked at every read, so a flipped byte in a checkpoint, a table or an
index is never read silently: the error names the file and the command that rebuilds it.
Parquet tables also carry page checksums (verified by pyarrow at read). A read that fails
names the file.

The sidecar is in ``sha256sum`` format (``cd <folder> && sha256sum -c <file>.sha256`` checks it
by hand) followed by one comment line, ``# enfopath {json}``, that ``sha256sum`` ignores: the
file's *record* (:class:`Record`). A record says what the file is, not only what its bytes are:

- its **name** (the sha256sum line) and its **location** in the study: the experiment and the
  path inside ``results/<experiment>/`` it was written to. A file copied over another, or
  from another study, together with its own sidecar, is caught at the first read;
- its **identity**: what the job that wrote it says it is (the feature space and k of a
  reference set, a shard's number), checked by the readers that expect it (``expect=``);
- its **lineage**: the rule that wrote it, the job's outputs, and the sha256 of every study
  file the job had read when it wrote it (its *inputs*). Inside a workflow job
  (:func:`begin_job`), every read is checked against the others: a file made from another
  version of a file this job also reads (a stale or replaced artefact) is refused, naming both.

Keys of study files are ``<experiment>/<path>``, relative to the results folder (``results/``
in the working directory): a study folder can be moved or copied whole.

``python -m enfopath.io results/<experiment>`` verifies a finished study against its inventory
(:mod:`enfopath.inventory`): every file it should hold, its record and its lineage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

SIDECAR = ".sha256"
"""Suffix of the checksum record written beside every file of :func:`atomic_path`."""
RESULTS = "results"
"""The folder, in the working directory, that holds one folder per experiment."""
RECORD_TAG = "# enfopath "
"""The start of a sidecar's record line (a comment to ``sha256sum``)."""


class ExplainedError(Exception):
    """An error whose message says all a user needs (the file or key, the problem, the fix):
    workflow jobs log it without a traceback."""


class CorruptFileError(ExplainedError, RuntimeError):
    """A workflow file is missing, truncated, changed since it was written, not in the
    expected format, or not the file its reader expects (another file's, another study's,
    made from other inputs)."""


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


@dataclass(frozen=True)
class Record:
    """What a sidecar records of its file (see the module docstring)."""

    sha256: str
    name: str
    """The file's name when it was written."""
    key: str | None = None
    """``<experiment>/<path>`` where it was written, None outside a study folder."""
    rule: str | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    """Key → sha256 of every study file its job had read when it wrote it."""
    outputs: tuple[str, ...] = ()
    """Keys of its job's declared outputs."""

    def text(self) -> str:
        """The sidecar's text: the sha256sum line, then the record line."""
        meta = {
            "key": self.key,
            "rule": self.rule,
            "identity": self.identity,
            "inputs": self.inputs,
            "outputs": list(self.outputs),
        }
        return f"{self.sha256}  {self.name}\n{RECORD_TAG}{json.dumps(meta, sort_keys=True)}\n"


def read_record(path: str | os.PathLike[str]) -> Record:
    """The record in the sidecar of ``path``; raises :class:`CorruptFileError` naming the file
    when there is none or it cannot be parsed. A sidecar of an earlier version (its sha256sum
    line alone) gives a record with neither location nor lineage."""
    record = sidecar(path)
    try:
        lines = record.read_text().splitlines()
        digest, name = lines[0].split(maxsplit=1)
        meta = next(
            (
                json.loads(line.removeprefix(RECORD_TAG))
                for line in lines[1:]
                if line.startswith(RECORD_TAG)
            ),
            {},
        )
        return Record(
            sha256=digest,
            name=name.removeprefix("*"),
            key=meta.get("key"),
            rule=meta.get("rule"),
            identity=dict(meta.get("identity") or {}),
            inputs=dict(meta.get("inputs") or {}),
            outputs=tuple(meta.get("outputs") or ()),
        )
    except (OSError, IndexError, ValueError, AttributeError, TypeError) as err:
        problem = "no checksum record" if not record.exists() else "an unreadable checksum record"
        raise CorruptFileError(
            f"{path}: {problem} {record.name} beside it (a file not written by this workflow, "
            f"or copied without it), so it cannot be verified; {rebuild_hint(path)}"
        ) from err


def study_key(
    path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> str | None:
    """``<experiment>/<path inside it>`` of a file under the results folder ``root`` (default
    ``results/`` in the working directory), None for a file elsewhere."""
    base = Path(RESULTS if root is None else root).resolve()
    where = Path(path).resolve()
    if not where.is_relative_to(base):
        return None
    rel = where.relative_to(base)
    return rel.as_posix() if len(rel.parts) >= 2 else None


@dataclass
class _Job:
    """The workflow job running in this process: what it has read, for the lineage checks."""

    rule: str
    outputs: tuple[str, ...]
    reads: dict[str, Record] = field(default_factory=dict)
    """Key → record of each study file verified by this job (its sha256 the file's own)."""


_JOB: _Job | None = None


def begin_job(rule: str, outputs: list[str]) -> None:
    """Start recording lineage for the workflow job of ``rule`` with declared ``outputs``
    (paths): every later read is checked against the others and every write records them
    (called by each workflow script's set-up; library use outside a job records none)."""
    global _JOB
    keys = tuple(k for k in (study_key(p) for p in outputs) if k is not None)
    _JOB = _Job(rule, keys)


def end_job() -> None:
    """Stop recording lineage (see :func:`begin_job`)."""
    global _JOB
    _JOB = None


def job_reads() -> dict[str, Record] | None:
    """The records of the study files the current job has verified, by key (None outside a
    job)."""
    return None if _JOB is None else _JOB.reads


def _write_record(tmp: Path, target: Path, identity: dict[str, Any] | None) -> Record:
    key = study_key(target)
    job = _JOB
    return Record(
        sha256=sha256(tmp),
        name=target.name,
        key=key,
        rule=job.rule if job else None,
        identity=dict(identity or {}),
        inputs={k: r.sha256 for k, r in job.reads.items()} if job and key else {},
        outputs=job.outputs if job and key else (),
    )


@contextmanager
def atomic_path(
    path: str | os.PathLike[str], identity: dict[str, Any] | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success record its sha256, location,
    ``identity`` (JSON-able) and lineage in the sidecar (:func:`sidecar`, :class:`Record`) and
    rename it onto ``path``.

    The temporary name is fixed (``.<name>.partial``), so a job killed mid-write leaves at most
    that file, which the rerun overwrites and renames; ``path`` itself is never half-written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    record, tmp_record = sidecar(target), target.with_name(f".{target.name}{SIDECAR}.partial")
    try:
        yield Path(tmp)
        written = _write_record(tmp, target, identity)
        tmp_record.write_text(written.text())
        os.replace(tmp_record, record)
        os.replace(tmp, target)
        if _JOB is not None and written.key in _JOB.reads:  # a job that rewrites what it read
            _JOB.reads[written.key] = written
    finally:
        for leftover in (tmp, tmp_record):
            if os.path.exists(leftover):
                os.unlink(leftover)


def verify(
    path: str | os.PathLike[str],
    what: str = "workflow",
    expect: dict[str, Any] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Record:
    """Check ``path`` against its record and return the record: the sha256 recorded when it
    was written, the name and study location it was written under (``root``: the results
    folder, default ``results/``), the ``expect``-ed identity entries and, inside a workflow
    job, its lineage against every other file the job read. Raises :class:`CorruptFileError`
    naming the file, what differs, and the rebuild command."""
    if not os.path.isfile(path):
        raise CorruptFileError(f"{path}: {what} file does not exist")
    record = read_record(path)
    name = Path(path).name
    if record.name != name:
        raise CorruptFileError(
            f"{path}: its checksum record {sidecar(path).name} was written for a file named "
            f"{record.name}: a copy of that file, with its record, over this one; "
            f"{rebuild_hint(path)}"
        )
    actual = sha256(path)
    if actual != record.sha256:
        raise CorruptFileError(
            f"{path}: corrupt {what} file: its sha256 {actual} differs from {record.sha256}, "
            f"recorded in {sidecar(path).name} when it was written (the file changed on disk "
            f"since); {rebuild_hint(path)}"
        )
    key = study_key(path, root)
    if key is not None and record.key is not None and record.key != key:
        raise CorruptFileError(
            f"{path}: written as {RESULTS}/{record.key}, not as {RESULTS}/{key}: a copy of "
            f"another study's or another file's, with its record; {rebuild_hint(path)}"
        )
    for entry, value in (expect or {}).items():
        if entry not in record.identity:
            raise CorruptFileError(
                f"{path}: its record says no {entry} (expected {value!r}; written by an older "
                f"version of the workflow); {rebuild_hint(path)}"
            )
        if record.identity[entry] != value:
            raise CorruptFileError(
                f"{path}: made for {entry} {record.identity[entry]!r}, read as {entry} "
                f"{value!r}: the file of another {entry}; {rebuild_hint(path)}"
            )
    if _JOB is not None and key is not None:
        _check_lineage(path, key, record, _JOB.reads)
        _JOB.reads[key] = record
    return record


def _check_lineage(
    path: str | os.PathLike[str], key: str, record: Record, reads: dict[str, Record]
) -> None:
    """Refuse ``record`` (of the file ``key``, just verified) when it contradicts a file read
    before it: made from a version of that file other than the one read, or recorded by it
    as an input in another version, or made from another version of an input they share."""
    for other, seen in reads.items():
        if other == key:
            continue
        if seen.sha256 != record.inputs.get(other, seen.sha256):
            stale, source, recorded, current = key, other, record.inputs[other], seen.sha256
        elif record.sha256 != seen.inputs.get(key, record.sha256):
            stale, source, recorded, current = other, key, seen.inputs[key], record.sha256
        else:
            shared = [
                k
                for k in record.inputs.keys() & seen.inputs.keys()
                if record.inputs[k] != seen.inputs[k]
            ]
            if not shared:
                continue
            raise CorruptFileError(
                f"{path}: {RESULTS}/{key} and {RESULTS}/{other} were made from different versions "
                f"of {RESULTS}/{shared[0]} ({record.inputs[shared[0]][:12]}… and "
                f"{seen.inputs[shared[0]][:12]}…): one of them is stale or was replaced; "
                f"{rebuild_hint(path)}"
            )
        raise CorruptFileError(
            f"{path}: {RESULTS}/{stale} was made from {RESULTS}/{source} with sha256 "
            f"{recorded[:12]}…, but that file is now {current[:12]}… (rebuilt or replaced since): "
            f"{RESULTS}/{stale} is stale or was replaced; rebuild it with: snakemake --cores all "
            f"--forcerun {RESULTS}/{stale} (add the --configfile of this study, if any)"
        )


def write_npz(
    path: str | os.PathLike[str], identity: dict[str, Any] | None = None, **arrays: np.ndarray
) -> None:
    """Write arrays to an uncompressed ``.npz`` atomically (``identity``: :func:`atomic_path`)."""
    with atomic_path(path, identity) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def write_parquet(
    path: str | os.PathLike[str], df: pd.DataFrame, identity: dict[str, Any] | None = None
) -> None:
    """Write a table to parquet atomically, with page checksums."""
    with atomic_path(path, identity) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", write_page_checksum=True)


def write_csv(
    path: str | os.PathLike[str], df: pd.DataFrame, identity: dict[str, Any] | None = None
) -> None:
    """Write a table to CSV atomically."""
    with atomic_path(path, identity) as tmp:
        df.to_csv(tmp, index=False)


def write_json(
    path: str | os.PathLike[str], obj: Any, identity: dict[str, Any] | None = None
) -> None:
    """Write JSON (indented, NaN as null) atomically."""
    with atomic_path(path, identity) as tmp:
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


def checked_read(
    path: str | os.PathLike[str],
    what: str,
    reader: Callable[[], Any],
    expect: dict[str, Any] | None = None,
) -> Any:
    """``reader()`` after :func:`verify` (with the ``expect``-ed identity); any error of the
    reader becomes a :class:`CorruptFileError` naming ``path``."""
    verify(path, what, expect)
    try:
        return reader()
    except Exception as err:  # every reader error means the same thing here
        raise CorruptFileError(
            f"{path}: corrupt or unreadable {what} file ({err}; a file from an older version "
            f"of the workflow lacks what this one reads); {rebuild_hint(path)}"
        ) from err


def read_npz(
    path: str | os.PathLike[str],
    keys: tuple[str, ...] = (),
    expect: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` (checking that ``keys`` are present, and the
    ``expect``-ed identity) into memory."""

    def read() -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise KeyError(f"missing arrays {missing}")
        return arrays

    return checked_read(path, "array (.npz)", read, expect)


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


if __name__ == "__main__":
    # python -m enfopath.io results/<experiment> ...: verify finished studies. The entry point
    # runs the inventory's check (enfopath.inventory.main, which builds on this module); run as
    # a script this file is __main__, not enfopath.io, so the import makes no circle.
    from enfopath.inventory import main

    sys.exit(main())
