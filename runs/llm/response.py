"""What a model call returns (`LlmResponse`) or raises (`LlmError`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Worth another attempt on the same model, then a fallback model.
TRANSIENT_CODES = frozenset(
    {"rate_limited", "server_error", "timeout", "connection_error", "stream_cut"}
)
# Hopeless on this model but another model may do: go straight to the next fallback.
# Not worth retrying on the same model, but another model may do better. A model that keeps
# sending malformed tool-call JSON after the re-asks is one of them.
FALLBACK_ONLY_CODES = frozenset(
    {"unknown_model", "auth_error", "no_provider", "blocked_address", "malformed_tool_call"}
)

ERROR_CODES = (
    "rate_limited",
    "server_error",
    "timeout",
    "connection_error",
    "stream_cut",
    "auth_error",
    "bad_request",
    "unknown_model",
    "refusal",
    "truncated",
    "malformed_tool_call",
    "no_provider",
    "blocked_address",
)


@dataclass
class ToolCall:
    """A function call the model asked for; `arguments` always parsed to a JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class LlmResponse:
    """A model's answer, with what it cost and how it was obtained."""

    content: str | None
    tool_calls: list[ToolCall]
    finish_reason: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: float
    cache_hit: bool
    latency_ms: int
    attempts: list[dict[str, Any]] = field(default_factory=list)
    # A cache hit costs nothing; this is what the cached call had cost (the saving).
    saved_cost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict; `from_dict` rebuilds an equal response."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LlmResponse:
        """Rebuild a response saved with `to_dict`."""
        values = dict(data)
        values["tool_calls"] = [ToolCall(**call) for call in values.get("tool_calls") or []]
        values["attempts"] = [dict(a) for a in values.get("attempts") or []]
        return cls(**values)


class LlmError(Exception):
    """A model call that did not produce a usable answer.

    `code` is one of ERROR_CODES; `message` is written for a non-engineer and never holds a key;
    `attempts` lists every HTTP attempt made; `partial` holds text received before a refusal or
    truncation. When the model did answer (refusal, truncation, malformed tool calls), `model`,
    `tokens_in`, `tokens_out` and `cost` say what that answer cost.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        attempts: list[dict[str, Any]] | None = None,
        partial: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.attempts = attempts if attempts is not None else []
        self.partial = partial
        self.status = status
        self.retry_after = retry_after
        self.model: str | None = None
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = 0.0

    @property
    def transient(self) -> bool:
        """True when the same request may succeed if tried again."""
        return self.code in TRANSIENT_CODES

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description (for step records and events)."""
        return {
            "code": self.code,
            "message": self.message,
            "attempts": self.attempts,
            "partial": self.partial,
            "model": self.model,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
        }

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"LlmError({self.code!r}, {self.message!r})"
