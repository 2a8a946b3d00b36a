"""The prompt node's configuration."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ..base import FailureConfig
from ..checks import check_json_schema
from ..evaluator import Rule
from ..flow_tools import FlowTool


class PromptConfig(FailureConfig):
    model: str = Field(
        "",
        max_length=200,
        title="Model",
        description=(
            "provider/model, e.g. openai/gpt-4o-mini; auto: chosen per request by tier and "
            "price (see Candidate models). Empty: the workspace default."
        ),
    )
    system: str = Field(
        "", max_length=100_000, title="System message", json_schema_extra={"format": "template"}
    )
    prompt: str = Field(
        ...,
        min_length=1,
        max_length=100_000,
        title="User message",
        json_schema_extra={"format": "template"},
    )
    temperature: float = Field(0.7, ge=0, le=2, title="Temperature")
    max_tokens: int = Field(512, ge=1, le=65_536, title="Max tokens")
    timeout_seconds: float = Field(60, gt=0, le=900, title="Timeout (s)")
    retries: int = Field(2, ge=0, le=10, title="Retries")
    fallback_models: list[str] = Field(default_factory=list, max_length=5, title="Fallback models")
    output_format: Literal["text", "json"] = Field("text", title="Output format")
    json_schema: dict[str, Any] | None = Field(
        None, title="Output JSON schema", description="Checked when the output format is JSON."
    )
    tools: list[str] = Field(default_factory=list, max_length=20, title="Tools the model may call")
    flow_tools: list[FlowTool] = Field(
        default_factory=list,
        max_length=10,
        title="Flows the model may call",
        description="Published flows offered as tools; a flow's inputs are the tool's "
        "arguments, and its result is the tool's answer.",
    )
    max_tool_rounds: int = Field(5, ge=1, le=20, title="Max tool rounds")
    cache: bool = Field(False, title="Cache responses")
    semantic_cache: bool = Field(
        False,
        title="Semantic cache",
        description="Answer from a past request that meant the same (same configuration, "
        "similar user message), at no model cost.",
    )
    semantic_similarity: float = Field(
        0.95,
        ge=0.5,
        le=1,
        title="Semantic cache: similarity",
        description="How close (cosine, 0.5–1) a past request must be to count as the same.",
    )
    semantic_same_figures: bool = Field(
        True,
        title="Semantic cache: same figures only",
        description="A past request answers only when it has the same numbers as this one "
        "(order numbers, amounts, counts): close wording with other figures asks something else.",
    )
    semantic_ttl_seconds: int = Field(
        86_400, ge=60, le=90 * 86_400, title="Semantic cache: keep answers for (s)"
    )
    semantic_scope: Literal["flow", "workspace"] = Field(
        "flow",
        title="Semantic cache: shared with",
        description="flow: this flow's runs only; workspace: every flow of the workspace "
        "whose node is configured the same way.",
    )
    candidates: list[str] = Field(
        default_factory=list,
        max_length=20,
        title="Candidate models (auto)",
        description="With model auto: the models the router may pick. Empty: every model.",
    )
    max_tier: Literal["", "small", "medium", "large"] = Field(
        "", title="Highest tier (auto)", description="The strongest tier auto may pick."
    )
    confidence_floor: float = Field(
        0.0,
        ge=0,
        le=1,
        title="Confidence floor (auto)",
        description="Below this confidence the router takes the strongest allowed model.",
    )
    learned_router: bool = Field(
        True,
        title="Learned router (auto)",
        description="When the workspace has a trained router, it picks the tier from past "
        "labelled runs; off, or with none trained: the rules-based baseline.",
    )
    self_assessment: bool = Field(
        False,
        title="Ask the small model first (auto)",
        description="Before the rules-based router decides, the cheapest candidate rates from "
        "0 to 10 how surely it can answer (one short call); a low rating sends the request up.",
    )
    cascade: bool = Field(
        True,
        title="Escalate on failure (auto)",
        description="Retry on the next tier when the answer fails its schema or evaluator.",
    )
    cascade_from: Literal["routed", "cheapest"] = Field(
        "routed",
        title="Cascade starts at (auto)",
        description="routed: the model the router picks; cheapest: the cheapest candidate, "
        "whatever the router thinks (the cascade then climbs the tiers on failure).",
    )
    escalate_on: list[Rule] = Field(
        default_factory=list,
        max_length=20,
        title="Escalate unless (auto)",
        description="Checks on the answer (as an evaluator's rules); one failing sends the "
        "same request to the next tier. At the top tier the answer is kept.",
    )

    @field_validator("json_schema")
    @classmethod
    def _schema_is_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_json_schema(value) if value is not None else None

    on_truncation: Literal["fail", "keep"] = Field(
        "fail",
        title="When the reply hits Max tokens",
        description="fail: the step fails with reason truncated; keep: keep the partial text.",
    )
