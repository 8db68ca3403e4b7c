"""Fetching datasets and checkpoints: one mechanism for every asset.

An :class:`Asset` names either an http(s) URL or a local path (for offline clusters and shared
file systems; there are no ``file://`` URLs) and the expected checksum (sha256, or md5 where only
that is published). An asset whose publisher gives no checksum may leave it out: the file is
then used unverified, with a warning that names its sha256 so that it can be pinned in the
config.

A download streams to ``<dest>.part``, logs its progress, checks the checksum and only then
renames the file into place. A broken transfer resumes with an HTTP Range request only when
the part's origin is confirmed: the server's ETag (strong) or Last-Modified, recorded in
``<dest>.part.origin`` at the first response, is sent as ``If-Range`` (a changed file comes back
whole), or, without a validator, when the checksum will check the spliced file; any other
``.part`` is discarded and the download starts over. Connecting and reading have their own
timeouts; network failures and 5xx answers are retried with backoff; a client error (4xx) and a
checksum mismatch are not (:attr:`DownloadError.permanent`), except that a mismatch after a
resumed transfer is downloaded once more from the start. A mismatch deletes the download and
names both hashes; an HTTP error names the URL and status.

Downloads are kept once per machine, not once per experiment: :func:`cache_path` places a file
in a cache folder shared by every experiment (``$ENFOPATH_CACHE``, default ``resources/`` in
the working directory) under its checksum, or under a hash of its URL when it has none; a lock
on its folder keeps two runs from downloading it at the same time. Each experiment's manifest
(``downloads/<name>.json``) still records the file, its source and its sha256.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from enfopath.io import CorruptFileError, ExplainedError, file_digest, read_json, sidecar

log = logging.getLogger(__name__)
CHUNK = 1 << 20


CACHE_ENV = "ENFOPATH_CACHE"
"""Environment variable naming the download cache shared by every experiment."""
DEFAULT_CACHE = "resources"
"""The cache folder when ``$ENFOPATH_CACHE`` is not set, relative to the working directory."""

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a connection (and TLS handshake)."""
READ_TIMEOUT = 30.0
"""Seconds to wait for the next bytes of an open connection."""


class DownloadError(ExplainedError, RuntimeError):
    """A download failed (HTTP error, network failure after all retries).

    ``permanent`` is True when trying again cannot help (a client error such as 404).
    """

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ChecksumError(ExplainedError, RuntimeError):
    """A file's checksum differs from the expected one (never fixed by downloading again)."""

    permanent = True


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
        if self.url is not None:
            problem = url_problem(self.url)
            if problem is not None:
                raise ValueError(f"asset {self.name!r}: {problem}")

    @property
    def checksum(self) -> tuple[str, str] | None:
        """(algorithm, expected hex digest), sha256 preferred; None when none is given."""
        if self.sha256 is not None:
            return "sha256", self.sha256.lower()
        if self.md5 is not None:
            return "md5", self.md5.lower()
        return None


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot name a download, or None: it must be http(s) with a host, and carry no
    credentials (``user:secret@host`` would be written to the logs and manifests, and urllib
    does not send them anyway). Shown without its credentials."""
    if not url.startswith(("http://", "https://")):
        return f"url {url!r} is not http(s); give a local file as path instead"
    parts = urlparse(url)
    if "@" in parts.netloc:
        shown = parts._replace(netloc=f"…@{parts.netloc.rpartition('@')[2]}").geturl()
        return (
            f"url {shown} carries credentials (user:password@); they would be written to the "
            "logs and manifests: download the file yourself and give its path instead"
        )
    if not parts.hostname:
        return f"url {url!r} has no host"
    return None


def url_file_name(url: str) -> str:
    """The file name a download of ``url`` is kept under: the last segment of its path, or
    ``download`` when that is empty, ``.`` or ``..`` (a name never leaves its cache folder)."""
    name = Path(urlparse(url).path).name
    return "download" if name in ("", ".", "..") else name


def cache_root() -> Path:
    """The download cache shared by the experiments of this machine (``$ENFOPATH_CACHE``, else
    ``resources/`` in the working directory)."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def cache_path(asset: Asset, root: str | os.PathLike[str]) -> Path:
    """Where a downloaded ``asset`` is kept in the cache ``root``: ``<algorithm>/<checksum>/``
    when its checksum is configured (the same file for every experiment and URL that name it),
    else ``url/<first 16 hex of the URL's sha256>/``, with the URL's file name."""
    assert asset.url is not None, "a local path is used where it is, never cached"
    name = url_file_name(asset.url)
    if asset.checksum is not None:
        algorithm, digest = asset.checksum
        return Path(root) / algorithm / digest / name
    return Path(root) / "url" / hashlib.sha256(asset.url.encode()).hexdigest()[:16] / name


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder of ``path`` (created if needed, nothing written in
    it): one download into that folder at a time, across the jobs and runs of the machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
    retries: int = 2,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    backoff: float = 1.0,
) -> Path:
    """Return a checked local copy of ``asset``.

    A local ``path`` is checked and returned as it is (never deleted, even on a mismatch). A
    ``url`` is downloaded to ``dest`` (e.g. :func:`cache_path`) unless ``dest`` already holds
    the right file (a present file without a configured checksum is downloaded again: it
    cannot be confirmed), under a lock on ``dest`` so that concurrent fetches download once. Network
    failures are tried ``retries`` more times; an unresponsive server fails after about
    (retries + 1) × read_timeout seconds.
    """
    if asset.path is not None:
        if not os.path.exists(asset.path):
            raise FileNotFoundError(f"{asset.path}: local file for {asset.name} does not exist")
        verify(asset.path, asset, asset.path)
        return Path(asset.path)
    assert asset.url is not None
    target = Path(dest)
    with locked(target):
        return _fetch_url(asset, target, retries, connect_timeout, read_timeout, backoff)


def _fetch_url(
    asset: Asset,
    target: Path,
    retries: int,
    connect_timeout: float,
    read_timeout: float,
    backoff: float,
) -> Path:
    """:func:`fetch` of a URL into ``target``, under its lock."""
    assert asset.url is not None
    if target.exists():
        if asset.checksum is not None:
            try:
                verify(target, asset, str(target))
                log.info("%s: %s is present and verified", asset.name, target)
                return target
            except ChecksumError:
                pass
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    client = _Client(connect_timeout, read_timeout)
    for fresh in (False, True):
        resumed = _download(client, asset, part, retries, backoff, fresh)
        try:
            verify(part, asset, asset.url)
            break
        except ChecksumError:
            _discard(part)
            if not resumed or fresh:
                raise
            log.warning(
                "%s: checksum mismatch after a resumed transfer; downloading anew", asset.url
            )
    _origin(part).unlink(missing_ok=True)
    os.replace(part, target)
    return target


def _download(
    client: _Client, asset: Asset, part: Path, retries: int, backoff: float, fresh: bool
) -> bool:
    """Download ``asset.url`` into ``part`` with retries; return whether any transfer resumed."""
    assert asset.url is not None
    if fresh:
        _discard(part)
    resumed = False
    for attempt in range(retries + 1):
        try:
            resumed |= client.transfer(asset.url, part, asset.name, asset.checksum is not None)
            return resumed
        except urllib.error.HTTPError as err:
            permanent = 400 <= err.code < 500 and err.code not in (408, 429)
            if permanent or attempt == retries:
                raise DownloadError(
                    f"{asset.url}: HTTP {err.code} {err.reason}", permanent=permanent
                ) from err
            reason = f"HTTP {err.code}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            if attempt == retries:
                raise DownloadError(
                    f"{asset.url}: failed after {retries + 1} tries ({_reason(err)})"
                ) from err
            reason = _reason(err)
        log.warning("%s: try %d failed (%s); retrying", asset.url, attempt + 1, reason)
        time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.URLError) and isinstance(err.reason, BaseException):
        err = err.reason
    if isinstance(err, TimeoutError):
        return f"timed out ({err or 'no answer'})"
    return str(err) or type(err).__name__


def _origin(part: Path) -> Path:
    """Where the validators of a ``.part``'s server response are kept."""
    return part.with_name(part.name + ".origin")


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _origin(part).unlink(missing_ok=True)


class _ReadTimeout:
    """Mixed into a connection: it connects within its ``timeout`` and then reads with
    ``read_timeout`` (for https, the timeout switches after the TLS handshake)."""

    sock: Any

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock.settimeout(self.read_timeout)


class _Connection(_ReadTimeout, http.client.HTTPConnection):
    """An HTTP connection with separate connect and read timeouts."""


class _SecureConnection(_ReadTimeout, http.client.HTTPSConnection):
    """An HTTPS connection with separate connect and read timeouts."""


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        conn = functools.partial(_Connection, read_timeout=self.read_timeout)
        return self.do_open(conn, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        conn = functools.partial(_SecureConnection, read_timeout=self.read_timeout)
        return self.do_open(conn, req, context=self._context)  # type: ignore[attr-defined]


class _Client:
    """Streams URLs into ``.part`` files with separate connect and read timeouts."""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self.opener = urllib.request.build_opener(
            _HTTPHandler(read_timeout), _HTTPSHandler(read_timeout)
        )

    def _resume_headers(self, url: str, part: Path, checked: bool) -> dict[str, str]:
        """Range (and If-Range) headers to continue ``part``, or {} after discarding it when
        its origin cannot be confirmed (see the module docstring)."""
        if not part.exists() or part.stat().st_size == 0:
            _discard(part)
            return {}
        try:
            origin = json.loads(_origin(part).read_text())
        except (OSError, ValueError):
            origin = {}
        validator = origin.get("etag") or origin.get("last_modified")
        if origin.get("url") != url or not (validator or checked):
            log.info("%s: discarding %s, whose origin cannot be confirmed", url, part.name)
            _discard(part)
            return {}
        headers = {"Range": f"bytes={part.stat().st_size}-"}
        if validator:
            headers["If-Range"] = validator
        return headers

    def transfer(self, url: str, part: Path, name: str, checked: bool) -> bool:
        """Stream ``url`` into ``part``, continuing it where its origin is confirmed; return
        whether the transfer resumed."""
        headers = self._resume_headers(url, part, checked)
        start = part.stat().st_size if headers else 0
        request = urllib.request.Request(url, headers=headers)
        try:
            resp = self.opener.open(request, timeout=self.connect_timeout)
        except urllib.error.HTTPError as err:
            if err.code == 416 and start:  # nothing left to send: the part is complete
                return True
            raise
        with resp:
            if start and (resp.status != 206 or not _range_starts_at(resp, start)):
                log.info("%s: the server sent the whole file (changed, or no ranges)", url)
                start = 0
            if not start:
                etag = resp.headers.get("ETag")
                _origin(part).write_text(
                    json.dumps(
                        {
                            "url": url,
                            "etag": etag if etag and not etag.startswith("W/") else None,
                            "last_modified": resp.headers.get("Last-Modified"),
                        }
                    )
                )
            self._stream(resp, part, start, name, url)
        return start > 0

    @staticmethod
    def _stream(
        resp: http.client.HTTPResponse, part: Path, start: int, name: str, url: str
    ) -> None:
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


def _range_starts_at(resp: http.client.HTTPResponse, start: int) -> bool:
    """Whether a 206 answer's Content-Range begins at byte ``start``."""
    content_range = resp.headers.get("Content-Range", "")
    return content_range.startswith(f"bytes {start}-")


def _recorded_file(record: dict[str, Any], manifest: str | os.PathLike[str]) -> Path:
    """The file a fetch manifest records, after checking that it is where a fetch puts it: a
    download inside the download cache (:func:`cache_root`, resolved, no symlink out of it), a
    local file at its configured path. Raises :class:`CorruptFileError` naming the manifest."""
    path, source = Path(record["path"]), str(record["source"])
    if source.startswith(("http://", "https://")):
        root = cache_root().resolve()
        if not (path.is_absolute() and path.resolve() == path and path.is_relative_to(root)):
            raise CorruptFileError(
                f"{manifest}: records the download of {source} at {path}, outside the download "
                f"cache {root} (an edited manifest, or ${CACHE_ENV} changed since the fetch): "
                f"nothing is read or deleted there; fetch it again with: snakemake --cores all "
                f"--forcerun {manifest}"
            )
    elif Path(source).resolve() != path:
        raise CorruptFileError(
            f"{manifest}: records {path} for the local file {source} configured as "
            f"{record['config_key']} (an edited manifest); record it again with: snakemake "
            f"--cores all --forcerun {manifest}"
        )
    return path


@contextmanager
def fetched(manifest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield the file recorded in a fetch manifest (``downloads/<name>.json``), checked to be
    where a fetch puts it (:func:`_recorded_file`) and against the sha256 recorded when it was
    fetched.

    A downloaded file with no published checksum is never kept after it failed: when the check
    fails, or the caller finds the file itself unreadable (a :class:`CorruptFileError`, such as
    a truncated transfer), the file and the manifest are deleted, so that the next run fetches
    it again. Any other error of the caller (a config key that does not fit a good file) leaves
    both in place. A local ``path`` is never deleted, nor anything outside the cache.
    """
    record = read_json(manifest)
    path, key = _recorded_file(record, manifest), record["config_key"]
    downloaded = str(record["source"]).startswith(("http://", "https://"))
    disposable = downloaded and not record["verified"]

    def fail(problem: str) -> CorruptFileError:
        if disposable:
            for stale in (path, Path(manifest), sidecar(manifest)):
                stale.unlink(missing_ok=True)
            problem += (
                f"; it has no published checksum, so the download and {manifest} were "
                "deleted: the next run fetches it again"
            )
        elif downloaded:
            problem += f"; fetch it again with: snakemake --cores all --forcerun {manifest}"
        return CorruptFileError(f"{path} ({key}): {problem}")

    if not path.is_file():
        raise fail(f"the file recorded in {manifest} is gone")
    actual = file_digest(path, "sha256")
    if actual != record["sha256"]:
        raise fail(f"sha256 {actual} differs from {record['sha256']} recorded when it was fetched")
    try:
        yield path
    except CorruptFileError as err:
        raise fail(f"unusable ({err})") from err
