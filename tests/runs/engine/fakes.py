"""Deterministic stand-ins for the model and tools, for engine tests without a network."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FakeToolCall:
    id: str
    name: str
    arguments: dict


@dataclass
class FakeResponse:
    content: str | None = "ok"
    tool_calls: list[FakeToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    model: str = "fake/model"
    tokens_in: int = 10
    tokens_out: int = 5
    cost: float = 0.001
    cache_hit: bool = False
    latency_ms: int = 1
    attempts: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class FakeLlmError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class FakeLlm:
    """Answers with `reply(messages, kwargs)`; records every call."""

    def __init__(self, reply: Callable[[list[dict], dict], Any] | None = None):
        self.reply = reply or (lambda messages, kwargs: FakeResponse(content="ok"))
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    def chat(self, **kwargs: Any) -> FakeResponse:
        with self.lock:
            self.calls.append(kwargs)
        result = self.reply(kwargs["messages"], kwargs)
        if isinstance(result, Exception):
            raise result
        if isinstance(result, str):
            result = FakeResponse(content=result)
        if kwargs.get("on_delta") and result.content:
            for word in result.content.split(" "):
                kwargs["on_delta"](word + " ")
        return result


def tool_call(name: str, **arguments: Any) -> FakeResponse:
    return FakeResponse(content=None, tool_calls=[FakeToolCall("call_1", name, arguments)])


class FakeToolError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class FakeTools:
    def __init__(self, **funcs: Callable[[dict], Any]):
        self.funcs = funcs
        self.calls: list[tuple[str, Any]] = []

    def call(self, name: str, arguments: Any) -> Any:
        self.calls.append((name, arguments))
        if name not in self.funcs:
            raise FakeToolError("unknown_tool", f"No tool {name}")
        return self.funcs[name](arguments)

    def specs(self, names: list[str]) -> list[dict]:
        return [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
            for n in names
        ]


def last_user(messages: list[dict]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def as_json(value: Any) -> str:
    return json.dumps(value)
