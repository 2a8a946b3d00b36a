"""A real TCP listener on 127.0.0.1 that counts connections: proof that nothing was fetched."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest


class Listener:
    """Accept and count connections on a random loopback port; answer nothing, close at once."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str = "/schema.json") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def connect_once(listener: Listener) -> None:
    """Open one connection ourselves and wait until it is counted (the listener works)."""
    before = listener.connections
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5):
        pass
    for _ in range(200):
        if listener.connections > before:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the loopback listener did not see our own connection")
