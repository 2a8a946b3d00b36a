"""The agent's loop: think, call tools, answer; reflect; stop at the goal or at a bound.

Every model call, tool call and search goes through the step's context (accounted, recorded,
replayable); every thought, tool call, tool result and critique is a sub-step of the step.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .. import flow_tools
from ..base import NodeError, NodeResult
from ..prompt import REPAIR_MESSAGE, _assistant_turn, _decide, is_routed, parse_json_output
from .config import AgentConfig
from .critique import critique
from .toolbox import Toolbox

PREVIEW_CHARS = 500
#: A tool result longer than this (as JSON) is kept in the trace as its preview only; the
#: recording holds it whole.
TRACE_RESULT_CHARS = 4_000

SYSTEM = (
    "You are an agent working toward a goal. Think step by step; call the tools you are given "
    "when they help, and use what they return. When the goal is met, reply with the final "
    "answer only, without calling a tool.\nGoal:\n{goal}"
)
REJECTED = (
    "A reviewer judged that this does not meet the goal yet: {feedback}\n"
    "Keep working (use the tools if they help), then give an improved final answer."
)


def run_agent(ctx: Any) -> NodeResult:
    """Work toward the node's goal until it is judged met or a bound stops it."""
    config: AgentConfig = ctx.config
    goal = ctx.render(config.goal, "goal")
    system = SYSTEM.format(goal=goal)
    if config.instructions:
        system += "\n\n" + ctx.render(config.instructions, "instructions")
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": goal},
    ]
    call = {
        "model": config.model,
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "timeout": config.timeout_seconds,
        "retries": config.retries,
        "fallback_models": config.fallback_models,
        "cache": config.cache,
    }
    if ctx.resume:
        return _resume(ctx, config)
    if is_routed(config):
        call["model"] = _route(ctx, config, messages)
    return _loop(ctx, Toolbox(ctx, config), goal, messages, call, 1)


def _resume(ctx: Any, config: AgentConfig) -> NodeResult:
    """Carry on after a flow tool's child run, from the state the loop saved when it waited."""
    resumed = flow_tools.resumed_answer(ctx)
    if resumed is None:
        raise NodeError(
            "The agent's saved state has no result to resume with.", code="replay_mismatch"
        )
    state, answer = resumed
    ctx.substeps[:] = state["substeps"]  # recorded already; the new ones follow them
    toolbox = Toolbox(ctx, config)
    toolbox.specs = state["tools"] or []
    messages, call, round_number = state["messages"], state["call"], state["round"]
    pending = state["pending"]
    messages.append(_tool_answer(ctx, pending[0], answer, round_number, child=state["result"]))
    waiting = _use_tools(ctx, toolbox, pending[1:], messages, round_number, state)
    if waiting is not None:
        return waiting
    return _loop(ctx, toolbox, state["goal"], messages, call, round_number + 1)


def _loop(
    ctx: Any,
    toolbox: Toolbox,
    goal: str,
    messages: list[dict[str, Any]],
    call: dict[str, Any],
    first: int,
) -> NodeResult:
    config: AgentConfig = ctx.config
    meter = Meter(ctx)
    for round_number in range(first, config.max_rounds + 1):
        meter.check()
        response = ctx.chat(messages=list(messages), tools=toolbox.specs or None, **call)
        if response.tool_calls:
            if (response.content or "").strip():
                ctx.substep("thought", round=round_number, text=response.content)
            messages.append(_assistant_turn(response))
            calls = [flow_tools.call_to_dict(c) for c in response.tool_calls]
            saved = {"goal": goal, "call": call}
            waiting = _use_tools(ctx, toolbox, calls, messages, round_number, saved)
            if waiting is not None:
                return waiting
            continue
        text = response.content or ""
        messages.append({"role": "assistant", "content": text})
        answer, feedback = _review(ctx, goal, text, round_number, meter)
        if feedback is None:
            return _done(ctx, answer, round_number)
        messages.append({"role": "user", "content": feedback})
    raise NodeError(
        f"The agent did not reach its goal within {config.max_rounds} round(s).",
        code="max_rounds",
    )


def _review(
    ctx: Any, goal: str, text: str, round_number: int, meter: Meter
) -> tuple[Any, str | None]:
    """Check a final answer: its format, then the reflection. Return (answer, None) when it is
    accepted, else (None, what to tell the agent)."""
    config: AgentConfig = ctx.config
    ctx.substep("answer", round=round_number, text=text)
    answer, problem = _final_answer(config, text)
    if problem is not None:
        ctx.substep("critique", round=round_number, met=False, by="schema", feedback=problem)
        return None, REPAIR_MESSAGE.format(error=problem)
    if config.reflection == "none":
        return answer, None
    meter.check()
    verdict = critique(ctx, config, goal, answer, ctx.substeps)
    ctx.substep(
        "critique", round=round_number, met=verdict.met, by=verdict.by, feedback=verdict.feedback
    )
    return (answer, None) if verdict.met else (None, REJECTED.format(feedback=verdict.feedback))


def _route(ctx: Any, config: AgentConfig, messages: list[dict[str, Any]]) -> str:
    """Pick the model once for the whole loop (the router's first choice)."""
    decision, _ = _decide(ctx, config, messages)
    routing = decision.to_dict()
    model = decision.ladder[0]
    routing["chose"] = model
    routing["tier"] = decision.tiers.get(model, routing["tier"])
    ctx.details["routing"] = routing
    return model


def _use_tools(
    ctx: Any,
    toolbox: Toolbox,
    calls: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    round_number: int,
    saved: dict[str, Any],
) -> NodeResult | None:
    """Answer a turn's tool calls, each call and its result a sub-step. A flow tool's call
    returns the step's wait, with the loop's state to resume from."""
    for index, tool_call in enumerate(calls):
        name, arguments = tool_call["name"], tool_call["arguments"]
        flow = toolbox.flows.get(name)
        extra = {"flow": flow["flow"]} if flow else {}
        ctx.substep("tool_call", round=round_number, tool=name, arguments=arguments, **extra)
        if flow is None:
            result, ok = toolbox.call(name, arguments)
            messages.append(_tool_message(ctx, tool_call, result, ok, round_number))
            continue
        replayed = flow_tools.replayed_answer(ctx, tool_call)
        if replayed is not None:
            messages.append(_tool_answer(ctx, tool_call, replayed["answer"], round_number))
            continue
        state = {
            "goal": saved["goal"],
            "call": saved["call"],
            "messages": messages,
            "round": round_number,
            "pending": calls[index:],
            "tools": toolbox.specs,
            "substeps": list(ctx.substeps),
            "details": dict(ctx.details),
        }
        return NodeResult(
            wait=flow_tools.wait(toolbox.flows, tool_call), details={flow_tools.WAIT_KIND: state}
        )
    return None


def _tool_answer(
    ctx: Any,
    tool_call: dict[str, Any],
    answer: Any,
    round_number: int,
    child: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A flow tool's answer (the child run's result or error) as the model's tool message."""
    ok = not (isinstance(answer, dict) and set(answer) == {"error"})
    if child is not None:
        ok = bool(child.get("ok"))
    extra = {"child_run_id": child.get("child_run_id")} if child else {}
    return _tool_message(ctx, tool_call, answer, ok, round_number, **extra)


def _tool_message(
    ctx: Any, tool_call: dict[str, Any], result: Any, ok: bool, round_number: int, **extra: Any
) -> dict[str, Any]:
    content = json.dumps(result, default=str, ensure_ascii=False)
    entry: dict[str, Any] = {
        "tool": tool_call["name"],
        "ok": ok,
        "preview": content[:PREVIEW_CHARS],
    }
    if len(content) <= TRACE_RESULT_CHARS:
        entry["result"] = result
    ctx.substep("tool_result", round=round_number, **entry, **extra)
    return {"role": "tool", "tool_call_id": tool_call["id"], "content": content}


def _final_answer(config: AgentConfig, text: str) -> tuple[Any, str | None]:
    if config.output_format == "text":
        if not text.strip():
            return None, "the reply was empty"
        return text, None
    return parse_json_output(text, config.json_schema)


def _done(ctx: Any, answer: Any, rounds: int) -> NodeResult:
    ctx.details["rounds"] = rounds
    return NodeResult(output={"answer": answer, "rounds": rounds, "trace": list(ctx.substeps)})


class Meter:
    """Stops the loop before a call once the step has used what the run had left."""

    def __init__(self, ctx: Any):
        self.ctx = ctx
        self.started = time.monotonic()

    def check(self) -> None:
        allowance, usage = self.ctx.allowance, self.ctx.usage
        tokens = usage.tokens_in + usage.tokens_out
        if allowance.tokens is not None and tokens >= allowance.tokens:
            self._stop(f"its token budget ({tokens} used by the agent, {allowance.tokens} left)")
        if allowance.cost is not None and usage.cost >= allowance.cost:
            self._stop(f"its cost budget (${usage.cost:.4f} used, ${allowance.cost:.4f} left)")
        elapsed = time.monotonic() - self.started
        if allowance.seconds is not None and elapsed >= allowance.seconds:
            self._stop(f"its time budget ({elapsed:.0f} s of {allowance.seconds:.0f} s left)")

    def _stop(self, what: str) -> None:
        raise NodeError(
            f"The agent stopped: the run reached {what}.", code="budget_exceeded", kind="budget"
        )
