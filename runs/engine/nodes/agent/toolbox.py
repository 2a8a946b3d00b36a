"""What an agent may call: built-in tools by name, and its knowledge bases as one search tool."""

from __future__ import annotations

from typing import Any

from .. import flow_tools
from ..base import NodeError
from .config import AgentConfig

#: The name the knowledge-base search goes by among the agent's tools.
SEARCH_TOOL = "search_knowledge"


def search_spec(config: AgentConfig) -> dict[str, Any]:
    names = ", ".join(config.knowledge_bases)
    return {
        "type": "function",
        "function": {
            "name": SEARCH_TOOL,
            "description": f"Search the knowledge bases ({names}) for passages that answer a "
            "query, by meaning and by words. Returns passages with their source and score.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to look for."}},
                "required": ["query"],
            },
        },
    }


class Toolbox:
    """The tools offered to the model in one agent step, and how each call is answered.

    Every call goes through the step's context, so it is recorded and a reproduction answers it
    from the recording. A failing tool answers the model with its error instead of failing the
    step: the agent may recover.
    """

    def __init__(self, ctx: Any, config: AgentConfig):
        self.ctx = ctx
        self.config = config
        self.specs: list[dict[str, Any]] = ctx.tools.specs(config.tools) if config.tools else []
        if config.knowledge_bases:
            self.specs.append(search_spec(config))
        #: The flows offered as tools, by tool name: a call to one waits for its child run.
        self.flows = flow_tools.flows_by_name(config.flow_tools)
        if config.flow_tools and not ctx.resume:
            self.specs += flow_tools.specs(ctx, config.flow_tools)

    def call(self, name: str, arguments: Any) -> tuple[Any, bool]:
        """Return (what the model sees, whether the call succeeded)."""
        if name == SEARCH_TOOL and self.config.knowledge_bases:
            return self._search(arguments)
        if name not in self.config.tools:
            return {"error": f'No tool named "{name}" is available.'}, False
        try:
            return self.ctx.call_tool(name, arguments), True
        except NodeError as exc:
            return {"error": exc.message}, False

    def _search(self, arguments: Any) -> tuple[Any, bool]:
        query = arguments.get("query") if isinstance(arguments, dict) else None
        if not isinstance(query, str) or not query.strip():
            return {"error": "Give a non-empty text query."}, False
        try:
            response = self.ctx.retrieve(
                knowledge_bases=self.config.knowledge_bases,
                query=query.strip()[:10_000],
                top_k=self.config.top_k,
                min_score=0.0,
                hybrid_weight=0.5,
                filters={},
            )
        except NodeError as exc:
            if exc.code == "budget_exceeded":
                raise
            return {"error": exc.message}, False
        passages = [
            {"text": c["text"], "source": c["source"], "score": c["score"]}
            for c in response.get("chunks") or []
        ]
        return {"passages": passages}, True
