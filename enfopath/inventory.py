"""What a finished study holds, and its verification from end to end.

Every file a job writes carries a record (:class:`enfopath.io.Record`): its name, its place in
the study, its identity and its lineage (the study files its job had read, and the job's other
outputs). From any set of files, following those records within the experiment reaches every
file the study's DAG wrote to make them (:func:`closure`), each verified on the way, and in one
lineage context, so that two of them made from different versions of a file are refused.

The study's last job, rule ``inventory``, does that from the study's final targets and writes
``results/<experiment>/inventory.json``: the experiment and every file of the finished study
with its sha256. ``python -m enfopath.io results/<experiment>`` (:func:`main`) then knows what
the study should contain, and fails on every file, record or inventory that is missing, every
file whose bytes, name, place or lineage do not check out, and on a folder that is empty or is
not there; files that the inventory does not list (left from an earlier configuration) are
reported, not failed. The HTML report verifies the closure of its files the same way before it
embeds any of them (``rules/common.smk``).
"""

from __future__ import annotations

import os
import sys
from collections import deque
from pathlib import Path

from enfopath.io import (
    RESULTS,
    CorruptFileError,
    Record,
    job_reads,
    read_json,
    recorded_files,
    sha256,
    sidecar,
    study_key,
    verify,
    write_json,
)

INVENTORY = "inventory.json"
"""The file, in an experiment's folder, that lists every file of the finished study."""


def closure(
    paths: list[str | os.PathLike[str]], root: str | os.PathLike[str] = RESULTS
) -> dict[str, Record]:
    """Verify ``paths`` (files of one experiment under the results folder ``root``) and every
    file of that experiment their records lead to (inputs and sibling outputs), and return
    their records by key. Inside a lineage context (:func:`enfopath.io.begin_job`) every file
    is also checked against the others, and one already verified there is not read again.
    Raises :class:`CorruptFileError` at the first file that does not check out, or that a
    record names and is gone."""
    base = Path(root)
    reads = job_reads()
    seen: dict[str, Record] = {}
    queue = deque((str(p), None) for p in paths)
    while queue:
        path, named_by = queue.popleft()
        key = study_key(path, base)
        if key is None:
            raise CorruptFileError(f"{path}: not a file of a study under {base}/")
        if key in seen:
            continue
        if reads is not None and key in reads:
            record = reads[key]
        else:
            if named_by is not None and not Path(path).is_file():
                raise CorruptFileError(
                    f"{path}: recorded by {RESULTS}/{named_by} as a file of its job, but gone: "
                    f"rebuild the study with: snakemake --cores all (add its --configfile)"
                )
            record = verify(path, root=base)
        seen[key] = record
        experiment = key.split("/", 1)[0]
        for linked in (*record.inputs, *record.outputs):
            if linked.split("/", 1)[0] == experiment and linked not in seen:
                queue.append((str(base / linked), key))
    return seen


def write_inventory(
    path: str | os.PathLike[str], targets: list[str], root: str | os.PathLike[str] = RESULTS
) -> dict[str, str]:
    """Write the inventory of a finished study to ``path``: every file of the :func:`closure`
    of its final ``targets`` (verified), by path inside the experiment, with its sha256; return
    that listing."""
    experiment = study_key(path, root)
    assert experiment is not None, f"{path} is not a file of a study under {root}/"
    name = experiment.split("/", 1)[0]
    files = {
        key.split("/", 1)[1]: record.sha256
        for key, record in sorted(closure(list(targets), root).items())
        if key.split("/", 1)[0] == name
    }
    write_json(path, {"experiment": name, "files": files})
    return files


def verify_study(folder: str | os.PathLike[str]) -> tuple[list[str], list[str], int]:
    """Verify the finished study in ``folder`` (``results/<experiment>``) against its inventory:
    errors, notes (files the inventory does not list), and the number of files verified."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder}: no such study folder"], [], 0
    root = folder.parent
    errors: list[str] = []
    found = recorded_files(folder)
    if not found and not any(p.is_file() for p in folder.rglob("*")):
        return [f"{folder}: an empty study folder: nothing to verify"], [], 0
    inventory = folder / INVENTORY
    if not inventory.is_file():
        errors.append(
            f"{inventory}: missing: {folder} is not a finished study (its last job writes the "
            "inventory: run snakemake --cores all for it, with its --configfile)"
        )
        listed: dict[str, str] = {}
    else:
        try:
            verify(inventory, "inventory", root=root)
            listed = dict(read_json(inventory)["files"])
        except (CorruptFileError, KeyError, TypeError) as err:
            return [f"{inventory}: unusable inventory ({err})"], [], 0
    records: dict[str, Record] = {}
    for rel, digest in listed.items():
        path = folder / rel
        if not path.is_file():
            errors.append(f"{path}: listed in {INVENTORY} but missing; {RERUN}")
            continue
        if not sidecar(path).is_file():
            errors.append(f"{path}: its checksum record {sidecar(path).name} is missing")
            continue
        try:
            record = verify(path, root=root)
        except CorruptFileError as err:
            errors.append(str(err))
            continue
        records[f"{folder.name}/{rel}"] = record
        if record.sha256 != digest:
            errors.append(
                f"{path}: changed since the study finished (sha256 {record.sha256[:12]}…, "
                f"{INVENTORY} lists {digest[:12]}…): rebuilt alone, or replaced; {RERUN}"
            )
    errors += _lineage_errors(records, root)
    extra = [p for p in found if p != inventory and p.relative_to(folder).as_posix() not in listed]
    notes = (
        [
            f"{p}: not part of the finished study (left from an earlier configuration?)"
            for p in extra
        ]
        if listed
        else []
    )
    return errors, notes, len(records)


RERUN = (
    "run snakemake --cores all for this study (with its --configfile) to rebuild what is "
    "missing or stale and refresh the inventory"
)


def _lineage_errors(records: dict[str, Record], root: Path) -> list[str]:
    """Every recorded input whose current sha256 differs from the one recorded (a file of
    another experiment, such as a comparison's baseline, is hashed where it lies)."""
    current = {key: record.sha256 for key, record in records.items()}
    errors = []
    for key, record in sorted(records.items()):
        for source, digest in sorted(record.inputs.items()):
            if source not in current:
                path = root / source
                current[source] = sha256(path) if path.is_file() else "gone"
            if current[source] != digest:
                now = "gone" if current[source] == "gone" else f"now {current[source][:12]}…"
                errors.append(
                    f"{root / key}: made from {RESULTS}/{source} with sha256 {digest[:12]}…, "
                    f"which is {now}: {RESULTS}/{key} is stale or {RESULTS}/{source} was "
                    "replaced"
                )
    return errors


def main(argv: list[str] | None = None) -> int:
    """``python -m enfopath.io results/<experiment> ...``: verify finished studies; exit 1 on
    any problem, 2 without a folder."""
    folders = list(sys.argv[1:] if argv is None else argv)
    if not folders:
        print("usage: python -m enfopath.io results/<experiment> ...", file=sys.stderr)
        return 2
    failed = False
    for folder in folders:
        errors, notes, n = verify_study(folder)
        for error in errors:
            print(error, file=sys.stderr)
        for note in notes:
            print(f"note: {note}")
        failed |= bool(errors)
        status = f"{len(errors)} problem(s)" if errors else "all verified"
        print(f"{folder}: {n} files of the finished study verified against {INVENTORY}; {status}")
    return 1 if failed else 0
