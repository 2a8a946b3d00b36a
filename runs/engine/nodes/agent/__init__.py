"""The agent node: a goal, tools and optional reflection, looping until the goal is met."""

from __future__ import annotations

from typing import Any

from ...shapes import ANY, TEXT
from .. import flow_tools
from ..base import NodeConfig, NodeResult, NodeType, Port
from ..prompt import is_routed
from .config import AgentConfig
from .loop import run_agent
from .toolbox import SEARCH_TOOL

SUBSTEP_KINDS = ("thought", "tool_call", "tool_result", "answer", "critique")

TRACE_SHAPE = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "type": {"enum": list(SUBSTEP_KINDS)},
            "round": {"type": "integer"},
        },
    },
}


class AgentNode(NodeType):
    """Work toward a goal on its own: think, call tools (built-ins, knowledge-base search),
    answer, and optionally have the answer critiqued against the goal and improve it. Stops when
    the goal is judged met, at Max rounds, or at the run's budgets. Output: the answer, the
    rounds it took and the trace of every thought, tool call, result and critique."""

    type = "agent"
    label = "Agent"
    category = "AI"
    Config = AgentConfig
    error_port = Port("error", "Error", required=False)
    retry_model_field = "model"

    @classmethod
    def _answer_schema(cls, config: Any) -> dict[str, Any]:
        if config.output_format == "text":
            return TEXT
        return config.json_schema or ANY

    @classmethod
    def output_schema(cls, config, scope) -> dict[str, Any]:
        own = {
            "type": "object",
            "properties": {
                "answer": cls._answer_schema(config),
                "rounds": {"type": "integer"},
                "trace": TRACE_SHAPE,
            },
            "required": ["answer", "rounds", "trace"],
        }
        return cls.with_error_shape(config, own)

    @classmethod
    def typed_output_schema(cls, config) -> dict[str, Any] | None:
        return {
            "type": "object",
            "properties": {"answer": cls._answer_schema(config), "rounds": {"type": "integer"}},
            "required": ["answer"],
        }

    @classmethod
    def knowledge_bases(cls, config) -> list[str]:
        return list(config.knowledge_bases)

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [
            ("goal", config.goal),
            ("instructions", config.instructions),
            ("criteria", config.criteria),
        ]

    @classmethod
    def tool_calls(
        cls, config: NodeConfig, arguments: dict[str, Any] | None
    ) -> list[tuple[str, dict[str, Any] | None]]:
        return [(name, None) for name in getattr(config, "tools", None) or []]

    @classmethod
    def called_flows(cls, config: NodeConfig) -> list[tuple[str, int, int | None]]:
        return [("flow_tools", t.flow, t.pinned) for t in getattr(config, "flow_tools", [])]

    @classmethod
    def routing(cls, config) -> dict[str, Any] | None:
        if not is_routed(config):
            return None
        return {"candidates": list(config.candidates), "max_tier": config.max_tier}

    @classmethod
    def design_problems(cls, config, tool_names) -> list[tuple[str, str, str]]:
        """Return (code, message, field) for what would stop the agent from working."""
        problems = []
        for name in config.tools:
            if tool_names is not None and name not in tool_names:
                problems.append(
                    (
                        "graph.E070",
                        f'tools: there is no tool named "{name}". Known tools: '
                        + ", ".join(sorted(tool_names))
                        + ".",
                        "tools",
                    )
                )
            if name == SEARCH_TOOL and config.knowledge_bases:
                problems.append(
                    (
                        "graph.E071",
                        f'tools: "{SEARCH_TOOL}" is the name of the knowledge-base search; '
                        "remove it from the tools, or the knowledge bases.",
                        "tools",
                    )
                )
        search = [SEARCH_TOOL] if config.knowledge_bases else []
        problems += flow_tools.name_problems(
            config.flow_tools, tool_names, [*config.tools, *search]
        )
        if config.reflection == "rules" and not config.rules:
            problems.append(
                (
                    "graph.E072",
                    "reflection: rules needs at least one check under Checks (rules); add one "
                    "or choose another reflection.",
                    "rules",
                )
            )
        if config.reflection != "rules" and config.rules:
            problems.append(
                (
                    "graph.E073",
                    f"rules: the checks are only used with reflection rules (it is "
                    f"{config.reflection}); choose rules or remove the checks.",
                    "reflection",
                )
            )
        return problems

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        return run_agent(ctx)


__all__ = ["SUBSTEP_KINDS", "AgentConfig", "AgentNode"]
