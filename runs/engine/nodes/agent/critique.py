"""Reflection: judge an agent's answer against its goal before accepting it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..base import NodeError
from ..evaluator import check_rules
from .config import AgentConfig

SUBMIT_VERDICT = "submit_verdict"

VERDICT_TOOL = {
    "type": "function",
    "function": {
        "name": SUBMIT_VERDICT,
        "description": "Say whether the answer meets the goal, with short actionable feedback.",
        "parameters": {
            "type": "object",
            "properties": {
                "met": {"type": "boolean", "description": "true when the goal is met"},
                "feedback": {"type": "string", "description": "what is missing or wrong"},
            },
            "required": ["met", "feedback"],
        },
    },
}

REVIEWER = (
    "You are a strict reviewer. Decide whether the answer fully meets the goal. If it does "
    "not, say precisely what is missing or wrong, in a sentence or two.\nGoal:\n{goal}"
)


@dataclass
class Verdict:
    met: bool
    feedback: str
    by: str  # "critique" (a reviewer model) or "rules"


def critique(
    ctx: Any, config: AgentConfig, goal: str, answer: Any, trace: list[dict[str, Any]]
) -> Verdict:
    """Judge the answer: by the configured rules, or by a reviewer model told the goal."""
    if config.reflection == "rules":
        passed, _score, feedback = check_rules(config.rules, answer)
        return Verdict(passed, feedback or "Every check passed.", "rules")
    system = REVIEWER.format(goal=goal)
    if config.criteria:
        system += "\nAlso required:\n" + ctx.render(config.criteria, "criteria")
    evidence = "\n".join(
        f"- {e['tool']} → {e['preview']}" for e in trace if e["type"] == "tool_result"
    )
    user = "Answer:\n" + _as_text(answer)
    if evidence:
        user += "\n\nWhat the agent's tools returned:\n" + evidence
    response = ctx.chat(
        model=config.critique_model or config.model,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        tools=[VERDICT_TOOL],
        tool_choice={"type": "function", "function": {"name": SUBMIT_VERDICT}},
        temperature=0,
        max_tokens=300,
        timeout=config.timeout_seconds,
        retries=config.retries,
        stream=False,
    )
    call = next((c for c in response.tool_calls if c.name == SUBMIT_VERDICT), None)
    if call is None or not isinstance(call.arguments, dict):
        raise NodeError("The reviewer model did not return a verdict.", code="judge_no_score")
    met = call.arguments.get("met")
    if isinstance(met, str):
        met = met.strip().lower() in ("true", "yes", "1")
    return Verdict(bool(met), str(call.arguments.get("feedback", ""))[:2_000], "critique")


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
