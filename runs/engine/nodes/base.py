"""The contract every node type fulfils."""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..shapes import ANY, ERROR_OUTPUT, union

if TYPE_CHECKING:
    from runs.engine.context import NodeContext
    from runs.engine.shapes import DesignScope, Schema


class NodeConfig(BaseModel):
    """Base of every node type's configuration: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


FAILURE_FIELDS = (
    "on_failure",
    "fallback_users",
    "fallback_groups",
    "fallback_instructions",
    "fallback_timeout",
    "fallback_timeout_action",
    "fallback_remind_after",
)

_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_DURATION_SECONDS = 60
MAX_DURATION_SECONDS = 90 * 86400


def duration_seconds(text: str | None) -> int | None:
    """Return the seconds in a duration like "24h", "30m" or "2d"; None when it is empty."""
    if not text or not text.strip():
        return None
    found = _DURATION.match(text)
    if found is None:
        raise ValueError(f'"{text}" is not a duration: write a number and a unit, like 24h')
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)]


def _check_duration(value: str) -> str:
    seconds = duration_seconds(value)
    if seconds is not None and not MIN_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
        raise ValueError("a duration is between 1 minute (1m) and 90 days (90d)")
    return value.strip()


#: A duration as a person writes it ("24h", "30m", "2d"; s, m, h or d); empty: none.
Duration = Annotated[str, AfterValidator(_check_duration)]


def _failure_fields_last(schema: dict[str, Any]) -> None:
    """Show the on-failure settings after the node's own ones in the inspector."""
    properties = schema.get("properties") or {}
    for name in FAILURE_FIELDS:
        if name in properties:
            properties[name] = properties.pop(name)


class FailureConfig(NodeConfig):
    """Configuration of a node type that can fail: what to do when it does."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_failure_fields_last)

    on_failure: Literal["fail", "branch", "ask"] = Field(
        "fail",
        title="On failure",
        description="fail: stop the run (an edge from the Error port is still taken); "
        "branch: take the Error port; ask: hand the failed step to a person in the inbox.",
    )
    fallback_users: list[str] = Field(
        default_factory=list,
        max_length=100,
        title="Ask these people",
        description="When asking a person: who may settle the failed step. "
        "Empty: anyone in the workspace who may approve.",
        json_schema_extra={"format": "users"},
    )
    fallback_groups: list[str] = Field(
        default_factory=list,
        max_length=50,
        title="Ask these groups",
        json_schema_extra={"format": "groups"},
    )
    fallback_instructions: str = Field(
        "",
        max_length=20_000,
        title="Instructions for the person",
        json_schema_extra={"format": "template"},
    )
    fallback_timeout: Duration = Field(
        "",
        max_length=20,
        title="Task expires after",
        description='When asking a person: how long the task waits, e.g. "24h" or "2d" '
        "(s, m, h, d). Empty: until someone settles it.",
    )
    fallback_timeout_action: Literal["fail", "branch"] = Field(
        "fail",
        title="When the task expires",
        description="fail: the step fails with its error (its Error port if connected); "
        'branch: an error of type "timeout" goes out of the Error port.',
    )
    fallback_remind_after: Duration = Field(
        "",
        max_length=20,
        title="Remind after",
        description="Send the people asked one reminder if the task still waits after this long, "
        'e.g. "4h". Empty: no reminder.',
    )


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

    def __init__(
        self,
        message: str,
        *,
        code: str = "node_failed",
        port: str | None = None,
        kind: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.port = port
        #: The error's type on the error port when the code alone does not say (a tool's).
        self.kind = kind


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
    #: The port it takes when it judges the values it received poor (an evaluator's fail):
    #: cached answers that produced those values are evicted. None: it judges nothing.
    failed_verdict_port: ClassVar[str | None] = None
    #: Its output is (part of) the run's result.
    produces_result: ClassVar[bool] = False
    #: Holds the run's inputs; a re-run always executes it again so edited inputs take effect.
    provides_inputs: ClassVar[bool] = False
    #: Its output ports come from its configuration (one per route), not from `outputs`.
    dynamic_outputs: ClassVar[bool] = False
    #: The port a failed step's typed error leaves by, and that its "on failure" policy governs
    #: (its Config then derives from FailureConfig). None: the type does not fail on its own.
    error_port: ClassVar[Port | None] = None
    #: Config values under which the type can fail (e.g. {"mode": "llm"}): data, so the canvas
    #: shows the error port under the same condition. Empty: always, given an error port.
    error_port_when: ClassVar[dict[str, Any]] = {}
    #: The config field a person may change when retrying a failed step (another model).
    retry_model_field: ClassVar[str | None] = None
    #: Builds an outbound request: its templates may read credentials (`{{ secrets.<name> }}`),
    #: resolved at call time and redacted by value from everything the step records.
    uses_secrets: ClassVar[bool] = False
    #: Waits on a run of another flow: its `wait` names the flow and inputs of a child run,
    #: and the step resumes with that run's result (or fails with its error).
    starts_child_run: ClassVar[bool] = False
    #: Starts one child run per item of a list (its `wait` carries `items`): the step waits
    #: until every item's run is over and resumes with their results in order.
    runs_per_item: ClassVar[bool] = False
    #: May hold a region: nodes drawn inside it (their `parent` is its id) that it runs as a
    #: child run of the same flow version instead of calling another flow (`engine.regions`).
    holds_region: ClassVar[bool] = False

    @classmethod
    def help(cls) -> str:
        return " ".join((cls.__doc__ or "").split())

    @classmethod
    def can_fail(cls, config: NodeConfig | None) -> bool:
        """Whether a node of this configuration has an error port and an on-failure policy."""
        if cls.error_port is None:
            return False
        return config is None or all(
            getattr(config, name, None) == value for name, value in cls.error_port_when.items()
        )

    @classmethod
    def error_ports(cls, config: NodeConfig | None) -> list[str]:
        return [cls.error_port.name] if cls.error_port and cls.can_fail(config) else []

    @classmethod
    def output_ports(cls, config: NodeConfig | None) -> list[str]:
        """Return the output port names for a given configuration (the error port included)."""
        return [port.name for port in cls.outputs] + cls.error_ports(config)

    @classmethod
    def with_error_shape(cls, config: NodeConfig, shape: dict[str, Any]) -> dict[str, Any]:
        """The output shape of a node that may go down its error branch: its own, or there the
        error object. Under the default policy the shape stays the node's own (an error edge
        drawn anyway is still taken; reading the error then needs an explicit policy)."""
        if cls.can_fail(config) and getattr(config, "on_failure", "fail") != "fail":
            return union([shape, ERROR_OUTPUT])
        return shape

    @classmethod
    def success_ports(cls, config: NodeConfig | None) -> list[str]:
        """The ports a succeeded step takes when its node names none: all but the error port."""
        errors = set(cls.error_ports(config))
        return [name for name in cls.output_ports(config) if name not in errors]

    @classmethod
    def typed_output_schema(cls, config: NodeConfig) -> dict[str, Any] | None:
        """The JSON schema an output a person types in place of a failed step's must match
        (None: any JSON value)."""
        return None

    @classmethod
    def typed_output_ports(cls, config: NodeConfig, value: Any) -> list[str]:
        """The ports a person's typed output takes (a router's route, an evaluator's verdict)."""
        return cls.success_ports(config)

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
    def called_flows(cls, config: NodeConfig) -> list[tuple[str, int, int | None]]:
        """Return the flows executing this node may run as child runs: (config field, flow id,
        version or None for the latest published). Validation follows them for cycles."""
        if cls.starts_child_run:
            # A node type that starts child runs has a `flow` field in its config.
            return [("flow", cast(Any, config).flow, getattr(config, "version", None))]
        return []

    @classmethod
    def knowledge_bases(cls, config: NodeConfig) -> list[str]:
        """Return the names of the knowledge bases executing this node searches (looked up in
        the run's workspace when the step runs)."""
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
    def answers_from_cache(cls, config: NodeConfig) -> bool:
        """Whether a step may take a past answer instead of running (a semantic cache hit):
        the tool calls it would have made are then skipped."""
        return False

    @classmethod
    def routing(cls, config: NodeConfig) -> dict[str, Any] | None:
        """Return how the node's model is chosen automatically, or None when it is fixed:
        {"candidates": [provider/model, ...] (empty: any), "max_tier": tier or ""}."""
        return None

    @classmethod
    def design_problems(
        cls, config: NodeConfig, tool_names: frozenset[str] | None
    ) -> list[tuple[str, str, str]]:
        """Return (graph error code, message, field) for what in this configuration cannot
        work although each field is valid on its own: fields that do not work together (a
        summary larger than its budget), or a name that is not registered (a tool).
        `tool_names`: the registered tools (None: unknown). Validation reports each one."""
        return []

    def run(self, ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
        raise NotImplementedError
