from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from .base import FailureConfig, NodeConfig, NodeError, NodeResult, NodeType, Port

FilterValue = str | int | float | bool


class RetrieveConfig(FailureConfig):
    query: str = Field(
        ...,
        min_length=1,
        max_length=10_000,
        title="Query",
        description="What to search for, e.g. {{ inputs.question }}.",
        json_schema_extra={"format": "template"},
    )
    knowledge_bases: list[str] = Field(
        ...,
        min_length=1,
        max_length=10,
        title="Knowledge bases",
        description="Names of knowledge bases in this workspace.",
    )
    top_k: int = Field(5, ge=1, le=50, title="Chunks to return")
    min_score: float = Field(
        0.0,
        ge=0,
        le=1,
        title="Minimum similarity",
        description="A meaning match below this similarity is dropped (0: keep all). Word "
        "matches always count.",
    )
    hybrid_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        title="Meaning vs words",
        description="1: by meaning only (embeddings), 0: by words only (full-text), 0.5: both.",
    )
    filters: dict[str, FilterValue | list[FilterValue]] = Field(
        default_factory=dict,
        max_length=10,
        title="Filters",
        description='Only chunks whose document matches, e.g. {"metadata.team": "support"}. '
        "Keys: document, title, source, format, metadata.<key>.",
    )

    @field_validator("knowledge_bases")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [name.strip() for name in value]
        if any(not name or len(name) > 120 for name in names):
            raise ValueError("each knowledge base is a name of 1 to 120 characters")
        return list(dict.fromkeys(names))


# What a person typing the chunks of a failed search must give: what later nodes read.
TYPED_CHUNKS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["text", "source"],
        "properties": {
            "text": {"type": "string"},
            "source": {"type": "string"},
            "score": {"type": "number"},
            "heading": {"type": "string"},
        },
    },
}


class RetrieveNode(NodeType):
    """Find the passages of your knowledge bases that best answer a query, by meaning and by
    words. Output: a list of chunks with their text, source, heading and score."""

    type = "retrieve"
    label = "Retrieve"
    category = "AI"
    Config = RetrieveConfig
    outputs = (Port("out", "Chunks"),)
    error_port = Port("error", "Error", required=False)

    @classmethod
    def templates(cls, config: NodeConfig) -> list[tuple[str, str]]:
        return [("query", config.query)]  # type: ignore[attr-defined]

    @classmethod
    def typed_output_schema(cls, config: NodeConfig) -> dict[str, Any] | None:
        return TYPED_CHUNKS

    @classmethod
    def knowledge_bases(cls, config: NodeConfig) -> list[str]:
        return list(config.knowledge_bases)  # type: ignore[attr-defined]

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        config: RetrieveConfig = ctx.config
        query = ctx.render(config.query, "query").strip()
        if not query:
            raise NodeError("The query is empty once filled in.", code="empty_query")
        try:
            response = ctx.retrieve(
                knowledge_bases=config.knowledge_bases,
                query=query,
                top_k=config.top_k,
                min_score=config.min_score,
                hybrid_weight=config.hybrid_weight,
                filters=config.filters,
            )
        except NodeError as exc:
            raise NodeError(exc.message, code=exc.code, kind=_error_type(exc.code)) from exc
        chunks = response.get("chunks") or []
        ctx.details["retrieved"] = [
            {
                key: chunk.get(key)
                for key in ("source", "heading", "score", "similarity", "retriever", "chunk_id")
            }
            for chunk in chunks
        ]
        output = [
            {
                "text": chunk["text"],
                "source": chunk["source"],
                "score": chunk["score"],
                "heading": chunk.get("heading", ""),
            }
            for chunk in chunks
        ]
        return NodeResult(output=output, ports=["out"])


def _error_type(code: str) -> str | None:
    """A failed query embedding is the embedding provider's failure (`embedding_timeout`: a
    timeout); None: typed by its code as any step's error."""
    if not code.startswith("embedding_"):
        return None
    return "timeout" if code == "embedding_timeout" else "provider_error"
