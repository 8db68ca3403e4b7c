"""Weights that live on the Hugging Face hub (VAE, CLIP): resolve once, then load from disk.

A download rule resolves a hub repository (or a local directory / file given instead) into
files on disk and records them, with their sha256, in a small JSON manifest. Compute jobs load
from those files only and run with the hub switched off (:func:`go_offline`), so a job on an
offline node never waits on a network timeout. When ``HF_HUB_OFFLINE=1`` is set for the download
rule too, a file missing from the cache fails at once with the cache path that was expected.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from enfopath.io import CorruptFileError, file_digest, read_json


def go_offline() -> None:
    """Switch the hub client off for this process (no network attempt, no timeout): through the
    environment for a client imported later, and in its constants if it is loaded already."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True


def is_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def expected_cache_dir(repo_id: str) -> Path:
    """Where the hub cache keeps ``repo_id`` (a model repository)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"


def resolve_repo_dir(source: str, files: list[str]) -> Path:
    """A directory holding ``files``: ``source`` itself when it is a local directory, else the
    hub snapshot of repository ``source`` (downloaded, or from the cache when offline)."""
    if os.path.isdir(source):
        missing = [f for f in files if not (Path(source) / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{source}: local directory lacks {missing}")
        return Path(source)
    if source.startswith((".", "/")) or source.count("/") != 1:
        raise FileNotFoundError(f"{source}: neither a local directory nor a hub repository id")
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(source, allow_patterns=files)
    except Exception as err:
        where = expected_cache_dir(source)
        mode = "offline (HF_HUB_OFFLINE=1)" if is_offline() else "online"
        raise FileNotFoundError(
            f"{source}: cannot get {files} from the hub, {mode}; expected them under {where} "
            f"({type(err).__name__}: {err})"
        ) from err
    missing = [f for f in files if not (Path(path) / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{source}: hub snapshot {path} lacks {missing}")
    return Path(path)


def manifest(paths: dict[str, Path], **extra: object) -> dict[str, object]:
    """A JSON-able record of resolved files: absolute path and sha256 of each, plus ``extra``."""
    return {
        **extra,
        "files": {
            name: {"path": str(Path(p).resolve()), "sha256": file_digest(p, "sha256")}
            for name, p in paths.items()
        },
    }


def read_manifest(path: str | os.PathLike[str]) -> dict[str, object]:
    """Read a :func:`manifest` and check each file it lists against its recorded sha256, so a
    weights file changed since it was resolved is named instead of loaded."""
    record = read_json(path)
    for name, entry in record.get("files", {}).items():
        try:
            actual = file_digest(entry["path"], "sha256")
        except OSError as err:
            raise CorruptFileError(
                f"{entry['path']}: the {name} file recorded in {path} is unreadable ({err}); "
                f"resolve it again with: snakemake --cores all --forcerun {path}"
            ) from err
        if actual != entry["sha256"]:
            raise CorruptFileError(
                f"{entry['path']}: the {name} file's sha256 {actual} differs from "
                f"{entry['sha256']} recorded in {path}; resolve it again with: "
                f"snakemake --cores all --forcerun {path}"
            )
    return record
