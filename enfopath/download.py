"""Fetching datasets and checkpoints: one mechanism for every asset.

An :class:`Asset` names either a URL or a local path (for offline clusters) and the expected
checksum (sha256, or md5 where only that is published). An asset whose publisher gives no
checksum may leave it out: the file is then used unverified, with a warning that names its
sha256 so that it can be pinned in the config. A download streams to ``<dest>.part``,
resumes a broken transfer with an HTTP Range request when the server supports it, retries
transient failures, logs its progress, checks the checksum and only then renames the file into
place. A mismatch deletes the download and names both hashes; an HTTP error names the URL and
status.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed (HTTP error, network failure after all retries)."""


class ChecksumError(RuntimeError):
    """A file's checksum differs from the expected one."""


@dataclass(frozen=True)
class Asset:
    """A file the workflow needs: from ``url`` or a local ``path``, checked by sha256 or md5
    (unchecked, with a warning, when neither is given)."""

    name: str
    url: str | None = None
    path: str | None = None
    sha256: str | None = None
    md5: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.path is None):
            raise ValueError(f"asset {self.name!r}: give exactly one of url and path")

    @property
    def checksum(self) -> tuple[str, str] | None:
        """(algorithm, expected hex digest), sha256 preferred; None when none is given."""
        if self.sha256 is not None:
            return "sha256", self.sha256.lower()
        if self.md5 is not None:
            return "md5", self.md5.lower()
        return None


def file_digest(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex digest of a file, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def verify(path: str | os.PathLike[str], asset: Asset, source: str) -> None:
    """Raise :class:`ChecksumError` naming ``source`` and both hashes when ``path`` differs.

    Without an expected checksum, log a warning with the file's sha256 (to pin it).
    """
    if asset.checksum is None:
        log.warning(
            "%s: no checksum configured for %s; its sha256 is %s (set it to pin the file)",
            source,
            asset.name,
            file_digest(path, "sha256"),
        )
        return
    algorithm, expected = asset.checksum
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise ChecksumError(
            f"{source}: {algorithm} mismatch for {asset.name}: expected {expected}, got {actual}"
        )


def fetch(
    asset: Asset,
    dest: str | os.PathLike[str],
    *,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
) -> Path:
    """Return a checked local copy of ``asset``.

    A local ``path`` is checked and returned as it is (never deleted, even on a mismatch). A
    ``url`` is downloaded to ``dest`` unless ``dest`` already holds the right file.
    """
    if asset.path is not None:
        if not os.path.exists(asset.path):
            raise FileNotFoundError(f"{asset.path}: local file for {asset.name} does not exist")
        verify(asset.path, asset, asset.path)
        return Path(asset.path)
    assert asset.url is not None
    target = Path(dest)
    if target.exists():
        try:
            verify(target, asset, str(target))
            log.info("%s: %s is present and verified", asset.name, target)
            return target
        except ChecksumError:
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(asset.url, part, timeout, asset.name)
            break
        except urllib.error.HTTPError as err:
            if err.code < 500 or attempt == retries:
                raise DownloadError(f"{asset.url}: HTTP {err.code} {err.reason}") from err
            reason = f"HTTP {err.code}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            if attempt == retries:
                raise DownloadError(
                    f"{asset.url}: failed after {retries + 1} tries ({err})"
                ) from err
            reason = str(err)
        log.warning("%s: try %d failed (%s); retrying", asset.url, attempt + 1, reason)
        time.sleep(backoff * 2**attempt)
    try:
        verify(part, asset, asset.url)
    except ChecksumError:
        part.unlink()
        raise
    os.replace(part, target)
    return target


def _transfer(url: str, part: Path, timeout: float, name: str) -> None:
    """Stream ``url`` into ``part``, continuing from its current size with a Range request."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # nothing left to send: the part is complete
            return
        raise
    with resp:
        if start and resp.status != 206:
            log.info("%s: server ignored the range request; starting over", url)
            start = 0
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        done, last = start, time.monotonic()
        log.info("%s: downloading %s from byte %d of %s", name, url, start, total or "?")
        with open(part, "ab" if start else "wb") as out:
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if time.monotonic() - last > 5.0:
                    log.info("%s: %d / %s bytes", name, done, total or "?")
                    last = time.monotonic()
        if total is not None and done < total:
            raise http.client.IncompleteRead(b"", total - done)
        log.info("%s: %d bytes received", name, done)
