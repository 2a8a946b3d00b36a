from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import NodeConfig, NodeError, NodeResult, NodeType, Port

SUMMARY_SYSTEM = (
    "You keep a running summary of a conversation between a user and an assistant. Rewrite "
    "the summary so that it also covers the new turns. Keep every fact the user gave (names, "
    "numbers, dates, places, preferences) and every decision or promise; drop small talk. "
    "Write plain sentences, at most {words} words, and nothing else."
)
SUMMARY_LABEL = "Summary of the earlier conversation:"


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
    summarize: bool = Field(
        False,
        title="Summarize older turns",
        description="When the conversation outgrows the budget, fold the older turns into a "
        "running summary (one model call now and then; each call adds only the new turns).",
    )
    summary_tokens: int = Field(
        250,
        ge=30,
        le=50_000,
        title="Summary size",
        description="Tokens of the budget kept for the summary; at most half of it.",
    )
    summary_model: str = Field(
        "",
        max_length=200,
        title="Summary model",
        description="Empty: the run's default model. A small, cheap model is enough.",
    )


class MemoryNode(NodeType):
    """Recall the past turns of this conversation most relevant to the current message, within
    a token budget, optionally with a running summary of the older turns. Output: {text, turns,
    tokens, summary}; the turns used are recorded on the step."""

    type = "memory"
    label = "Memory"
    category = "AI"
    Config = MemoryConfig
    outputs = (Port("out", "Past turns"), Port("error", "Error", required=False))

    @classmethod
    def templates(cls, config: NodeConfig) -> list[tuple[str, str]]:
        return [("query", config.query)]  # type: ignore[attr-defined]

    @classmethod
    def design_problems(
        cls, config: NodeConfig, tool_names: frozenset[str] | None
    ) -> list[tuple[str, str, str]]:
        memory: MemoryConfig = config  # type: ignore[assignment]
        if memory.summarize and memory.summary_tokens * 2 > memory.token_budget:
            return [
                (
                    "graph.E080",
                    f"The summary ({memory.summary_tokens} tokens) may take at most half of the "
                    f"token budget ({memory.token_budget}), so that recent turns still fit. "
                    "Make the summary smaller or the budget larger.",
                    "summary_tokens",
                )
            ]
        return []

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        config: MemoryConfig = ctx.config
        query = ctx.render(config.query, "query").strip()
        if not query:
            raise NodeError(
                "The message is empty once filled in.", code="empty_query", port="error"
            )
        request: dict[str, Any] = {
            "query": query,
            "token_budget": config.token_budget,
            "recency_weight": config.recency_weight,
        }
        if config.summarize:
            request["summary_tokens"] = min(config.summary_tokens, config.token_budget // 2)
        try:
            response = ctx.recall(**request)
            summary = response.get("summary")
            folded = response.get("fold") or []
            if folded:
                summary = self._fold(ctx, config, summary, folded)
        except NodeError as exc:
            raise NodeError(exc.message, code=exc.code, port="error") from exc
        turns = response.get("turns") or []
        used = sum(int(t.get("tokens") or 0) for t in turns)
        summary_tokens = int(summary["tokens"]) if summary else 0
        ctx.details["memory"] = {
            "turns": [t["turn"] for t in turns],
            "tokens": used + summary_tokens,
            "budget": config.token_budget,
            "considered": response.get("considered", 0),
        }
        if summary:
            ctx.details["memory"]["summary"] = {
                "upto": summary["upto"],
                "tokens": summary_tokens,
                "folded": [t["turn"] for t in folded],
            }
        lines = [f"{SUMMARY_LABEL} {summary['text']}"] if summary else []
        lines += [f"User: {t['user']}\nAssistant: {t['assistant']}" for t in turns]
        output = {
            "text": "\n".join(lines),
            "turns": turns,
            "tokens": used + summary_tokens,
            "summary": summary["text"] if summary else "",
        }
        return NodeResult(output=output, ports=["out"])

    def _fold(
        self,
        ctx: Any,
        config: MemoryConfig,
        summary: dict[str, Any] | None,
        folded: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        """Ask the model for the summary with the new turns folded in, and keep it on the
        conversation. A failed call keeps the summary there was: the budget holds either way."""
        limit = request_tokens = min(config.summary_tokens, config.token_budget // 2)
        new_turns = "\n".join(f"User: {t['user']}\nAssistant: {t['assistant']}" for t in folded)
        previous = summary["text"] if summary else "(none yet)"
        messages = [
            {"role": "system", "content": SUMMARY_SYSTEM.format(words=int(limit * 0.6))},
            {
                "role": "user",
                "content": f"Summary so far:\n{previous}\n\nNew turns:\n{new_turns}",
            },
        ]
        try:
            reply = ctx.chat(
                model=config.summary_model,
                messages=messages,
                temperature=0,
                max_tokens=request_tokens,
                stream=False,
                keep_truncated=True,
            )
        except NodeError as exc:
            ctx.details["memory_summary_error"] = {"code": exc.code, "message": exc.message}
            return summary
        text = (reply.content or "").strip()
        if not text:
            return summary
        return ctx.save_summary(text=text, upto=folded[-1]["turn"], max_tokens=limit)
