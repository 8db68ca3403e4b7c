"""The download mechanism against a real HTTP server on 127.0.0.1 that the test starts."""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from enfopath.study.download import Asset, ChecksumError, DownloadError, fetch

PAYLOAD = bytes(range(256)) * 4000  # about 1 MB


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with Range and If-Range support (strong ETag: the content's sha256);
    ``cut`` paths send half their body, once; ``validators`` False sends no ETag."""

    files: ClassVar[dict[str, bytes]] = {}
    cut: ClassVar[set[str]] = set()
    seen: ClassVar[list[tuple[str, str | None]]] = []
    if_range: ClassVar[list[str | None]] = []
    validators: ClassVar[bool] = True

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Range")))
        self.if_range.append(self.headers.get("If-Range"))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        start = 0
        rng = self.headers.get("Range")
        if rng and self.headers.get("If-Range") not in (None, etag):
            rng = None  # the file changed: send all of it
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        if self.validators:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in self.cut:
            self.cut.discard(self.path)
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    _Handler.files = {"/data.bin": PAYLOAD}
    _Handler.cut = set()
    _Handler.seen = []
    _Handler.if_range = []
    _Handler.validators = True
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()


def _asset(url: str, **checksum: str) -> Asset:
    if not checksum:
        checksum = {"sha256": hashlib.sha256(PAYLOAD).hexdigest()}
    return Asset(name="data", url=url, **checksum)


def test_download_verifies_and_logs(server, tmp_path, caplog):
    base, handler = server
    caplog.set_level(logging.INFO, logger="enfopath.study.download")
    out = fetch(_asset(f"{base}/data.bin"), tmp_path / "d" / "data.bin")
    assert out.read_bytes() == PAYLOAD
    assert "bytes received" in caplog.text
    assert list(out.parent.iterdir()) == [out]
    fetch(_asset(f"{base}/data.bin"), out)  # present and verified: no second request
    assert len(handler.seen) == 1


def test_md5_is_accepted(server, tmp_path):
    base, _ = server
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    assert fetch(_asset(f"{base}/data.bin", md5=md5), tmp_path / "x").read_bytes() == PAYLOAD


def test_broken_transfer_resumes_with_a_range_request(server, tmp_path):
    base, handler = server
    handler.cut = {"/data.bin"}
    out = fetch(_asset(f"{base}/data.bin"), tmp_path / "data.bin", backoff=0.01)
    assert out.read_bytes() == PAYLOAD
    assert handler.seen == [("/data.bin", None), ("/data.bin", f"bytes={len(PAYLOAD) // 2}-")]
    assert handler.if_range[1] is not None  # the first answer's ETag confirms the part
    assert not (tmp_path / "data.bin.part.origin").exists()


def test_a_part_from_a_changed_file_is_not_spliced(server, tmp_path):
    """The server's file changes between the cut and the resume: If-Range gets it whole."""
    base, handler = server
    handler.cut = {"/data.bin"}
    asset = Asset(name="data", url=f"{base}/data.bin")  # no checksum: only If-Range protects
    with pytest.raises(DownloadError):
        fetch(asset, tmp_path / "data.bin", retries=0)
    new = PAYLOAD[::-1]
    handler.files["/data.bin"] = new
    assert fetch(asset, tmp_path / "data.bin").read_bytes() == new
    assert handler.seen[-1][1] is not None and handler.if_range[-1] is not None


@pytest.mark.parametrize("origin", ["none", "other_url", "no_validator"])
def test_a_part_whose_origin_cannot_be_confirmed_is_discarded(server, tmp_path, origin):
    base, handler = server
    part = tmp_path / "data.bin.part"
    part.write_bytes(b"stale bytes of some other file")
    if origin != "none":
        url = f"{base}/other.bin" if origin == "other_url" else f"{base}/data.bin"
        (tmp_path / "data.bin.part.origin").write_text(
            f'{{"url": "{url}", "etag": null, "last_modified": null}}'
        )
    asset = Asset(name="data", url=f"{base}/data.bin")  # unverified: nothing checks a splice
    assert fetch(asset, tmp_path / "data.bin").read_bytes() == PAYLOAD
    assert handler.seen == [("/data.bin", None)]


def test_a_checked_part_resumes_without_validators_and_a_bad_splice_is_refetched(server, tmp_path):
    """Without ETag/Last-Modified a .part is resumed only because the checksum checks the
    result; a wrong splice fails it and the file is downloaded once more from the start."""
    base, handler = server
    handler.validators = False
    part = tmp_path / "data.bin.part"
    part.write_bytes(b"x" * 1000)
    (tmp_path / "data.bin.part.origin").write_text(
        f'{{"url": "{base}/data.bin", "etag": null, "last_modified": null}}'
    )
    assert fetch(_asset(f"{base}/data.bin"), tmp_path / "data.bin").read_bytes() == PAYLOAD
    assert handler.seen == [("/data.bin", "bytes=1000-"), ("/data.bin", None)]


def test_checksum_mismatch_deletes_and_names_both_hashes(server, tmp_path):
    base, _ = server
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as err:
        fetch(_asset(f"{base}/data.bin", sha256=wrong), tmp_path / "data.bin")
    assert wrong in str(err.value) and hashlib.sha256(PAYLOAD).hexdigest() in str(err.value)
    assert f"{base}/data.bin" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_http_404_names_url_and_status(server, tmp_path):
    base, handler = server
    with pytest.raises(DownloadError, match=r"/missing\.bin: HTTP 404") as err:
        fetch(_asset(f"{base}/missing.bin"), tmp_path / "m.bin")
    assert len(handler.seen) == 1  # a client error is not retried
    assert err.value.permanent


def test_a_present_unverified_file_is_fetched_again(server, tmp_path):
    base, handler = server
    (tmp_path / "data.bin").write_bytes(b"left over from an earlier run")
    asset = Asset(name="data", url=f"{base}/data.bin")
    assert fetch(asset, tmp_path / "data.bin").read_bytes() == PAYLOAD
    assert len(handler.seen) == 1


def test_an_unresponsive_server_fails_on_the_read_timeout(tmp_path):
    """A server that accepts connections and never answers: each try ends after the read
    timeout, not the (longer) connect timeout; the error says it timed out."""
    import socket
    import time

    with socket.socket() as s:  # listening, never accepting: connect works, nothing is sent
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/x"
        start = time.monotonic()
        with pytest.raises(DownloadError, match=r"failed after 2 tries \(timed out"):
            fetch(
                _asset(url),
                tmp_path / "x",
                retries=1,
                backoff=0.01,
                read_timeout=0.3,
                connect_timeout=5.0,
            )
        assert time.monotonic() - start < 5.0  # two reads of 0.3 s, not two connects of 5 s


def test_file_urls_are_refused():
    with pytest.raises(ValueError, match="not http"):
        Asset(name="a", url="file:///etc/hostname", md5="0" * 32)


def test_a_url_with_credentials_is_refused_without_showing_them():
    """urllib does not send user:secret@ (it looks the whole "user:secret@host" up as a host
    name), and a manifest or log would keep the secret: refused, by the config check and by
    the asset, and the error shows the URL without it."""
    from enfopath.study.config import ConfigError, validate_config

    url = "https://alice:s3cret@127.0.0.1/c.tar.gz"
    with pytest.raises(ValueError, match=r"https://…@127\.0\.0\.1/c\.tar\.gz carries") as err:
        Asset(name="data", url=url, md5="0" * 32)
    assert "s3cret" not in str(err.value) and "alice" not in str(err.value)
    config = {"experiment": "x", "data": {"dataset": "cifar10", "source": {"url": url}}}
    with pytest.raises(ConfigError, match=r"'data\.source\.url': .*credentials") as err:
        validate_config(config)
    assert "s3cret" not in str(err.value)


@pytest.mark.parametrize("tail", ["/..", "/a/../.."])
def test_a_url_path_without_a_file_name_is_kept_inside_its_cache_folder(server, tmp_path, tail):
    from enfopath.study.download import cache_path

    base, handler = server
    handler.files[f"/files{tail}"] = PAYLOAD
    asset = _asset(f"{base}/files{tail}")
    dest = cache_path(asset, tmp_path / "cache")
    assert dest.name == "download" and dest.parent.name == asset.checksum[1]
    out = fetch(asset, dest)
    assert out.is_file() and out.read_bytes() == PAYLOAD
    assert out.resolve().parent == (tmp_path / "cache" / "sha256" / asset.checksum[1]).resolve()


def test_local_path_is_checked_and_never_deleted(tmp_path):
    local = tmp_path / "local.bin"
    local.write_bytes(PAYLOAD)
    good = Asset(name="data", path=str(local), sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert fetch(good, tmp_path / "unused") == local
    bad = Asset(name="data", path=str(local), md5="f" * 32)
    with pytest.raises(ChecksumError, match=str(local)):
        fetch(bad, tmp_path / "unused")
    assert local.exists()
    with pytest.raises(FileNotFoundError, match="nope"):
        fetch(Asset(name="d", path=str(tmp_path / "nope"), md5="f" * 32), tmp_path / "u")


def test_asset_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        Asset(name="a", url="http://127.0.0.1/x", path="/x", md5="0")
    with pytest.raises(ValueError, match="exactly one"):
        Asset(name="a")


def test_unpinned_asset_is_fetched_with_a_warning_naming_its_sha256(server, tmp_path, caplog):
    asset = Asset(name="data", url=f"{server[0]}/data.bin")
    with caplog.at_level("WARNING"):
        path = fetch(asset, tmp_path / "data.bin")
    assert path.read_bytes() == PAYLOAD
    assert hashlib.sha256(PAYLOAD).hexdigest() in caplog.text


def test_unreachable_server_fails_after_retries(tmp_path):
    import socket

    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="failed after 2 tries"):
        fetch(_asset(f"http://127.0.0.1:{port}/x"), tmp_path / "x", retries=1, backoff=0.01)
    assert not Path(tmp_path / "x").exists()


def _manifest(tmp_path: Path, path: Path, verified: bool, source: str) -> Path:
    from enfopath.io import write_json

    manifest = tmp_path / "downloads" / "data.json"
    write_json(
        manifest,
        {
            "config_key": "data.source",
            "source": source,
            "path": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "verified": verified,
        },
    )
    return manifest


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """The download cache of this test ($ENFOPATH_CACHE)."""
    from enfopath.study.download import CACHE_ENV

    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


def _cached(cache: Path, payload: bytes = b"not a tarball") -> Path:
    path = cache / "url" / "0123456789abcdef" / "c.tar.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    return path.resolve()


def test_an_unverified_download_that_fails_downstream_is_not_kept(tmp_path, cache):
    from enfopath.io import CorruptFileError
    from enfopath.study.download import fetched

    path = _cached(cache)
    manifest = _manifest(tmp_path, path, verified=False, source="http://127.0.0.1/c.tar.gz")
    unusable = r"c\.tar\.gz \(data\.source\): unusable .*deleted"
    with pytest.raises(CorruptFileError, match=unusable), fetched(manifest):
        raise CorruptFileError("not a readable tarball")
    assert not path.exists() and not manifest.exists()


def test_a_config_error_while_reading_a_download_keeps_it(tmp_path, cache):
    """A typo'd key (a good file, a config that does not fit it) deletes nothing from the
    shared cache: only the file's own failure does."""
    from enfopath.models.plugin import PluginError
    from enfopath.study.download import fetched

    path = _cached(cache)
    manifest = _manifest(tmp_path, path, verified=False, source="http://127.0.0.1/c.tar.gz")
    with pytest.raises(PluginError, match="no entry"), fetched(manifest):
        raise PluginError("flow.plugin.key: no entry 'emaa'")
    assert path.exists() and manifest.exists()


@pytest.mark.parametrize("where", ["outside", "symlink", "relative"])
def test_a_manifest_pointing_outside_the_cache_is_refused_and_nothing_deleted(
    tmp_path, cache, where
):
    """An edited manifest (its sidecar recomputed) that records another file: the error names
    the manifest, and that file is neither read nor deleted, even when it fails."""
    from enfopath.io import CorruptFileError
    from enfopath.study.download import fetched

    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    path = {
        "outside": victim,
        "symlink": cache / "url" / "link",
        "relative": Path("c.tar.gz"),
    }[where]
    if where == "symlink":
        path.parent.mkdir(parents=True)
        path.symlink_to(victim)
    manifest = _manifest(tmp_path, victim, verified=False, source="http://127.0.0.1/c.tar.gz")
    record = json.loads(manifest.read_text())
    record["path"] = str(path)
    from enfopath.io import write_json

    write_json(manifest, record)
    outside = r"data\.json: records .* outside the download"
    with pytest.raises(CorruptFileError, match=outside), fetched(manifest):
        raise CorruptFileError("unreadable")
    assert victim.read_text() == "keep me" and manifest.exists()


def test_a_verified_or_local_asset_is_kept_and_a_changed_one_named(tmp_path):
    from enfopath.io import CorruptFileError
    from enfopath.study.download import fetched

    local = (tmp_path / "mine.bin").resolve()
    local.write_bytes(PAYLOAD)
    manifest = _manifest(tmp_path, local, verified=False, source=str(local))
    with pytest.raises(CorruptFileError, match="unusable"), fetched(manifest) as p:
        assert p == local
        raise CorruptFileError("bad")
    assert local.exists() and manifest.exists()  # a local path is never deleted
    local.write_bytes(PAYLOAD[:-1])
    changed = r"differs from .* recorded when it was fetched"
    with pytest.raises(CorruptFileError, match=changed), fetched(manifest):
        pass
