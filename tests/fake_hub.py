"""A Hugging Face hub on 127.0.0.1 serving one folder as one repository, for the hub client's
real downloads in tests: the revision and tree endpoints of the API and the ``resolve`` files,
each request recorded with its Authorization header; with ``token`` set it answers as a gated
repository does to any request without that token (401, ``X-Error-Code: GatedRepo``)."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import urllib.parse
from pathlib import Path


class FakeHub:
    def __init__(self, folder: Path, repo: str, sha: str = "a" * 40, token: str | None = None):
        self.folder, self.repo, self.sha, self.token = Path(folder), repo, sha, token
        self.files = sorted(
            str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file()
        )
        self.requests: list[tuple[str, str, str | None]] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fetched(self) -> set[str]:
        """The repository files whose content was sent (GET of a resolve URL)."""
        prefix = f"/{self.repo}/resolve/"
        return {
            urllib.parse.unquote(path[len(prefix) :].split("/", 1)[1])
            for method, path, _ in self.requests
            if method == "GET" and path.startswith(prefix)
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, method: str, path: str, auth: str | None) -> tuple[int, bytes, dict]:
        self.requests.append((method, path, auth))
        if self.token and auth != f"Bearer {self.token}":
            return 401, b'{"error": "gated"}', {"X-Error-Code": "GatedRepo"}
        api = f"/api/models/{self.repo}/"
        if path.startswith(api + "revision/"):
            siblings = [{"rfilename": f} for f in self.files]
            body = {"id": self.repo, "sha": self.sha, "siblings": siblings}
            return 200, json.dumps(body).encode(), {"Content-Type": "application/json"}
        if path.startswith(api + "tree/"):
            entries = [
                {
                    "type": "file",
                    "path": f,
                    "size": (self.folder / f).stat().st_size,
                    "oid": self._oid(f),
                }
                for f in self.files
            ]
            return 200, json.dumps(entries).encode(), {"Content-Type": "application/json"}
        prefix = f"/{self.repo}/resolve/"
        if path.startswith(prefix):
            name = urllib.parse.unquote(path[len(prefix) :].split("/", 1)[1])
            if name not in self.files:
                return 404, b"", {"X-Error-Code": "EntryNotFound"}
            data = (self.folder / name).read_bytes()
            return 200, data, {"X-Repo-Commit": self.sha, "ETag": f'"{self._oid(name)}"'}
        return 404, b"", {"X-Error-Code": "RepoNotFound"}

    def _oid(self, name: str) -> str:
        return hashlib.sha1((self.folder / name).read_bytes()).hexdigest()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, head: bool) -> None:
                path = urllib.parse.urlparse(self.path).path
                code, body, headers = hub._answer(
                    self.command, path, self.headers.get("Authorization")
                )
                self.send_response(code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._reply(False)

            def do_HEAD(self) -> None:
                self._reply(True)

        return Handler
