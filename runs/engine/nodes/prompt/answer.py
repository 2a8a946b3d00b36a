"""One model's answer to a prompt step: the tool rounds, then the JSON check with one repair."""

from __future__ import annotations

import json
from typing import Any

from ...schemas import SchemaCheckFailed, validation_errors
from .. import flow_tools
from ..base import NodeError, NodeResult
from .config import PromptConfig

REPAIR_MESSAGE = (
    "Your reply was not valid: {error}. Reply again with only a JSON document that satisfies "
    "the required schema, and nothing else."
)


def response_format(config: PromptConfig) -> dict[str, Any] | None:
    if config.output_format != "json":
        return None
    if config.json_schema:
        return {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": config.json_schema, "strict": False},
        }
    return {"type": "json_object"}


def parse_json_output(text: str, schema: dict[str, Any] | None) -> tuple[Any, str | None]:
    """Return (value, None) for valid JSON output, or (None, a readable reason).

    A schema that can't be checked (over its time, a `$ref` to outside it) fails the step.
    """
    candidate = text.strip()
    if candidate.startswith("```"):
        candidate = candidate.strip("`").removeprefix("json").strip()
    try:
        # strict=False: small models (and grammars that allow any character in a string) emit raw
        # newlines and tabs inside strings; the document means the same with them escaped.
        value = json.loads(candidate, strict=False)
    except json.JSONDecodeError as exc:
        return None, f"it is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if schema:
        try:
            problems = validation_errors(schema, value)
        except SchemaCheckFailed as exc:
            raise NodeError(
                f"The output JSON schema could not be checked: {exc}.", code="schema_check_failed"
            ) from exc
        if problems:
            where = "/".join(str(p) for p in problems[0].absolute_path) or "the document"
            return None, f"{where}: {problems[0].message}"
    return value, None


def _assistant_turn(response: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": response.content or "",
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in response.tool_calls
        ],
    }


def _answer(
    ctx: Any,
    config: PromptConfig,
    messages: list[dict[str, Any]],
    call: dict[str, Any],
    tools: list[dict[str, Any]] | None,
) -> NodeResult:
    """Ask one model (with its fallbacks): tool rounds, then the JSON check with one repair.

    A flow tool call makes the step wait for its child run; resumed, the loop carries on from
    the saved state with the child's answer."""
    first = 0
    resumed = flow_tools.resumed_answer(ctx)
    if resumed is not None:
        state, answer = resumed
        messages, call, tools = state["messages"], state["call"], state["tools"]
        first = state["round"]
        messages.append(_tool_message(state["pending"][0]["id"], answer))
        waiting = _tool_turn(ctx, config, messages, state["pending"][1:], first, call, tools)
        if waiting is not None:
            return waiting
        first += 1
    for _round in range(first, config.max_tool_rounds + 1):
        response = ctx.chat(messages=messages, tools=tools, **call)
        if not response.tool_calls:
            break
        if _round == config.max_tool_rounds:
            raise NodeError(
                f"The model was still calling tools after {config.max_tool_rounds} rounds.",
                code="tool_rounds_exceeded",
            )
        messages.append(_assistant_turn(response))
        calls = [flow_tools.call_to_dict(c) for c in response.tool_calls]
        waiting = _tool_turn(ctx, config, messages, calls, _round, call, tools)
        if waiting is not None:
            return waiting
    text = response.content or ""
    if config.output_format == "text":
        return NodeResult(output=text)
    value, problem = parse_json_output(text, config.json_schema)
    if problem is not None:
        # One repair round: show the model what was wrong and ask again.
        messages.append({"role": "assistant", "content": text})
        messages.append({"role": "user", "content": REPAIR_MESSAGE.format(error=problem)})
        ctx.details["json_repair"] = problem
        response = ctx.chat(messages=messages, tools=None, **call)
        value, problem = parse_json_output(response.content or "", config.json_schema)
        if problem is not None:
            raise NodeError(
                f"The model's output was not valid JSON: {problem}", code="invalid_json"
            )
    return NodeResult(output=value)


def _tool_turn(
    ctx: Any,
    config: PromptConfig,
    messages: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    round_: int,
    call: dict[str, Any],
    tools: list[dict[str, Any]] | None,
) -> NodeResult | None:
    """Answer a turn's tool calls in order; a flow tool's call returns the step's wait, with
    the loop's state to resume from (the calls from it on are still to answer)."""
    flows = flow_tools.flows_by_name(config.flow_tools)
    for index, tool_call in enumerate(calls):
        if tool_call["name"] not in flows:
            result = _tool_result(ctx, config, tool_call["name"], tool_call["arguments"])
            messages.append(_tool_message(tool_call["id"], result))
            continue
        replayed = flow_tools.replayed_answer(ctx, tool_call)
        if replayed is not None:
            messages.append(_tool_message(tool_call["id"], replayed["answer"]))
            continue
        state = {
            "messages": messages,
            "round": round_,
            "pending": calls[index:],
            "call": call,
            "tools": tools,
            "details": dict(ctx.details),
        }
        return NodeResult(
            wait=flow_tools.wait(flows, tool_call), details={flow_tools.WAIT_KIND: state}
        )
    return None


def _tool_message(call_id: str, result: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(result, default=str)}


def _tool_result(ctx: Any, config: PromptConfig, name: str, arguments: Any) -> Any:
    if name not in config.tools:
        return {"error": f'No tool named "{name}" is available.'}
    try:
        return ctx.call_tool(name, arguments)
    except NodeError as exc:
        # The model sees the tool's error and may recover; the step does not fail.
        return {"error": exc.message}
