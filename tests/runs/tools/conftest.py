"""Loopback HTTP test servers for the http_request tool: threaded, random ports, bounded waits."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

BIG = 2 * 1024 * 1024


class Recorder:
    """What a test server saw: one dict per request."""

    def __init__(self):
        self.requests = []
        self.answered = []  # routes of the slow answers that ran to their end
        self.release = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server_version = "TestServer"

    def log_message(self, format, *args):
        pass

    @property
    def recorder(self) -> Recorder:
        return self.server.recorder

    def _send(self, status=200, body=b"", content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location, status=302):
        self._send(status, b"", "text/plain", {"Location": location})

    def _handle(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.recorder.requests.append(
            {"method": method, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        route = self.path.split("?")[0]
        target = self.headers.get("X-Redirect-To", "")
        if route == "/json":
            self._send(200, json.dumps({"hello": "world", "n": [1, 2]}).encode())
        elif route == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif route == "/missing":
            self._send(404, b'{"detail": "nope"}')
        elif route == "/echo":
            echo = {"method": method, "body": body.decode(), "headers": dict(self.headers)}
            self._send(200, json.dumps(echo).encode())
        elif route == "/redirect":
            status = int(self.headers.get("X-Redirect-Status", "302"))
            self._redirect(target, status)
        elif route == "/loop":
            self._redirect("/loop")
        elif route == "/big":
            self._send(200, b"x" * BIG, "text/plain")
        elif route == "/big-no-length":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for _ in range(BIG // 65536):
                self.wfile.write(b"x" * 65536)
        elif route == "/hang":
            self.recorder.release.wait(5)
            self.recorder.answered.append(route)
        elif route == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                if self.recorder.release.wait(0.05):
                    break
                self.wfile.write(b"x")
                self.wfile.flush()
            self.recorder.answered.append(route)
        else:
            self._send(404, b"{}")

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up on purpose (size and time caps) are expected here


class TestServer:
    def __init__(self, host: str):
        self.recorder = Recorder()
        self.httpd = QuietServer((host, 0), Handler)
        self.httpd.recorder = self.recorder
        self.host, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def requests(self):
        return self.recorder.requests

    def stop(self):
        self.recorder.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def make_server():
    servers = []

    def make(host: str = "127.0.0.1") -> TestServer:
        server = TestServer(host)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()
