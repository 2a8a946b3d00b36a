"""Published flows offered to a model as tools: the flow's input schema is the tool's arguments.

Calling one starts a child run, so the step waits (no worker is held): the model's conversation
so far is kept with the step (`details["flow_tool"]`), and when the child finishes the step runs
again and carries on from there with the child's result (or its error) as the tool's answer.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .base import NodeError

WAIT_KIND = "flow_tool"


class FlowTool(BaseModel):
    flow: int = Field(..., ge=1, le=2**31 - 1, title="Flow id")
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] | Literal["latest"] = Field(
        "latest", title="Version", description="A published version number, or latest."
    )
    name: str = Field(
        "",
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]*$",
        title="Tool name",
        description="The name the model calls it by; empty: flow_<id>.",
    )
    description: str = Field("", max_length=1000, title="What it does (for the model)")

    @property
    def tool_name(self) -> str:
        return self.name or f"flow_{self.flow}"

    @property
    def pinned(self) -> int | None:
        return None if self.version == "latest" else int(self.version)


def offered(flow_tools: list[FlowTool]) -> list[dict[str, Any]]:
    """The flows a step calls as tools, as {flow, version} (for validation and the sweeper)."""
    return [{"flow": t.flow, "version": t.pinned} for t in flow_tools]


def name_problems(
    flow_tools: list[FlowTool], builtin: frozenset[str] | None, taken: list[str]
) -> list[tuple[str, str, str]]:
    """Return (code, message, field) for each flow tool whose name the model could not tell
    apart: a built-in tool's (`builtin`: the registered tools, None: unknown), one of the
    node's other tools (`taken`), or an earlier flow tool's."""
    problems = []
    seen: set[str] = set()
    for index, tool in enumerate(flow_tools):
        name = tool.tool_name
        if name in seen:
            clash = "the name of another flow tool of this node"
        elif name in taken:
            clash = "the name of one of this node's tools"
        elif builtin is not None and name in builtin:
            clash = "the name of a built-in tool"
        else:
            clash = ""
        seen.add(name)
        if clash:
            problems.append(
                (
                    "graph.E044",
                    f'flow_tools: "{name}" is already {clash}; give this flow another tool name.',
                    f"flow_tools.{index}.name",
                )
            )
    return problems


def flows_by_name(flow_tools: list[FlowTool]) -> dict[str, Any]:
    """The flows offered as tools, by tool name: {flow, version (None: the latest)}."""
    return {t.tool_name: {"flow": t.flow, "version": t.pinned} for t in flow_tools}


def specs(ctx: Any, flow_tools: list[FlowTool]) -> list[dict[str, Any]]:
    """Return the OpenAI tool specs of the flows: each flow's input schema is its parameters."""
    lookup = getattr(ctx.tools, "flow_inputs", None)
    tools: list[dict[str, Any]] = []
    for tool in flow_tools:
        if lookup is None:
            raise NodeError("Flows cannot be called as tools here.", code="subflow_not_found")
        found = lookup(tool.flow, tool.pinned)  # {name, description, version, schema}
        tools.append(tool_spec(tool, found))
    return tools


def tool_spec(tool: FlowTool, found: dict[str, Any]) -> dict[str, Any]:
    """One flow's tool spec from what the workspace says of it ({name, description, schema})."""
    schema = dict(found.get("schema") or {"type": "object"})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    description = tool.description or found.get("description") or ""
    return {
        "type": "function",
        "function": {
            "name": tool.tool_name,
            "description": description or f'Run the flow "{found.get("name", "")}".',
            "parameters": schema,
        },
    }


def call_to_dict(call: Any) -> dict[str, Any]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments}


def replayed_answer(ctx: Any, call: dict[str, Any]) -> dict[str, Any] | None:
    """Answer a flow tool call from the recording when reproducing (None: start the child)."""
    if getattr(ctx.tools, "replays", False):
        try:
            return {"answer": ctx.call_tool(call["name"], call["arguments"])}
        except NodeError as exc:
            return {"answer": {"error": exc.message}}
    return None


def wait(flows: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    """The step's wait: the child run to start for a flow tool call."""
    flow = flows[call["name"]]
    arguments = call["arguments"] if isinstance(call["arguments"], dict) else {}
    return {
        "kind": WAIT_KIND,
        "flow": flow["flow"],
        "version": flow["version"],
        "inputs": arguments,
        "tool": call["name"],
        "tool_call_id": call["id"],
    }


def resumed_answer(ctx: Any) -> tuple[dict[str, Any], Any] | None:
    """The saved loop state and the finished child's answer, when the step resumes; recorded
    as the tool's answer so a reproduction gives the model the same without any child run."""
    state = ctx.resume
    if not state or "result" not in state:
        return None
    result = state["result"]
    call = state["pending"][0]
    arguments = call["arguments"]
    if result.get("ok"):
        answer = result.get("output")
        response: dict[str, Any] = {"result": answer}
    else:
        message = result.get("message") or "The flow failed."
        answer = {"error": message}
        response = {"error": {"code": result.get("code") or "subflow_failed", "message": message}}
    ctx.recordings.append(
        {
            "kind": "tool",
            "request": {"name": call["name"], "arguments": json.loads(json.dumps(arguments))},
            "response": json.loads(json.dumps(response, default=str)),
        }
    )
    details = dict(state.get("details") or {})
    calls = list(details.get("flow_tool_calls") or [])
    calls.append(
        {
            "tool": call["name"],
            "child_run_id": result.get("child_run_id"),
            "ok": bool(result.get("ok")),
        }
    )
    ctx.details.update(details, flow_tool_calls=calls)
    return state, answer
