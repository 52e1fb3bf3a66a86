"""A network guard for the offline tests: every attempt to reach the network is recorded and
fails, as it would on a machine with no connection.

In-process, `block_network(record)` patches Python's socket entry points (connect, connect_ex,
create_connection, getaddrinfo) and returns a function that puts them back. As a script it
guards a fresh interpreter from its first line, before huggingface_hub or transformers are
imported, and appends each attempt to a log file (written at once, so a crash keeps it):

    python tests/robustness/offline_guard.py ATTEMPTS.log SCRIPT.py [ARGS...]

Native code that opens sockets without Python (a C++ or Rust HTTP client) is not seen here;
the subprocess test adds a network namespace with no interfaces where the system allows one.
"""

from __future__ import annotations

import errno
import runpy
import socket
import sys
from collections.abc import Callable
from typing import Any

Record = Callable[[str], None]


class NetworkBlocked(OSError):
    """Raised instead of reaching the network (an OSError, as a real offline failure is)."""

    def __init__(self, what: str) -> None:
        super().__init__(errno.ENETUNREACH, f"network blocked by the offline test: {what}")


def block_network(record: Record) -> Callable[[], None]:
    """Make every socket connection and name lookup call `record(description)` and raise
    `NetworkBlocked`. Returns the function that restores the originals."""
    originals: dict[tuple[Any, str], Any] = {
        (socket.socket, "connect"): socket.socket.connect,
        (socket.socket, "connect_ex"): socket.socket.connect_ex,
        (socket, "create_connection"): socket.create_connection,
        (socket, "getaddrinfo"): socket.getaddrinfo,
    }

    def refuse(what: str) -> NetworkBlocked:
        record(what)
        return NetworkBlocked(what)

    def connect(self: socket.socket, address: Any) -> None:
        raise refuse(f"socket.connect {address!r} (family {self.family!r})")

    def connect_ex(self: socket.socket, address: Any) -> int:
        raise refuse(f"socket.connect_ex {address!r} (family {self.family!r})")

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        raise refuse(f"socket.create_connection {address!r}")

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        raise refuse(f"socket.getaddrinfo {host!r} {port!r}")

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.create_connection = create_connection  # type: ignore[assignment]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]

    def restore() -> None:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)

    return restore


def _run_guarded(log_path: str, script: str, args: list[str]) -> None:
    def record(what: str) -> None:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(what.replace("\n", " ") + "\n")

    block_network(record)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: offline_guard.py ATTEMPTS.log SCRIPT.py [ARGS...]")
    _run_guarded(sys.argv[1], sys.argv[2], sys.argv[3:])
