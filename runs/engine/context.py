"""What a node sees while it runs. Every side effect goes through here."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .nodes.base import NodeConfig, NodeError
from .secrets import UnknownSecret
from .templates import TemplateRenderError, render, render_value


class LlmPort(Protocol):
    def chat(self, **kwargs: Any) -> Any: ...


class CataloguePort(Protocol):
    def catalogue(self) -> list[Any]: ...


class ToolPort(Protocol):
    def call(self, name: str, arguments: Any) -> Any: ...

    def specs(self, names: list[str]) -> list[dict[str, Any]]: ...


class RetrievalPort(Protocol):
    def search(self, **request: Any) -> dict[str, Any]: ...

    def recall(self, **request: Any) -> dict[str, Any]: ...

    def summary_save(self, **request: Any) -> dict[str, Any]: ...


class NoRetrieval:
    """The port of a context that has no knowledge bases (engine tests, pure runs)."""

    def search(self, **request: Any) -> dict[str, Any]:
        raise NodeError("No knowledge bases are available here.", code="no_knowledge_base")

    def recall(self, **request: Any) -> dict[str, Any]:
        raise NodeError("This run is not part of a conversation.", code="no_conversation")

    def summary_save(self, **request: Any) -> dict[str, Any]:
        raise NodeError("This run is not part of a conversation.", code="no_conversation")


class SemanticCachePort(Protocol):
    def lookup(self, **request: Any) -> dict[str, Any]: ...

    def store(self, **request: Any) -> dict[str, Any]: ...

    def evict(self, entries: list[int]) -> None: ...


class NoSemanticCache:
    """The port of a context without a semantic cache (engine tests): it never answers."""

    def lookup(self, **request: Any) -> dict[str, Any]:
        return {"hit": None, "usage": {}}

    def store(self, **request: Any) -> dict[str, Any]:
        return {"entry": None}

    def evict(self, entries: list[int]) -> None:
        return None


@dataclass
class StepUsage:
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    model: str = ""
    cache_hit: bool = False
    llm_calls: int = 0
    saved_cost: float = 0.0  # what the calls answered from the cache had cost


@dataclass(frozen=True)
class Allowance:
    """What the run may still spend when the step starts (None: no limit). A node that makes
    many calls in one step (an agent) stops itself before going over."""

    tokens: int | None = None
    cost: float | None = None
    seconds: float | None = None


@dataclass
class TruncatedReply:
    """A reply cut off at max tokens, kept as it is. Same fields as the LLM layer's response."""

    content: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    tool_calls: list[Any] = field(default_factory=list)
    finish_reason: str = "length"
    cache_hit: bool = False
    latency_ms: int = 0
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_error(cls, exc: Exception, model: str) -> TruncatedReply:
        return cls(
            content=getattr(exc, "partial", None) or "",
            model=getattr(exc, "model", None) or model,
            tokens_in=getattr(exc, "tokens_in", None) or 0,
            tokens_out=getattr(exc, "tokens_out", None) or 0,
            cost=float(getattr(exc, "cost", None) or 0.0),
            attempts=list(getattr(exc, "attempts", None) or []),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NodeContext:
    """The data and services of one step."""

    node_id: str
    node_type: str
    config: NodeConfig
    iteration: int
    run_inputs: dict[str, Any]
    variables: dict[str, Any]
    llm: LlmPort
    tools: ToolPort
    emit: Callable[[str, dict[str, Any]], None] = lambda kind, data: None
    default_model: str = ""
    retrieval: RetrievalPort = field(default_factory=NoRetrieval)
    semantic: SemanticCachePort = field(default_factory=NoSemanticCache)
    usage: StepUsage = field(default_factory=StepUsage)
    rendered: dict[str, Any] = field(default_factory=dict)
    recordings: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    #: Readable node names (key, or from the label) by id, for what the node shows people.
    names: dict[str, str] = field(default_factory=dict)
    allowance: Allowance = field(default_factory=Allowance)
    #: A step resumed after a flow tool's child run: its saved loop state and the child's result.
    resume: dict[str, Any] | None = None
    #: The step's visible parts (an agent's thoughts, tool calls, critiques), in order: each
    #: becomes a `step.substep` event of the run when the step is recorded.
    substeps: list[dict[str, Any]] = field(default_factory=list)

    def substep(self, kind: str, **data: Any) -> dict[str, Any]:
        """Record one visible part of the step, and stream it to whoever watches."""
        entry = {"index": len(self.substeps), "type": kind, **_jsonable(data)}
        self.substeps.append(entry)
        self.emit("step.substep", entry)
        return entry

    def render(self, text: str, field_name: str | None = None) -> str:
        """Render a template over run data; a bad template fails the step with its reason."""
        try:
            value = render(text, self.variables)
        except TemplateRenderError as exc:
            raise NodeError(str(exc), code="template_error") from exc
        except UnknownSecret as exc:
            raise NodeError(exc.message, code=exc.code) from exc
        if field_name:
            self.rendered[field_name] = value
        return value

    def render_value(self, text: str) -> Any:
        try:
            return render_value(text, self.variables)
        except TemplateRenderError as exc:
            raise NodeError(str(exc), code="template_error") from exc
        except UnknownSecret as exc:
            raise NodeError(exc.message, code=exc.code) from exc

    def catalogue(self) -> list[Any]:
        """The models this step may route to (`CatalogueModel`s); none when the port has none."""
        source = getattr(self.llm, "catalogue", None)
        return list(source()) if source is not None else []

    def route_scores(self, request: Any) -> dict[str, Any] | None:
        """Ask the workspace's learned router how likely each tier is to pass (None: it has none).

        The answer is {"probabilities": {tier: p}, "about": str, "usage": {...}} or
        {"unavailable": reason}; recorded so a reproduction asks no model for the embedding."""
        source = getattr(self.llm, "route_scores", None)
        if source is None:
            return None
        try:
            answer = source(request)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                raise
            answer = {"unavailable": _message(exc)}
        if answer is None:
            return None
        usage = answer.get("usage") or {}
        self.usage.tokens_in += int(usage.get("tokens") or 0)
        self.usage.cost += float(usage.get("cost") or 0.0)
        self.recordings.append({"kind": "route", "request": {}, "response": _jsonable(answer)})
        return answer

    def chat(self, *, stream: bool = True, keep_truncated: bool = False, **kwargs: Any) -> Any:
        """Call the model, accounting tokens and cost on the step and streaming deltas.

        With `keep_truncated`, a reply cut off at max tokens is kept (and marked) instead of
        failing the step.
        """
        kwargs.setdefault("model", self.default_model)
        if not kwargs["model"]:
            kwargs["model"] = self.default_model
        if stream:
            kwargs["on_delta"] = lambda text: self.emit("step.delta", {"text": text})
        try:
            response = self.llm.chat(**kwargs)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                raise
            if code == "truncated" and keep_truncated:
                response = TruncatedReply.from_error(exc, kwargs["model"])
                self.details["truncated"] = True
                return self._account(response, kwargs)
            attempts = getattr(exc, "attempts", None)
            if attempts:
                self.details.setdefault("llm_attempts", []).extend(attempts)
            raise NodeError(getattr(exc, "message", str(exc)), code=code) from exc
        return self._account(response, kwargs)

    def _account(self, response: Any, kwargs: dict[str, Any]) -> Any:
        self.usage.tokens_in += response.tokens_in
        self.usage.tokens_out += response.tokens_out
        self.usage.cost += float(response.cost)
        self.usage.saved_cost += float(getattr(response, "saved_cost", 0.0) or 0.0)
        self.usage.model = response.model
        # A step is a cache hit only when every call it made was.
        first = self.usage.llm_calls == 0
        self.usage.cache_hit = response.cache_hit and (first or self.usage.cache_hit)
        self.usage.llm_calls += 1
        attempts = getattr(response, "attempts", None)
        if attempts and len(attempts) > 1:
            self.details.setdefault("llm_attempts", []).extend(attempts)
        self.recordings.append(
            {
                "kind": "llm",
                "request": _jsonable({k: v for k, v in kwargs.items() if k != "on_delta"}),
                "response": response.to_dict(),
            }
        )
        return response

    def retrieve(self, **request: Any) -> dict[str, Any]:
        """Search knowledge bases; recorded so a reproduction answers from the recording.

        The answer is {"chunks": [...], "usage": {"model", "tokens", "cost", "calls"}}; the query
        embedding's tokens and cost count on the step."""
        try:
            response = self.retrieval.search(**request)
        except NodeError:
            raise
        except Exception as exc:
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                raise
            raise NodeError(_message(exc), code=code) from exc
        usage = response.get("usage") or {}
        self.usage.tokens_in += int(usage.get("tokens") or 0)
        self.usage.cost += float(usage.get("cost") or 0.0)
        if usage.get("model") and not self.usage.model:
            self.usage.model = usage["model"]
        self.recordings.append(
            {"kind": "retrieve", "request": _jsonable(request), "response": _jsonable(response)}
        )
        return response

    def recall(self, **request: Any) -> dict[str, Any]:
        """Recall past turns of the run's conversation (memory); recorded like `retrieve`."""
        try:
            response = self.retrieval.recall(**request)
        except NodeError:
            raise
        except Exception as exc:
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                raise
            raise NodeError(_message(exc), code=code) from exc
        usage = response.get("usage") or {}
        self.usage.tokens_in += int(usage.get("tokens") or 0)
        self.usage.cost += float(usage.get("cost") or 0.0)
        if usage.get("model") and not self.usage.model:
            self.usage.model = usage["model"]
        self.recordings.append(
            {"kind": "memory", "request": _jsonable(request), "response": _jsonable(response)}
        )
        return response

    def semantic_lookup(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Ask the semantic cache for a past answer to `request`: the hit, or None.

        Recorded (hit or miss) so a reproduction answers as the run did; the request's embedding
        counts on the step. A cache that fails is a miss: it saves money, it never fails a step.
        """
        try:
            response = self.semantic.lookup(**request)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                raise
            if code == "replay_mismatch":
                raise NodeError(_message(exc), code=code) from exc
            self.details["semantic_cache_error"] = _message(exc)
            return None
        usage = response.get("usage") or {}
        self.usage.tokens_in += int(usage.get("tokens") or 0)
        self.usage.cost += float(usage.get("cost") or 0.0)
        self.recordings.append(
            {"kind": "semantic", "request": _jsonable(request), "response": _jsonable(response)}
        )
        if response.get("hit") is None and response.get("other_figures"):
            self.details["semantic_cache_other_figures"] = response["other_figures"]
        return response.get("hit")

    def semantic_store(self, request: dict[str, Any]) -> int | None:
        """Store an answer in the semantic cache; return its entry's id (None: not stored)."""
        try:
            return self.semantic.store(**request).get("entry")
        except Exception as exc:
            if not isinstance(getattr(exc, "code", None), str):
                raise
            self.details["semantic_cache_error"] = _message(exc)
            return None

    def semantic_evict(self, entries: list[int]) -> None:
        """Drop cached answers that turned out wrong."""
        try:
            self.semantic.evict(entries)
        except Exception as exc:
            if not isinstance(getattr(exc, "code", None), str):
                raise
            self.details["semantic_cache_error"] = _message(exc)

    def save_summary(self, **request: Any) -> dict[str, Any]:
        """Keep a conversation's new rolling summary ({text, upto, max_tokens}); answers the
        summary as kept ({text, upto, tokens}), recorded so a reproduction writes nothing."""
        try:
            response = self.retrieval.summary_save(**request)
        except NodeError:
            raise
        except Exception as exc:
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                raise
            raise NodeError(_message(exc), code=code) from exc
        self.recordings.append(
            {"kind": "summary", "request": _jsonable(request), "response": _jsonable(response)}
        )
        return response

    def call_tool(self, name: str, arguments: Any) -> Any:
        """Call a registered tool; its errors become NodeError with the tool's code."""
        try:
            result = self.tools.call(name, arguments)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                raise
            self.recordings.append(
                {
                    "kind": "tool",
                    "request": {"name": name, "arguments": _jsonable(arguments)},
                    "response": {"error": {"code": code, "message": _message(exc)}},
                }
            )
            raise NodeError(_message(exc), code=code) from exc
        self.recordings.append(
            {
                "kind": "tool",
                "request": {"name": name, "arguments": _jsonable(arguments)},
                "response": {"result": result},
            }
        )
        return result


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
