"""The contract every node type fulfils."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ..shapes import ANY

if TYPE_CHECKING:
    from runs.engine.context import NodeContext
    from runs.engine.shapes import DesignScope, Schema


class NodeConfig(BaseModel):
    """Base of every node type's configuration: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Port:
    name: str
    label: str
    required: bool = True


@dataclass
class NodeResult:
    """What a node produced.

    `ports` lists the output ports whose edges are taken; None means every output port.
    `wait` asks the run to pause (an approval), with the data the pause needs.
    """

    output: Any = None
    ports: list[str] | None = None
    wait: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)


class NodeError(Exception):
    """A node failed in a way the user can act on. `code` is a stable reason code."""

    def __init__(self, message: str, *, code: str = "node_failed", port: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.port = port


class NodeType:
    """A kind of node: its slug, palette metadata, ports, configuration and behaviour.

    Subclasses set the class attributes and implement `run`. The docstring is the palette help.
    """

    type: ClassVar[str]
    label: ClassVar[str]
    category: ClassVar[str]
    inputs: ClassVar[tuple[Port, ...]] = (Port("in", "Input"),)
    outputs: ClassVar[tuple[Port, ...]] = (Port("out", "Output"),)
    Config: ClassVar[builtins.type[NodeConfig]] = NodeConfig

    # Capabilities: what the rest of the system may assume about this type. Scheduling,
    # recovery, re-runs and validation read these; nothing checks a type by its slug.
    #: The port whose edges may loop back to an earlier node, bounded by the node's attempts.
    retry_port: ClassVar[str | None] = None
    #: Its output is (part of) the run's result.
    produces_result: ClassVar[bool] = False
    #: Holds the run's inputs; a re-run always executes it again so edited inputs take effect.
    provides_inputs: ClassVar[bool] = False
    #: Its output ports come from its configuration (one per route), not from `outputs`.
    dynamic_outputs: ClassVar[bool] = False
    #: Builds an outbound request: its templates may read credentials (`{{ secrets.<name> }}`),
    #: resolved at call time and redacted by value from everything the step records.
    uses_secrets: ClassVar[bool] = False

    @classmethod
    def help(cls) -> str:
        return " ".join((cls.__doc__ or "").split())

    @classmethod
    def output_ports(cls, config: NodeConfig | None) -> list[str]:
        """Return the output port names for a given configuration."""
        return [port.name for port in cls.outputs]

    @classmethod
    def input_ports(cls) -> list[str]:
        return [port.name for port in cls.inputs]

    @classmethod
    def templates(cls, config: NodeConfig) -> list[tuple[str, str]]:
        """Return (field name, template text) pairs, for validating template references."""
        return []

    @classmethod
    def references(cls, config: NodeConfig) -> list[tuple[str, str]]:
        """Return (field name, dotted data path) pairs the config reads, e.g. router fields."""
        return []

    @classmethod
    def output_schema(cls, config: NodeConfig, scope: DesignScope) -> Schema:
        """Return the JSON schema of this node's output (`nodes.<key>.output`); {} is any JSON.

        Validation reads it to check the fields later nodes use (runs/engine/shapes.py).
        """
        return ANY

    @classmethod
    def input_schemas(cls, config: NodeConfig) -> dict[str, Schema]:
        """Return the shape a value must have on each input port that needs one."""
        return {}

    @classmethod
    def typed_templates(
        cls, config: NodeConfig, scope: DesignScope
    ) -> list[tuple[str, str, Schema]]:
        """Return (field, template, schema) for templates whose value must fit a schema."""
        return []

    @classmethod
    def tool_calls(
        cls, config: NodeConfig, arguments: dict[str, Any] | None
    ) -> list[tuple[str, dict[str, Any] | None]]:
        """Return the tools executing this node may call, each with its arguments when they are
        known (None: a model chooses them). `arguments` are the rendered ones, if recorded.

        Recovery uses this to decide whether a lost step may safely run again."""
        return []

    @classmethod
    def routing(cls, config: NodeConfig) -> dict[str, Any] | None:
        """Return how the node's model is chosen automatically, or None when it is fixed:
        {"candidates": [provider/model, ...] (empty: any), "max_tier": tier or ""}."""
        return None

    def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
        raise NotImplementedError
