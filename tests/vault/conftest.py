"""Fixtures for the vault's tests: a loopback service that records what flows send it, and a
workspace with a flow calling it with a credential, then a prompt on a workspace provider."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from builder.models import Flow
from tests.runs.support import fast_passwords, inline, memory_layer  # noqa: F401 - fixtures


class Receiver:
    """An HTTP service on loopback that answers with what it received (path and headers)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # quiet
                pass

            def do_GET(self):
                seen = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
                receiver.received.append(seen)
                body = json.dumps({"echo": seen}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def loopback_allowed(settings):
    """Let the HTTP tool and workspace providers reach the test servers on 127.0.0.1."""
    settings.SWITCHBOARD_ALLOW_LOOPBACK = True


def node(node_id: str, node_type: str, config: dict, x: int = 0) -> dict:
    return {"id": node_id, "type": node_type, "position": {"x": x, "y": 0}, "config": config}


def chain_graph(*nodes: dict) -> dict:
    edges = [
        {"id": f"e{i}", "source": a["id"], "target": b["id"]}
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
    ]
    return {"schema_version": 1, "nodes": list(nodes), "edges": edges}


def weather_graph(receiver_url: str, model: str) -> dict:
    """Input → an HTTP call carrying the credential in a header and the URL → a prompt on
    `model` that reads the call's result → Output."""
    return chain_graph(
        node(
            "start",
            "input",
            {"schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        ),
        node(
            "weather",
            "tool",
            {
                "tool": "http_request",
                "arguments": {
                    "url": receiver_url
                    + "/weather?city={{ inputs.city }}&key={{ secrets.weather_api }}",
                    "headers": {"Authorization": "Bearer {{ secrets.weather_api }}"},
                },
            },
            200,
        ),
        node(
            "summary",
            "prompt",
            {"model": model, "prompt": "Summarise: {{ nodes.weather.output | tojson }}"},
            400,
        ),
        node("end", "output", {}, 600),
    )


@pytest.fixture
def make_flow(workspace):
    def make(graph: dict, name: str = "Weather") -> Flow:
        return Flow.objects.create(workspace=workspace, name=name, graph=graph)

    return make
