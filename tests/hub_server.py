"""A local stand-in for the Hugging Face hub's file endpoint, for download tests.

It serves ``HEAD``/``GET /{owner}/{repo}/resolve/{revision}/{filename}`` with the headers
``huggingface_hub.hf_hub_download`` relies on: ``X-Repo-Commit`` (the resolved commit),
``ETag``/``X-Linked-Etag`` (the LFS content address, the file's sha256), ``X-Linked-Size`` and
``Content-Length``; unknown repos, revisions and files get 404 with the hub's ``X-Error-Code``.
Every request is recorded, so a test can assert that a cache hit made no download.

Use the ``hub_server`` fixture (``from tests.hub_server import hub_server_fixture``) and :meth:`HubStandIn.env` for a subprocess environment::

    def test_download(hub_server, tmp_path):
        commit = hub_server.add_file("org/tiny", "model.onnx", data)
        env = hub_server.env(tmp_path)
"""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class HubFile:
    content: bytes
    etag: str  # what the hub advertises as the content address (normally the sha256)


class HubStandIn:
    """Files by (repo, commit, filename); branch names map to commits per repo."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str, str], HubFile] = {}
        self.refs: dict[str, dict[str, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_file(
        self,
        repo: str,
        filename: str,
        content: bytes,
        *,
        commit: str | None = None,
        branch: str = "main",
        etag: str | None = None,
    ) -> str:
        """Publish ``content``; returns the 40-hex commit it lives at (derived if not given).
        ``etag`` overrides the advertised content address (to simulate a corrupt transfer)."""
        commit = commit or hashlib.sha1(f"{repo}/{filename}".encode() + content).hexdigest()
        with self._lock:
            self.files[(repo, commit, filename)] = HubFile(
                content, etag or hashlib.sha256(content).hexdigest()
            )
            self.refs.setdefault(repo, {})[branch] = commit
        return commit

    def gets(self, filename: str | None = None) -> list[str]:
        """Paths of the GET requests seen (optionally only those for ``filename``)."""
        return [
            p for m, p in self.requests if m == "GET" and (filename is None or p.endswith(filename))
        ]

    def env(self, tmp_path: Path, **extra: str) -> dict[str, str]:
        """An environment for a subprocess that talks to this stand-in with an isolated cache."""
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        env.pop("HF_HUB_OFFLINE", None)
        env.pop("HF_TOKEN", None)
        env.update(
            HF_ENDPOINT=self.url,
            HF_HOME=str(tmp_path / "hf-home"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
            NO_PROXY="127.0.0.1,localhost",
        )
        env.update(extra)
        return env

    def _resolve(self, path: str) -> tuple[int, dict[str, str], bytes]:
        marker = "/resolve/"
        if marker not in path:
            return 404, {"X-Error-Code": "EntryNotFound"}, b"not found"
        repo, rest = path.lstrip("/").split(marker, 1)
        revision, _, filename = rest.partition("/")
        revision = urllib.parse.unquote(revision)
        filename = urllib.parse.unquote(filename)
        with self._lock:
            refs = self.refs.get(repo)
            if refs is None:
                return 404, {"X-Error-Code": "RepoNotFound"}, b"repository not found"
            commits = {c for (r, c, _f) in self.files if r == repo}
            commit = refs.get(revision, revision if revision in commits else None)
            if commit is None:
                return 404, {"X-Error-Code": "RevisionNotFound"}, b"revision not found"
            entry = self.files.get((repo, commit, filename))
        if entry is None:
            return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit}, b"no entry"
        headers = {
            "X-Repo-Commit": commit,
            "ETag": f'"{entry.etag}"',
            "X-Linked-Etag": f'"{entry.etag}"',
            "X-Linked-Size": str(len(entry.content)),
            "Content-Type": "application/octet-stream",
        }
        return 200, headers, entry.content

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, with_body: bool) -> None:
                hub.requests.append((self.command, self.path))
                status, headers, body = hub._resolve(urllib.parse.urlsplit(self.path).path)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                self._reply(with_body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._reply(with_body=True)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        return Handler


@pytest.fixture(name="hub_server")
def hub_server_fixture() -> Iterator[HubStandIn]:
    """A running :class:`HubStandIn` on a free local port."""
    hub = HubStandIn().start()
    try:
        yield hub
    finally:
        hub.stop()
