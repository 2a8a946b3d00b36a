"""A scriptable OpenAI-compatible chat (and embeddings) server on loopback, for tests and demos.

    with ScriptedLLM() as llm:
        llm.script(http_error(429, retry_after=2), text("Hello"))
        llm.on("weather", tool_call("get_weather", {"city": "Oslo"}))
        client = openai.OpenAI(base_url=llm.base_url, api_key="x")
        ...
        assert llm.call_count == 2

A request is answered by the first matching rule (`.on`), else the next queued reply
(`.script`), else the default behaviour: a forced function is called with arguments generated from
its JSON schema, a JSON response format gets a document generated from its schema, anything else
gets "Scripted reply: <start of the last user message>".

`/v1/embeddings` answers with `embed_text` vectors (a hashed bag of words: deterministic, texts
sharing words are near); its requests are kept apart (`embedding_requests`, `embedded_texts`) so
chat call counts are unchanged. `script_embeddings` queues errors or delays for it.

Standalone, serving the default behaviour: `python -m tests.llmserver --port 8089`.
Stdlib only: Celery workers and browser tests talk to it over real HTTP.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Request = dict[str, Any]


@dataclass
class Reply:
    """One scripted answer. Build it with the helpers below rather than directly."""

    kind: str  # "message", "error", "reset", "cut" or "hang"
    content: str | None = None
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)
    refusal: str | None = None
    finish_reason: str = "stop"
    latency: float = 0.0
    usage: dict[str, int] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    cut_after: int = 2
    hang_seconds: float = 30.0


Responder = Reply | Callable[[Request], Reply]


def text(
    content: str,
    *,
    latency: float = 0.0,
    usage: dict[str, int] | None = None,
    finish_reason: str = "stop",
) -> Reply:
    """Reply with assistant text."""
    return Reply(
        "message", content=content, latency=latency, usage=usage, finish_reason=finish_reason
    )


def json_reply(
    document: Any, *, latency: float = 0.0, usage: dict[str, int] | None = None
) -> Reply:
    """Reply with a JSON document as the assistant text."""
    return text(json.dumps(document), latency=latency, usage=usage)


def tool_call(
    name: str,
    arguments: dict[str, Any] | str | None = None,
    *,
    latency: float = 0.0,
    usage: dict[str, int] | None = None,
) -> Reply:
    """Reply with one function call; `arguments` as a string is sent raw (may be malformed)."""
    return tool_calls(
        (name, arguments if arguments is not None else {}), latency=latency, usage=usage
    )


def tool_calls(
    *calls: tuple[str, dict[str, Any] | str],
    latency: float = 0.0,
    usage: dict[str, int] | None = None,
) -> Reply:
    """Reply with several function calls, each `(name, arguments)`."""
    return Reply(
        "message", tool_calls=list(calls), finish_reason="tool_calls", latency=latency, usage=usage
    )


def refusal(message: str = "I can't help with that.", *, latency: float = 0.0) -> Reply:
    """Reply with `message.refusal` set and no content."""
    return Reply("message", refusal=message, latency=latency)


def truncated(content: str = "The answer was cut off because", *, latency: float = 0.0) -> Reply:
    """Reply with partial text and finish_reason "length"."""
    return text(content, latency=latency, finish_reason="length")


def http_error(
    status: int,
    *,
    retry_after: float | str | None = None,
    body: Any = None,
    message: str | None = None,
    latency: float = 0.0,
) -> Reply:
    """Reply with an HTTP error status, an optional Retry-After header and an OpenAI-style body."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if body is None:
        body = {
            "error": {
                "message": message or f"Scripted error {status}",
                "type": "server_error" if status >= 500 else "invalid_request_error",
                "code": None,
            }
        }
    return Reply("error", status=status, headers=headers, body=body, latency=latency)


def connection_reset(*, latency: float = 0.0) -> Reply:
    """Close the socket (with a TCP reset) without replying."""
    return Reply("reset", latency=latency)


def stream_cut(
    content: str = "This answer stops half way through the", *, after_chunks: int = 2
) -> Reply:
    """Start answering, then close the connection: SSE without a finish or [DONE]."""
    return Reply("cut", content=content, cut_after=after_chunks)


def hang(seconds: float = 30.0) -> Reply:
    """Accept the request and say nothing for `seconds` (longer than the client's timeout)."""
    return Reply("hang", hang_seconds=seconds)


# ---- default behaviour -------------------------------------------------------------------------

_ALWAYS_FILLED = {"route", "reason", "score", "feedback"}


def example_from_schema(
    schema: Any, *, name: str = "", root: dict[str, Any] | None = None, depth: int = 0
) -> Any:
    """Build a minimal document valid against `schema` (enough for demos, not a validator)."""
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    if not isinstance(schema, dict) or depth > 12:
        return "example"
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return example_from_schema(target, name=name, root=root, depth=depth + 1)
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(key, []) if s.get("type") != "null"]
        if options:
            return example_from_schema(options[0], name=name, root=root, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = schema.get("properties", {})
        wanted = set(schema.get("required", [])) | _ALWAYS_FILLED
        return {
            key: example_from_schema(sub, name=key, root=root, depth=depth + 1)
            for key, sub in properties.items()
            if key in wanted
        }
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        item = example_from_schema(schema.get("items", {}), name=name, root=root, depth=depth + 1)
        return [item] * count
    if kind in ("number", "integer"):
        value: float = 0.9 if name == "score" and kind == "number" else 1
        if "minimum" in schema:
            value = max(value, schema["minimum"])
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "example"


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and "text" in part
        )
    return content if isinstance(content, str) else ""


def last_user_message(request: Request) -> str:
    """Return the text of the last user message in a chat request ("" if none)."""
    for message in reversed(request.get("messages", [])):
        if message.get("role") == "user":
            return _message_text(message)
    return ""


def _forced_function(request: Request) -> dict[str, Any] | None:
    tools = [t.get("function", {}) for t in request.get("tools") or [] if isinstance(t, dict)]
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        return next((f for f in tools if f.get("name") == wanted), {"name": wanted})
    if choice == "required" and tools:
        return tools[0]
    return None


def default_reply(request: Request) -> Reply:
    """Answer as the server does when nothing is scripted."""
    function = _forced_function(request)
    if function is not None:
        arguments = example_from_schema(function.get("parameters") or {"type": "object"})
        return tool_call(function["name"], arguments)
    response_format = request.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return json_reply(example_from_schema(schema))
    if response_format.get("type") == "json_object":
        schema = response_format.get("schema") or {"type": "object", "properties": {}}
        return json_reply(example_from_schema(schema))
    return text(f"Scripted reply: {last_user_message(request)[:60]}")


# ---- wire format -------------------------------------------------------------------------------


def _words(value: str) -> int:
    return len(value.split())


def _usage(request: Request, reply: Reply) -> dict[str, int]:
    if reply.usage is not None:
        usage = {"prompt_tokens": 0, "completion_tokens": 0, **reply.usage}
    else:
        prompt = sum(_words(_message_text(m)) for m in request.get("messages", []))
        completion = _words(reply.content or reply.refusal or "") + sum(
            _words(_arguments_text(args)) for _, args in reply.tool_calls
        )
        usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _tool_call_ids(reply: Reply) -> list[str]:
    return [f"call_{uuid.uuid4().hex[:12]}" for _ in reply.tool_calls]


def completion_body(request: Request, reply: Reply) -> dict[str, Any]:
    """Return the non-streaming chat.completion JSON for a message reply."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.refusal is not None:
        message["refusal"] = reply.refusal
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": _arguments_text(args)},
            }
            for call_id, (name, args) in zip(_tool_call_ids(reply), reply.tool_calls, strict=True)
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "scripted"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}
        ],
        "usage": _usage(request, reply),
    }


def _pieces(value: str, size: int = 0) -> list[str]:
    if size:
        return [value[i : i + size] for i in range(0, len(value), size)] or [""]
    return re.findall(r"\s*\S+\s*", value) or [value]


def stream_chunks(request: Request, reply: Reply) -> list[dict[str, Any]]:
    """Return the chat.completion.chunk objects for a message reply, usage chunk included."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model", "scripted"),
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {**base, "choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if reply.content:
        chunks += [chunk({"content": piece}) for piece in _pieces(reply.content)]
    if reply.refusal is not None:
        chunks += [chunk({"refusal": piece}) for piece in _pieces(reply.refusal)]
    for index, (call_id, (name, args)) in enumerate(
        zip(_tool_call_ids(reply), reply.tool_calls, strict=True)
    ):
        head = {"index": index, "id": call_id, "type": "function"}
        chunks.append(
            chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        )
        chunks += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _pieces(_arguments_text(args), size=7)
        ]
    chunks.append(chunk({}, reply.finish_reason))
    if (request.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": _usage(request, reply)})
    return chunks


EMBEDDING_DIMENSIONS = 256
_EMBEDDING_WORD = re.compile(r"[^\W_]+")


def embed_text(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic embedding: a hashed bag of lower-cased words (plus a crude stem), unit
    length. Texts sharing words are near; the same text always gives the same vector."""
    vector = [0.0] * dimensions
    for word in _EMBEDDING_WORD.findall(text.lower()):
        for token in {word, word[:5]}:
            digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
            vector[digest % dimensions] += 1.0 if (digest >> 32) & 1 else -1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


def embeddings_body(model: str, texts: list[str]) -> dict[str, Any]:
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": embed_text(t)}
            for i, t in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": sum(_words(t) for t in texts),
            "total_tokens": sum(_words(t) for t in texts),
        },
    }


# ---- server ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read `.requests` instead

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            models = [
                {"id": "scripted", "object": "model", "created": 0, "owned_by": "switchboard"}
            ]
            self._send_json(200, {"object": "list", "data": models})
        else:
            self._send_json(404, {"error": {"message": "Not found", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") == "/v1/embeddings":
            self._embeddings(raw)
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": "Not found", "type": "not_found"}})
            return
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "Body is not JSON", "type": "bad_request"}})
            return
        reply = self.server.owner._record_and_choose(
            request, {k.lower(): v for k, v in self.headers.items()}
        )
        if reply.latency and self.server.owner._stopping.wait(reply.latency):
            return
        self._answer(request, reply)

    def _embeddings(self, raw: bytes) -> None:
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "Body is not JSON", "type": "bad_request"}})
            return
        texts = request.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            message = "input must be a string or a list of strings"
            self._send_json(400, {"error": {"message": message, "type": "invalid_request_error"}})
            return
        reply = self.server.owner._record_embeddings(request)
        if reply is not None and reply.latency and self.server.owner._stopping.wait(reply.latency):
            return
        if reply is not None and reply.kind == "error":
            self._send_json(reply.status, reply.body, reply.headers)
            return
        self._send_json(200, embeddings_body(request.get("model", ""), texts))

    def _answer(self, request: Request, reply: Reply) -> None:
        if reply.kind == "reset":
            self._reset()
        elif reply.kind == "hang":
            self.server.owner._stopping.wait(reply.hang_seconds)
            self.close_connection = True
        elif reply.kind == "error":
            self._send_json(reply.status, reply.body, reply.headers)
        elif request.get("stream"):
            self._send_stream(request, reply)
        elif reply.kind == "cut":
            self._send_cut_body(request, reply)
        else:
            self._send_json(200, completion_body(request, reply))

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _send_stream(self, request: Request, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if reply.kind == "cut":
            message = Reply("message", content=reply.content)
            for chunk in stream_chunks(request, message)[: reply.cut_after]:
                self._write_chunk(f"data: {json.dumps(chunk)}\n\n")
            self._reset()
            return
        for chunk in stream_chunks(request, reply):
            self._write_chunk(f"data: {json.dumps(chunk)}\n\n")
        self._write_chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _send_cut_body(self, request: Request, reply: Reply) -> None:
        data = json.dumps(completion_body(request, Reply("message", content=reply.content)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2].encode())
        self._reset()

    def _write_chunk(self, data: str) -> None:
        encoded = data.encode()
        self.wfile.write(f"{len(encoded):x}\r\n".encode() + encoded + b"\r\n")
        self.wfile.flush()

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send RST: the client sees a reset, not a clean end.
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: ScriptedLLM

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # client hang-ups and scripted resets are expected here


class ScriptedLLM:
    """An OpenAI-compatible chat completions server on 127.0.0.1 answering from a script."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._queue: collections.deque[Responder] = collections.deque()
        self._rules: list[tuple[Callable[[Request], bool], Responder]] = []
        self._requests: list[Request] = []
        self._headers: list[dict[str, str]] = []
        self._embedding_requests: list[Request] = []
        self._embedding_queue: collections.deque[Reply] = collections.deque()
        self.embedding_latency = 0.0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> ScriptedLLM:
        """Start serving in a background thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self._host, self._port), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging and delayed replies end at once."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ScriptedLLM is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # scripting

    def script(self, *replies: Responder) -> ScriptedLLM:
        """Queue replies, consumed one per request in order."""
        with self._lock:
            self._queue.extend(replies)
        return self

    def on(self, match: Callable[[Request], bool] | str, reply: Responder) -> ScriptedLLM:
        """Answer every request that matches (a predicate, or a substring of the last user
        message) with `reply`; rules are checked before the queue, in the order added."""
        predicate = match if callable(match) else (lambda r, s=match: s in last_user_message(r))
        with self._lock:
            self._rules.append((predicate, reply))
        return self

    def script_embeddings(self, *replies: Reply) -> ScriptedLLM:
        """Queue answers for embedding requests: an `http_error(...)` fails one, a `text("")`
        with a latency delays one; unscripted requests get `embed_text` vectors at once."""
        with self._lock:
            self._embedding_queue.extend(replies)
        return self

    def reset(self) -> None:
        """Forget queued replies, rules and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._rules.clear()
            self._requests.clear()
            self._headers.clear()
            self._embedding_requests.clear()
            self._embedding_queue.clear()
            self.embedding_latency = 0.0

    # inspection

    @property
    def requests(self) -> list[Request]:
        """The chat request bodies received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """The HTTP headers (names lowercased) of each chat request, in the order of `requests`."""
        with self._lock:
            return [dict(h) for h in self._headers]

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def pending(self) -> int:
        """How many queued replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def embedding_requests(self) -> list[Request]:
        """The embedding request bodies received so far (a copy); not counted in `requests`."""
        with self._lock:
            return list(self._embedding_requests)

    @property
    def embedded_texts(self) -> list[str]:
        """Every text sent to /v1/embeddings, in order."""
        texts: list[str] = []
        for request in self.embedding_requests:
            value = request.get("input")
            texts.extend([value] if isinstance(value, str) else value)
        return texts

    def _record_embeddings(self, request: Request) -> Reply | None:
        with self._lock:
            self._embedding_requests.append(request)
            if self._embedding_queue:
                return self._embedding_queue.popleft()
            if self.embedding_latency:
                return Reply("message", latency=self.embedding_latency)
        return None

    def _record_and_choose(self, request: Request, headers: dict[str, str]) -> Reply:
        with self._lock:
            self._requests.append(request)
            self._headers.append(headers)
            responder = next((reply for match, reply in self._rules if match(request)), None)
            if responder is None and self._queue:
                responder = self._queue.popleft()
        if responder is None:
            return default_reply(request)
        return responder(request) if callable(responder) else responder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the scripted LLM's default behaviour.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args(argv)
    server = ScriptedLLM(args.host, args.port).start()
    print(f"Scripted LLM serving at http://{args.host}:{server.port}/v1", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
