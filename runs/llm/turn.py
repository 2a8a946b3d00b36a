"""Read one HTTP attempt's answer, whole or streamed, into a `Turn`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import openai

from . import errors
from .providers import Target
from .response import LlmError, ToolCall


@dataclass
class Turn:
    """The assistant's answer to one request, before its tool calls are checked."""

    content: str | None
    refusal: str | None = None
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # id, name, raw arguments
    finish_reason: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0

    def parsed_tool_calls(self) -> tuple[list[ToolCall], dict[str, str]]:
        """Parse every call's arguments; return the calls and {call id: problem} for bad ones."""
        calls: list[ToolCall] = []
        problems: dict[str, str] = {}
        for call in self.tool_calls:
            raw = call["arguments"] or ""
            try:
                # Some servers send "" for a function without parameters.
                arguments = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                problems[call["id"]] = f"the arguments were not valid JSON ({exc})"
                continue
            if not isinstance(arguments, dict):
                problems[call["id"]] = "the arguments were JSON but not an object"
                continue
            if not call["name"]:
                problems[call["id"]] = "the call did not name a function"
                continue
            calls.append(ToolCall(id=call["id"], name=call["name"], arguments=arguments))
        return calls, problems

    def assistant_message(self) -> dict[str, Any]:
        """Return this turn as an assistant message to send back to the model."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
                for call in self.tool_calls
            ]
        return message


def _call_id(value: str | None, index: int) -> str:
    return value or f"call_{index}"


def read_completion(completion: Any, target: Target) -> Turn:
    """Read a non-streamed chat.completion."""
    if not completion.choices:
        raise LlmError("server_error", f"{target} answered without any choices.")
    choice = completion.choices[0]
    message = choice.message
    calls = [
        {
            "id": _call_id(call.id, index),
            "name": call.function.name or "",
            "arguments": call.function.arguments or "",
        }
        for index, call in enumerate(message.tool_calls or [])
        if getattr(call, "function", None) is not None
    ]
    usage = completion.usage
    return Turn(
        content=message.content,
        refusal=getattr(message, "refusal", None),
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        tokens_in=(usage.prompt_tokens or 0) if usage else 0,
        tokens_out=(usage.completion_tokens or 0) if usage else 0,
    )


def read_stream(
    chunks: Iterable[dict[str, Any]], target: Target, on_delta: Callable[[str], None] | None
) -> Turn:
    """Read a streamed answer, passing each text delta to `on_delta` as it arrives.

    The chunks are the JSON objects as the server sent them (the SDK's stream with `object` as
    its type): building a model object for every chunk cost more CPU than the rest of a step.
    A stream that drops, or ends before a finish_reason, raises "stream_cut".
    """
    text: list[str] = []
    refusal: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    turn = Turn(content=None)
    try:
        for chunk in chunks:
            if not isinstance(chunk, dict):
                continue
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                turn.tokens_in = _count(usage.get("prompt_tokens"))
                turn.tokens_out = _count(usage.get("completion_tokens"))
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                _read_delta(choice.get("delta"), text, refusal, calls, on_delta)
                if choice.get("finish_reason"):
                    turn.finish_reason = str(choice["finish_reason"])
    except openai.APITimeoutError:
        raise
    except openai.APIConnectionError as exc:
        raise errors.stream_cut(target, "".join(text)) from exc
    if turn.finish_reason is None:
        raise errors.stream_cut(target, "".join(text))
    turn.content = "".join(text) if text else None
    turn.refusal = "".join(refusal) if refusal else None
    turn.tool_calls = [
        {**call, "id": _call_id(call["id"], index)} for index, call in sorted(calls.items())
    ]
    return turn


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _read_delta(
    delta: Any,
    text: list[str],
    refusal: list[str],
    calls: dict[int, dict[str, str]],
    on_delta: Callable[[str], None] | None,
) -> None:
    if not isinstance(delta, dict):
        return
    content = delta.get("content")
    if content and isinstance(content, str):
        text.append(content)
        if on_delta is not None:
            on_delta(content)
    if delta.get("refusal"):
        refusal.append(str(delta["refusal"]))
    for position, part in enumerate(delta.get("tool_calls") or []):
        if not isinstance(part, dict):
            continue
        index = part.get("index")
        index = index if isinstance(index, int) else position
        call = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        if part.get("id"):
            call["id"] = str(part["id"])
        function = part.get("function")
        if isinstance(function, dict):
            if function.get("name") and not call["name"]:
                call["name"] = str(function["name"])
            if function.get("arguments"):
                call["arguments"] += str(function["arguments"])
