from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import NodeConfig, NodeError, NodeResult, NodeType, Port


class MemoryConfig(NodeConfig):
    query: str = Field(
        "{{ inputs.message }}",
        min_length=1,
        max_length=10_000,
        title="Current message",
        description="What the past turns should be relevant to.",
        json_schema_extra={"format": "template"},
    )
    token_budget: int = Field(
        1000, ge=50, le=100_000, title="Token budget", description="cl100k tokens at most."
    )
    recency_weight: float = Field(0.2, ge=0, le=1, title="Recency weight")


class MemoryNode(NodeType):
    """Recall the past turns of this conversation most relevant to the current message, within
    a token budget. Output: {text, turns, tokens}; the turns used are recorded on the step."""

    type = "memory"
    label = "Memory"
    category = "AI"
    Config = MemoryConfig
    outputs = (Port("out", "Past turns"), Port("error", "Error", required=False))

    @classmethod
    def templates(cls, config: NodeConfig) -> list[tuple[str, str]]:
        return [("query", config.query)]  # type: ignore[attr-defined]

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        config: MemoryConfig = ctx.config
        query = ctx.render(config.query, "query").strip()
        if not query:
            raise NodeError(
                "The message is empty once filled in.", code="empty_query", port="error"
            )
        try:
            response = ctx.recall(
                query=query, token_budget=config.token_budget, recency_weight=config.recency_weight
            )
        except NodeError as exc:
            raise NodeError(exc.message, code=exc.code, port="error") from exc
        turns = response.get("turns") or []
        used = sum(int(t.get("tokens") or 0) for t in turns)
        ctx.details["memory"] = {
            "turns": [t["turn"] for t in turns],
            "tokens": used,
            "budget": config.token_budget,
            "considered": response.get("considered", 0),
        }
        text = "\n".join(f"User: {t['user']}\nAssistant: {t['assistant']}" for t in turns)
        return NodeResult(output={"text": text, "turns": turns, "tokens": used}, ports=["out"])
