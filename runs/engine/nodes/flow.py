"""The sub-flow node: run a published version of another flow of the workspace."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import FailureConfig, NodeResult, NodeType, Port


class FlowConfig(FailureConfig):
    flow: int = Field(
        ...,
        ge=1,
        le=2**31 - 1,
        title="Flow id",
        description="The number of the flow to call (shown in its address, /flows/<id>/). "
        "It must be a published flow of this workspace.",
    )
    version: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        title="Version",
        description="A published version number; empty: the latest published version when the "
        "step runs.",
    )
    inputs: dict[str, str] = Field(
        default_factory=dict,
        max_length=100,
        title="Inputs",
        description="The called flow's inputs by name; values are templates like "
        "{{ inputs.city }} or {{ nodes.draft.output }}.",
    )


class FlowNode(NodeType):
    """Call another published flow of this workspace with mapped inputs and use its result."""

    type = "flow"
    label = "Sub-flow"
    category = "Flows"
    outputs = (Port("out", "Result"),)
    # A child run that fails (`child_failed`) or cannot start (`depth`, …) is the step's failure.
    error_port = Port("error", "Error", required=False)
    Config = FlowConfig
    starts_child_run = True

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [(f"inputs.{name}", value) for name, value in config.inputs.items()]

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        config: FlowConfig = ctx.config
        values = {name: ctx.render_value(text) for name, text in config.inputs.items()}
        ctx.rendered["inputs"] = values
        return NodeResult(
            wait={"flow": config.flow, "version": config.version, "inputs": values},
        )
