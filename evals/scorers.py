"""Dataset-level scorers: how an evaluation decides whether a run's output was right.

Each scorer is data ({"type": ..., options}); nothing a user types is executed. Regexes run on
the `regex` module with a timeout, JSON Schemas through the bounded checker of the engine, and
the LLM judge through the same model client (the openai SDK) as every other call.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import regex

from config.domain import Invalid
from runs.engine.limits import REGEX_TIMEOUT_SECONDS
from runs.engine.nodes.checks import check_json_schema, check_pattern
from runs.engine.schemas import SchemaCheckFailed, validation_errors

SCORER_TYPES = {
    "exact": "Exact match",
    "contains": "Contains",
    "regex": "Matches a pattern",
    "json_schema": "Fits a JSON schema",
    "numeric": "Number within a tolerance",
    "judge": "LLM judge with a rubric",
    "flow_evaluators": "The flow's own evaluator nodes",
}
MAX_SCORERS = 8
MAX_TEXT = 200_000
JUDGE_PROMPT = (
    "You grade the answer of an AI workflow against a rubric.\n\nRubric:\n{rubric}\n\n"
    "Input:\n{inputs}\n\nExpected answer (may be empty):\n{expected}\n\nActual answer:\n{output}"
    '\n\nReply with only a JSON object: {{"score": a number from 0 to 1, "reason": "one '
    'sentence"}}.'
)


class JudgeRefused(Exception):
    """The judge may not be asked at all (a spend budget is used up): the evaluation stops,
    rather than failing every item that is left."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class JudgeBusy(Exception):
    """Another driver holds this item's judge call: the item is left to it, not scored here."""


@dataclass
class Score:
    scorer: str
    passed: bool
    score: float
    reason: str = ""
    cost: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "passed": self.passed,
            "score": round(self.score, 4),
            "reason": self.reason,
        }


def scorers_clean(raw: Any) -> list[dict[str, Any]]:
    """Check a list of scorer settings; raise Invalid with every problem at once."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or len(raw) > MAX_SCORERS:
        raise Invalid(f"Scorers must be a list of at most {MAX_SCORERS}.", code="invalid_scorers")
    problems, clean = [], []
    for i, item in enumerate(raw, start=1):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in SCORER_TYPES:
            problems.append(f"Scorer {i}: unknown type “{str(kind)[:40]}”.")
            continue
        scorer: dict[str, Any] = {"type": kind}
        try:
            if kind == "regex":
                scorer["pattern"] = check_pattern(str(item.get("pattern") or ""))
                if not scorer["pattern"]:
                    raise ValueError("a regex scorer needs a pattern")
            elif kind == "json_schema":
                scorer["schema"] = check_json_schema(item.get("schema"))
            elif kind == "numeric":
                scorer["tolerance"] = abs(float(item.get("tolerance", 0)))
                if not math.isfinite(scorer["tolerance"]):
                    raise ValueError("the tolerance must be a number")
            elif kind == "judge":
                scorer["rubric"] = str(item.get("rubric") or "").strip()[:5_000]
                if not scorer["rubric"]:
                    raise ValueError("an LLM judge needs a rubric")
                scorer["model"] = str(item.get("model") or "")[:200]
                scorer["threshold"] = float(item.get("threshold", 0.7))
                if not 0 <= scorer["threshold"] <= 1:
                    raise ValueError("the judge's threshold must be between 0 and 1")
            elif kind == "contains":
                scorer["text"] = str(item.get("text") or "")[:5_000]
            if kind in ("exact", "contains"):
                scorer["ignore_case"] = bool(item.get("ignore_case", True))
        except (ValueError, TypeError, OverflowError) as exc:
            problems.append(f"Scorer {i} ({SCORER_TYPES[kind]}): {exc}.")
            continue
        clean.append(scorer)
    if problems:
        raise Invalid("Some scorers are not valid.", errors=problems, code="invalid_scorers")
    return clean


def as_text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:MAX_TEXT]


def _normal(text: str, ignore_case: bool) -> str:
    text = " ".join(text.split())
    return text.casefold() if ignore_case else text


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        found = regex.search(r"-?\d+(?:[.,]\d+)?", as_text(value), timeout=REGEX_TIMEOUT_SECONDS)
    except TimeoutError:
        return None
    return float(found.group().replace(",", ".")) if found else None


def score_one(
    scorer: dict[str, Any], *, output: Any, expected: Any, inputs: Any, judge: Any = None
) -> Score:
    """Score `output` with one scorer (`judge(model, messages)` answers the LLM judge)."""
    kind = scorer["type"]
    text = as_text(output)
    if kind == "exact":
        if expected is None:
            return Score(kind, False, 0.0, "no expected output to compare with")
        same = (
            output == expected
            if not isinstance(expected, str)
            else _normal(text, scorer.get("ignore_case", True))
            == _normal(expected, scorer.get("ignore_case", True))
        )
        return Score(kind, same, 1.0 if same else 0.0, "" if same else "differs from expected")
    if kind == "contains":
        needle = scorer.get("text") or as_text(expected)
        if not needle:
            return Score(kind, False, 0.0, "nothing to look for")
        ignore = scorer.get("ignore_case", True)
        found = _normal(needle, ignore) in _normal(text, ignore)
        return Score(
            kind, found, float(found), "" if found else f"does not contain “{needle[:80]}”"
        )
    if kind == "regex":
        try:
            found = regex.search(scorer["pattern"], text, timeout=REGEX_TIMEOUT_SECONDS)
        except TimeoutError:
            return Score(kind, False, 0.0, "the pattern took too long to check")
        ok = found is not None
        return Score(kind, ok, float(ok), "" if ok else f"does not match /{scorer['pattern']}/")
    if kind == "json_schema":
        data = output
        if isinstance(output, str):
            try:
                data = json.loads(output)
            except json.JSONDecodeError:
                return Score(kind, False, 0.0, "the output is not JSON")
        try:
            errors = validation_errors(scorer["schema"], data)
        except SchemaCheckFailed as exc:
            return Score(kind, False, 0.0, f"the schema could not be checked: {exc}")
        return Score(kind, not errors, float(not errors), errors[0].message if errors else "")
    if kind == "numeric":
        got, want = _number(output), _number(expected)
        if got is None or want is None:
            return Score(kind, False, 0.0, "no number to compare")
        ok = abs(got - want) <= scorer.get("tolerance", 0)
        return Score(
            kind,
            ok,
            float(ok),
            "" if ok else f"{got:g} is not within ±{scorer.get('tolerance', 0):g} of {want:g}",
        )
    if kind == "judge":
        return _judge(scorer, text, expected, inputs, judge)
    raise ValueError(kind)


def _judge(scorer: dict[str, Any], text: str, expected: Any, inputs: Any, judge: Any) -> Score:
    prompt = JUDGE_PROMPT.format(
        rubric=scorer["rubric"],
        inputs=as_text(inputs)[:20_000],
        expected=as_text(expected)[:20_000],
        output=text[:50_000],
    )
    try:
        reply = judge(scorer.get("model") or "", [{"role": "user", "content": prompt}])
    except (JudgeRefused, JudgeBusy):
        raise
    except Exception as exc:  # a judge that can't answer fails the item, with its reason
        return Score("judge", False, 0.0, f"the judge model failed: {getattr(exc, 'message', exc)}")
    content = (reply.content or "").strip().strip("`").removeprefix("json").strip()
    try:
        verdict = json.loads(content)
        value = float(verdict["score"])
    except (ValueError, KeyError, TypeError):
        return Score("judge", False, 0.0, "the judge's reply was not a score", reply.cost)
    value = min(1.0, max(0.0, value))
    passed = value >= scorer.get("threshold", 0.7)
    return Score("judge", passed, value, str(verdict.get("reason", ""))[:500], reply.cost)


def flow_evaluator_score(evaluator_steps: list[dict[str, Any]]) -> Score:
    """The flow's own evaluator nodes: pass when the last verdict of each passed."""
    if not evaluator_steps:
        return Score("flow_evaluators", False, 0.0, "the flow has no evaluator that ran")
    latest: dict[str, dict[str, Any]] = {}
    for step in evaluator_steps:
        latest[step["node_id"]] = step
    verdicts = [bool((s.get("details") or {}).get("passed")) for s in latest.values()]
    scores = [float((s.get("details") or {}).get("score") or 0) for s in latest.values()]
    failed = [n for n, s in latest.items() if not (s.get("details") or {}).get("passed")]
    return Score(
        "flow_evaluators",
        all(verdicts),
        sum(scores) / len(scores),
        f"failed: {', '.join(failed)}" if failed else "",
    )
