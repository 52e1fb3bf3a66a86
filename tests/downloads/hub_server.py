"""A Hugging Face hub on 127.0.0.1, as far as `hf_hub_download` needs one, for the download
tests (no test may reach the real hub).

It answers HEAD and GET of `/{repo}/resolve/{revision}/{file}` as the hub does for an LFS
file: `X-Repo-Commit`, `ETag` (the file's sha256, or a git-style id), `X-Linked-Size` and
`Content-Length`, `Accept-Ranges`, and `Range` requests with 206 / `Content-Range`. A file's
bytes may be generated on the fly (`HubFile.generated`), so a 1 GB file is never held in
memory on either side. Faults are per file: cut the first transfer after N bytes, answer a
status, stall the HEAD or the body, redirect to another address. Requests made through it as
an HTTP proxy (absolute URLs in the request line) are served too and marked as proxied.
Every request is logged in `HubServer.requests`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BLOCK = 1024 * 1024


@dataclass
class HubFile:
    size: int
    read: Callable[[int, int], bytes]  # (offset, length) → bytes
    sha256: str
    etag: str | None = None  # default: the sha256 (an LFS file)
    commit: str = COMMIT
    cut_after: int | None = None  # the first GET sends this many bytes, then hangs up
    status: int | None = None  # answer HEAD and GET with this status
    error_code: str | None = None  # X-Error-Code with the status (EntryNotFound, GatedRepo …)
    stall_head_s: float = 0.0
    stall_body_s: float = 0.0  # GET sends its headers, then waits this long before the body
    redirect_to: str | None = None  # absolute URL: HEAD and GET answer 302 there
    piece_delay_s: float = 0.0  # a slow line: this pause after every 256 KiB sent
    gets: int = 0

    @classmethod
    def of(cls, data: bytes, **kwargs: Any) -> HubFile:
        return cls(
            len(data), lambda o, n: data[o : o + n], hashlib.sha256(data).hexdigest(), **kwargs
        )

    @classmethod
    def generated(cls, size: int, seed: int = 1, **kwargs: Any) -> HubFile:
        """`size` bytes made of one pseudo-random 1 MiB block repeated with a counter, made on
        demand; the sha256 is computed by streaming them once."""
        import random

        block = random.Random(seed).randbytes(BLOCK)

        def read(offset: int, length: int) -> bytes:
            out = bytearray()
            while length > 0 and offset < size:
                index, start = divmod(offset, BLOCK)
                piece = block[start : start + min(length, BLOCK - start, size - offset)]
                piece = bytes([index % 251]) + piece[1:] if start == 0 and piece else piece
                out += piece
                offset += len(piece)
                length -= len(piece)
            return bytes(out)

        digest = hashlib.sha256()
        for offset in range(0, size, BLOCK):
            digest.update(read(offset, BLOCK))
        return cls(size, read, digest.hexdigest(), **kwargs)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    proxied: bool = False


@dataclass
class HubServer:
    files: dict[tuple[str, str], HubFile] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, repo: str, file: str, hub_file: HubFile) -> HubFile:
        self.files[(repo, file)] = hub_file
        return hub_file

    def gets(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET"]

    def start(self) -> HubServer:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                raw = self.path
                proxied = raw.startswith("http://")
                path = urlsplit(raw).path if proxied else raw.split("?", 1)[0]
                hub.requests.append(
                    Request(
                        self.command, path, {k.lower(): v for k, v in self.headers.items()}, proxied
                    )
                )
                parts = unquote(path).lstrip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    self._status(404, "RepoNotFound")
                    return
                repo, file = "/".join(parts[:2]), "/".join(parts[4:])
                found = hub.files.get((repo, file))
                if found is None:
                    self._status(
                        404,
                        "EntryNotFound" if any(r == repo for r, _ in hub.files) else "RepoNotFound",
                    )
                    return
                self._serve(found, body)

            def _status(self, code: int, error_code: str | None) -> None:
                self.send_response(code)
                if error_code:
                    self.send_header("X-Error-Code", error_code)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _serve(self, f: HubFile, body: bool) -> None:
                if f.stall_head_s and not body:
                    time.sleep(f.stall_head_s)
                if f.status is not None:
                    self._status(f.status, f.error_code)
                    return
                etag = f.etag or f.sha256
                if f.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", f.redirect_to)
                    self.send_header("X-Repo-Commit", f.commit)
                    self.send_header("X-Linked-Etag", f'"{etag}"')
                    self.send_header("X-Linked-Size", str(f.size))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end = 0, f.size - 1
                ranged = self.headers.get("Range", "")
                if ranged.startswith("bytes="):
                    first, _, last = ranged[6:].partition("-")
                    start = int(first or 0)
                    end = int(last) if last else f.size - 1
                length = max(end - start + 1, 0)
                self.send_response(206 if ranged else 200)
                self.send_header("X-Repo-Commit", f.commit)
                self.send_header("ETag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(f.size))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(length))
                if ranged:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
                self.end_headers()
                if not body:
                    return
                f.gets += 1
                limit = f.cut_after if (f.cut_after is not None and f.gets == 1) else None
                if f.stall_body_s:
                    time.sleep(f.stall_body_s)
                sent = 0
                try:
                    for piece in _pieces(f, start, length):
                        if limit is not None and sent + len(piece) >= limit:
                            self.wfile.write(piece[: limit - sent])
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        self.wfile.write(piece)
                        sent += len(piece)
                        if f.piece_delay_s:
                            time.sleep(f.piece_delay_s)
                except (BrokenPipeError, ConnectionResetError):
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _pieces(f: HubFile, start: int, length: int) -> Iterator[bytes]:
    offset, end = start, start + length
    while offset < end:
        piece = f.read(offset, min(256 * 1024, end - offset))
        if not piece:
            return
        yield piece
        offset += len(piece)
