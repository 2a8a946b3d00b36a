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
    chunks: Iterable[Any], target: Target, on_delta: Callable[[str], None] | None
) -> Turn:
    """Read a streamed answer, passing each text delta to `on_delta` as it arrives.

    A stream that drops, or ends before a finish_reason, raises "stream_cut".
    """
    text: list[str] = []
    refusal: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    turn = Turn(content=None)
    try:
        for chunk in chunks:
            if getattr(chunk, "usage", None):
                turn.tokens_in = chunk.usage.prompt_tokens or 0
                turn.tokens_out = chunk.usage.completion_tokens or 0
            for choice in chunk.choices or []:
                _read_delta(choice.delta, text, refusal, calls, on_delta)
                if choice.finish_reason:
                    turn.finish_reason = choice.finish_reason
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


def _read_delta(
    delta: Any,
    text: list[str],
    refusal: list[str],
    calls: dict[int, dict[str, str]],
    on_delta: Callable[[str], None] | None,
) -> None:
    if delta is None:
        return
    if delta.content:
        text.append(delta.content)
        if on_delta is not None:
            on_delta(delta.content)
    if getattr(delta, "refusal", None):
        refusal.append(delta.refusal)
    for position, part in enumerate(delta.tool_calls or []):
        index = part.index if part.index is not None else position
        call = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        if part.id:
            call["id"] = part.id
        function = part.function
        if function is not None:
            if function.name and not call["name"]:
                call["name"] = function.name
            if function.arguments:
                call["arguments"] += function.arguments
