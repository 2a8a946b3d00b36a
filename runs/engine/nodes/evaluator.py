from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..schemas import SchemaCheckFailed, validation_errors
from ..shapes import TEXT, closed_object, types_of, union
from .base import FailureConfig, NodeError, NodeResult, NodeType, Port
from .checks import check_json_schema, check_pattern

VERDICT = closed_object(
    {"passed": {"type": "boolean"}, "score": {"type": "number"}, "feedback": TEXT},
    ["passed", "score", "feedback"],
)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["json_schema", "regex", "min_length", "max_length", "contains", "not_contains"]
    value: Any = Field(..., title="Value")
    message: str = Field("", max_length=500, title="Feedback when it fails")

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Rule:
        if self.kind == "regex":
            check_pattern(self.value)
        elif self.kind == "json_schema":
            check_json_schema(self.value)
        elif self.kind in ("min_length", "max_length"):
            if isinstance(self.value, bool) or not isinstance(self.value, int) or self.value < 0:
                raise ValueError(f"{self.kind} needs a whole number of 0 or more")
        elif not isinstance(self.value, str) or not self.value:
            raise ValueError(f"{self.kind} needs some text")
        return self


class EvaluatorConfig(FailureConfig):
    mode: Literal["rules", "llm"] = Field("rules", title="Mode")
    target: str = Field(
        "",
        max_length=20_000,
        title="What to evaluate",
        description="A template; empty means the incoming value.",
        json_schema_extra={"format": "template"},
    )
    rules: list[Rule] = Field(default_factory=list, max_length=50, title="Rules")
    model: str = Field("", max_length=200, title="Judge model (LLM mode)")
    criteria: str = Field("", max_length=20_000, title="Criteria (LLM mode)")
    threshold: float = Field(0.7, ge=0, le=1, title="Pass threshold")
    max_attempts: int = Field(3, ge=1, le=10, title="Max attempts")
    timeout_seconds: float = Field(60, gt=0, le=900, title="Timeout (s)")

    @model_validator(mode="after")
    def _mode_has_what_it_needs(self) -> EvaluatorConfig:
        if self.mode == "rules" and not self.rules:
            raise ValueError("rules mode needs at least one rule")
        if self.mode == "llm" and not self.criteria:
            raise ValueError("LLM mode needs criteria")
        return self


class EvaluatorNode(NodeType):
    """Score an upstream output by rules or a judge model. On fail, loop back with feedback."""

    type = "evaluator"
    retry_port = "fail"
    failed_verdict_port = "fail"
    label = "Evaluator"
    category = "Logic"
    outputs = (Port("pass", "Pass"), Port("fail", "Fail", required=False))
    Config = EvaluatorConfig
    error_port = Port("error", "Error", required=False)
    error_port_when = {"mode": "llm"}
    retry_model_field = "model"

    @classmethod
    def typed_output_schema(cls, config) -> dict[str, Any] | None:
        return {
            "type": "object",
            "required": ["passed"],
            "properties": {
                "passed": {"type": "boolean"},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "feedback": {"type": "string"},
            },
        }

    @classmethod
    def typed_output_ports(cls, config, value: Any) -> list[str]:
        return ["pass" if value.get("passed") else "fail"]

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [("target", config.target)] if config.target else []

    @classmethod
    def output_schema(cls, config, scope) -> dict[str, Any]:
        return cls.with_error_shape(config, VERDICT)

    @classmethod
    def input_schemas(cls, config) -> dict[str, dict[str, Any]]:
        if config.target or config.mode != "rules":
            return {}
        # A JSON schema rule checks the incoming value itself, or the JSON text it holds.
        wanted = [rule.value for rule in config.rules if rule.kind == "json_schema"]
        typed = [schema for schema in wanted if types_of(schema) is not None]
        return {"in": union([*typed, TEXT])} if typed else {}

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        config: EvaluatorConfig = ctx.config
        value = ctx.render_value(config.target) if config.target else inputs.get("in")
        if config.mode == "llm":
            passed, score, feedback = _judge(ctx, config, value)
        else:
            passed, score, feedback = check_rules(config.rules, value)
        output = {"passed": passed, "score": score, "feedback": feedback}
        return NodeResult(
            output=output,
            ports=["pass" if passed else "fail"],
            details={"score": score, "feedback": feedback, "passed": passed},
        )


MAX_CHECKED_CHARS = 200_000


def _as_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text[:MAX_CHECKED_CHARS]


def _rule_failure(rule: Rule, value: Any) -> str | None:
    """Return why a rule fails, or None when it holds."""
    text = _as_text(value)
    if rule.kind == "json_schema":
        data = value
        if isinstance(value, str):
            try:
                data = json.loads(value)
            except json.JSONDecodeError:
                return "the output is not JSON"
        if not isinstance(rule.value, dict):
            return "the rule's schema is not an object"
        try:
            errors = validation_errors(rule.value, data)
        except SchemaCheckFailed as exc:
            # Not a verdict on the output: the check itself can't be done, so the step fails.
            raise NodeError(
                f"A json_schema rule could not be checked: {exc}.", code="schema_check_failed"
            ) from exc
        return errors[0].message if errors else None
    if rule.kind == "regex":
        import regex

        try:
            found = regex.search(str(rule.value), text, timeout=0.5) is not None
        except regex.error as exc:
            return f"invalid pattern: {exc}"
        except TimeoutError:
            return "the pattern took too long to check"
        return None if found else f"does not match /{rule.value}/"
    size = len(value) if isinstance(value, (list, dict)) else len(text)
    if rule.kind == "min_length":
        return None if size >= int(rule.value) else f"length {size} is below {rule.value}"
    if rule.kind == "max_length":
        return None if size <= int(rule.value) else f"length {size} is above {rule.value}"
    needle = str(rule.value).lower()
    present = needle in text.lower()
    if rule.kind == "contains":
        return None if present else f'does not contain "{rule.value}"'
    return f'contains "{rule.value}"' if present else None


def check_rules(rules: list[Rule], value: Any) -> tuple[bool, float, str]:
    """Return (passed, score, feedback) of the rules on a value."""
    failures = []
    for rule in rules:
        try:
            reason = _rule_failure(rule, value)
        except (TypeError, ValueError) as exc:
            reason = f"the rule could not be checked: {exc}"
        if reason is not None:
            failures.append(rule.message or f"{rule.kind}: {reason}")
    score = 1 - len(failures) / len(rules) if rules else 1.0
    return not failures, round(score, 4), "; ".join(failures)


_check_rules = check_rules  # the name tests and older code import

SUBMIT_SCORE = "submit_score"


def _judge(ctx: Any, config: EvaluatorConfig, value: Any) -> tuple[bool, float, str]:
    tool = {
        "type": "function",
        "function": {
            "name": SUBMIT_SCORE,
            "description": "Submit the score and feedback.",
            "parameters": {
                "type": "object",
                "properties": {
                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                    "feedback": {"type": "string"},
                },
                "required": ["score", "feedback"],
            },
        },
    }
    messages = [
        {
            "role": "system",
            "content": "You are a strict reviewer. Score the text from 0 (fails) to 1 (fully meets "
            "the criteria) and give short, actionable feedback.\nCriteria:\n" + config.criteria,
        },
        {"role": "user", "content": _as_text(value)},
    ]
    response = ctx.chat(
        model=config.model,
        messages=messages,
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": SUBMIT_SCORE}},
        temperature=0,
        max_tokens=300,
        timeout=config.timeout_seconds,
        stream=False,
    )
    call = next((c for c in response.tool_calls if c.name == SUBMIT_SCORE), None)
    if call is None:
        raise NodeError("The judge model did not return a score.", code="judge_no_score")
    try:
        score = min(1.0, max(0.0, float(call.arguments.get("score"))))
    except (TypeError, ValueError) as exc:
        raise NodeError(
            "The judge model returned a score that is not a number.", code="judge_no_score"
        ) from exc
    feedback = str(call.arguments.get("feedback", ""))
    return score >= config.threshold, score, feedback
