"""The engine's ports onto the real world: the model client, tools, and replays of both."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from django.conf import settings

from runs.engine.secrets import UnknownSecret
from runs.llm import LlmClient, LlmResponse
from runs.llm.providers import WorkspaceProviders, configured_providers
from runs.llm.response import LlmError
from runs.tools import ToolContext, ToolError, call_tool, openai_tool_specs

_client: LlmClient | None = None
_client_lock = threading.Lock()


def llm_client() -> LlmClient:
    """One client per process: it keeps the SDK's connection pools."""
    global _client
    with _client_lock:
        if _client is None:
            _client = LlmClient()
        return _client


def reset_llm_client() -> None:
    global _client
    with _client_lock:
        _client = None


class WorkspaceLlm:
    """The shared model client, addressing the server's providers and the workspace's own."""

    def __init__(self, client: LlmClient, workspace_id: int):
        self.client = client
        self.workspace_id = workspace_id

    def chat(self, **kwargs: Any) -> LlmResponse:
        from vault.services import provider_names

        providers = WorkspaceProviders(
            configured_providers(),
            lookup=self._provider,
            names=lambda: provider_names(self.workspace_id),
        )
        return self.client.chat(**kwargs, providers=providers)

    def catalogue(self) -> list[Any]:
        """The workspace's model catalogue, read once per step that routes."""
        return workspace_catalogue(self.workspace_id)

    def route_scores(self, request: Any) -> dict[str, Any] | None:
        """The workspace's learned router's P(pass) per tier for a request (None: it has none)."""
        from evals.router import route_scores

        return route_scores(workspace_id=self.workspace_id, request=request)

    def _provider(self, name: str) -> dict[str, Any] | None:
        from vault.services import provider_config

        config = provider_config(workspace_id=self.workspace_id, name=name)
        if config is not None and config.get("credential_id"):
            config["key_source"] = _key_source(config["credential_id"])
        return config


def workspace_catalogue(workspace_id: int | None) -> list[Any]:
    """Every model the workspace may use, with tier, price and context window."""
    from vault.services import model_catalogue

    return model_catalogue(workspace_id)


def _key_source(credential_id: int):
    """Read the provider's key when the SDK client is built, not before."""

    def key() -> str:
        from vault.services import provider_key

        try:
            return provider_key(credential_id)
        except UnknownSecret as exc:
            raise LlmError("auth_error", exc.message) from None

    return key


def workspace_secrets(workspace_id: int):
    """Look a workspace's credentials up by name, for `{{ secrets.<name> }}` at call time."""

    def lookup(name: str) -> str:
        from vault.services import credential_value

        return credential_value(workspace_id=workspace_id, name=name)

    return lookup


class Tools:
    """Registered tools, scoped to the run's workspace."""

    def __init__(self, workspace_id: int | None):
        self.context = ToolContext(
            workspace_id=workspace_id,
            allow_loopback=getattr(settings, "SWITCHBOARD_ALLOW_LOOPBACK", False),
        )

    def call(self, name: str, arguments: Any) -> Any:
        return call_tool(name, arguments, context=self.context)

    def specs(self, names: list[str]) -> list[dict[str, Any]]:
        return openai_tool_specs(names)

    def flow_inputs(self, flow_id: int, version: int | None) -> dict[str, Any]:
        return flow_tool_inputs(self.context.workspace_id, flow_id, version)


def flow_tool_inputs(workspace_id: int | None, flow_id: int, version: int | None) -> dict[str, Any]:
    """What a model is told of a flow offered as a tool: its name, description, version and
    input schema (of that published version, or the latest)."""
    from runs.engine.nodes.base import NodeError

    from .starting import input_schema
    from .subflows import SubflowRefused, called_version

    try:
        found = called_version(workspace_id, flow_id, version)
    except SubflowRefused as exc:
        raise NodeError(exc.message, code=exc.code) from exc
    return {
        "name": found.flow.name,
        "description": found.flow.description,
        "version": found.number,
        "schema": input_schema(found.graph),
    }


class Knowledge:
    """Knowledge-base search, scoped to the run's workspace."""

    def __init__(self, workspace_id: int | None, run_id: int | None = None):
        self.workspace_id = workspace_id
        self.run_id = run_id

    def recall(self, **request: Any) -> dict[str, Any]:
        """Past turns of the run's conversation (the memory node)."""
        from conversations.services import memory_recall

        return memory_recall(run_id=self.run_id, **request)

    def summary_save(self, **request: Any) -> dict[str, Any]:
        """Keep the conversation's rolling summary (the memory node folded new turns in)."""
        from conversations.services import summary_save

        return summary_save(run_id=self.run_id, **request)

    def search(self, **request: Any) -> dict[str, Any]:
        from knowledge.services import run_retrieve

        return run_retrieve(workspace_id=self.workspace_id, **request)


class SemanticCache:
    """The semantic cache of a step's node, in its run's workspace and flow."""

    def __init__(self, *, workspace_id: int, flow_id: int, run_id: int, node_id: str):
        self.workspace_id = workspace_id
        self.flow_id = flow_id
        self.run_id = run_id
        self.node_id = node_id

    def lookup(self, **request: Any) -> dict[str, Any]:
        from runs.llm.semantic_cache import semantic_lookup

        return semantic_lookup(
            workspace_id=self.workspace_id,
            flow_id=self.flow_id,
            text=request["text"],
            fingerprint=request["fingerprint"],
            similarity=float(request["similarity"]),
            ttl_seconds=int(request["ttl_seconds"]),
            scope=request["scope"],
            embedding_model=settings.SWITCHBOARD_EMBEDDING_MODEL,
            same_figures=bool(request.get("same_figures", False)),
        )

    def store(self, **request: Any) -> dict[str, Any]:
        from runs.llm.semantic_cache import semantic_store

        entry = semantic_store(
            workspace_id=self.workspace_id,
            flow_id=self.flow_id,
            run_id=self.run_id,
            node_id=self.node_id,
            text=request["text"],
            fingerprint=request["fingerprint"],
            scope=request["scope"],
            embedding_model=settings.SWITCHBOARD_EMBEDDING_MODEL,
            output=request["output"],
            model=request.get("model") or "",
            cost=float(request.get("cost") or 0.0),
        )
        return {"entry": entry}

    def evict(self, entries: list[int]) -> None:
        from runs.llm.semantic_cache import semantic_evict

        semantic_evict(entries)


class ReplayError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.code = "replay_mismatch"
        self.message = message


class RecordedLlm:
    """Answers model calls from a recorded run instead of the network (zero external calls)."""

    def __init__(self, responses: list[dict[str, Any]], catalogue=None, routes=None):
        self.responses = deque(responses)
        self._catalogue = catalogue
        self.routes = deque(routes or [])

    def catalogue(self) -> list[Any]:
        """The catalogue to route with: the answers come from the recording whatever it picks."""
        return list(self._catalogue()) if self._catalogue is not None else []

    def route_scores(self, request: Any) -> dict[str, Any] | None:
        """The learned router's recorded answer (a step recorded without one routes by rules)."""
        if not self.routes:
            return None
        answer = dict(self.routes.popleft())
        answer["usage"] = {**(answer.get("usage") or {}), "cost": 0.0}
        return answer

    def chat(self, **kwargs: Any) -> LlmResponse:
        if not self.responses:
            raise ReplayError("The recorded run made fewer model calls at this step.")
        response = LlmResponse.from_dict(self.responses.popleft())
        response.cost = 0.0  # a reproduction spends nothing
        if kwargs.get("on_delta") and response.content:
            kwargs["on_delta"](response.content)
        return response


class RecordedTools:
    """Answers tool calls from a recorded run."""

    def __init__(self, calls: list[dict[str, Any]]):
        self.calls = deque(calls)

    def call(self, name: str, arguments: Any) -> Any:
        if not self.calls:
            raise ReplayError("The recorded run made fewer tool calls at this step.")
        recorded = self.calls.popleft()
        if recorded["request"].get("name") != name:
            raise ReplayError(f'The recorded run called "{recorded["request"].get("name")}" here.')
        response = recorded["response"]
        if "error" in response:
            raise ToolError(response["error"]["code"], response["error"]["message"])
        return response.get("result")

    def specs(self, names: list[str]) -> list[dict[str, Any]]:
        return openai_tool_specs(names)

    #: Flow tools are answered from the recording too: a reproduction starts no child run.
    replays = True

    def flow_inputs(self, flow_id: int, version: int | None) -> dict[str, Any]:
        return {"name": f"flow {flow_id}", "version": version, "schema": {"type": "object"}}


class RecordedSemanticCache:
    """Answers semantic-cache lookups as the recorded run got them; stores and evicts nothing."""

    def __init__(self, responses: list[dict[str, Any]]):
        self.responses = deque(responses)

    def lookup(self, **request: Any) -> dict[str, Any]:
        if not self.responses:
            raise ReplayError("The recorded run asked the semantic cache fewer times here.")
        response = dict(self.responses.popleft())
        response["usage"] = {**(response.get("usage") or {}), "cost": 0.0}
        return response

    def store(self, **request: Any) -> dict[str, Any]:
        return {"entry": None}

    def evict(self, entries: list[int]) -> None:
        return None


class RecordedRetrieval:
    """Answers knowledge-base searches from a recorded run: no embedding call, no search."""

    def __init__(
        self,
        responses: list[dict[str, Any]],
        recalls: list[dict[str, Any]] | None = None,
        summaries: list[dict[str, Any]] | None = None,
    ):
        self.responses = deque(responses)
        self.recalls = deque(recalls or [])
        self.summaries = deque(summaries or [])

    def summary_save(self, **request: Any) -> dict[str, Any]:
        """The summary the recorded run kept; the conversation is left as it is."""
        if not self.summaries:
            raise ReplayError("The recorded run kept no conversation summary at this step.")
        return dict(self.summaries.popleft())

    def recall(self, **request: Any) -> dict[str, Any]:
        if not self.recalls:
            raise ReplayError("The recorded run recalled fewer conversation turns at this step.")
        response = dict(self.recalls.popleft())
        response["usage"] = {**(response.get("usage") or {}), "cost": 0.0}
        return response

    def search(self, **request: Any) -> dict[str, Any]:
        if not self.responses:
            raise ReplayError("The recorded run made fewer knowledge-base searches at this step.")
        response = dict(self.responses.popleft())
        response["usage"] = {**(response.get("usage") or {}), "cost": 0.0}
        return response
