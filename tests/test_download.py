"""The download mechanism against a real HTTP server on 127.0.0.1 that the test starts."""

from __future__ import annotations

import hashlib
import http.server
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from enfopath.download import Asset, ChecksumError, DownloadError, fetch

PAYLOAD = bytes(range(256)) * 4000  # about 1 MB


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with Range support; ``cut`` paths send half their body, once."""

    files: ClassVar[dict[str, bytes]] = {}
    cut: ClassVar[set[str]] = set()
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Range")))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
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
    caplog.set_level(logging.INFO, logger="enfopath.download")
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
    with pytest.raises(DownloadError, match=r"/missing\.bin: HTTP 404"):
        fetch(_asset(f"{base}/missing.bin"), tmp_path / "m.bin")
    assert len(handler.seen) == 1  # a client error is not retried


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
