from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..shapes import ANY, closed_object
from ..templates import resolve_path
from .base import Duration, NodeConfig, NodeResult, NodeType, Port, duration_seconds


class ApprovalConfig(NodeConfig):
    users: list[str] = Field(default_factory=list, max_length=100, title="Assigned people")
    groups: list[str] = Field(default_factory=list, max_length=50, title="Assigned groups")
    quorum: int = Field(1, ge=1, le=50, title="Approvals needed")
    instructions: str = Field(
        "", max_length=20_000, title="Instructions", json_schema_extra={"format": "template"}
    )
    show: list[str] = Field(
        default_factory=list,
        max_length=20,
        title="Values to review",
        description="Data paths shown to the approver, e.g. nodes.draft.output",
    )
    allow_edit: bool = Field(False, title="Approver may edit the payload")
    timeout_seconds: int | None = Field(None, ge=60, le=60 * 60 * 24 * 90, title="Timeout (s)")
    timeout_action: Literal["timed_out", "approved", "rejected"] = Field(
        "timed_out", title="On timeout, take"
    )
    remind_after: Duration = Field(
        "",
        max_length=20,
        title="Remind after",
        description='Send the approvers one reminder if it still waits after this long, e.g. "4h" '
        "(s, m, h, d). Empty: no reminder.",
    )


class ApprovalNode(NodeType):
    """Pause for a person to approve, reject or edit. Resumes on their decision."""

    type = "approval"
    label = "Approval"
    category = "People"
    outputs = (
        Port("approved", "Approved"),
        Port("rejected", "Rejected", required=False),
        Port("timed_out", "Timed out", required=False),
    )
    Config = ApprovalConfig

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        return [("instructions", config.instructions)] if config.instructions else []

    @classmethod
    def references(cls, config) -> list[tuple[str, str]]:
        return [(f"show[{i}]", path) for i, path in enumerate(config.show)]

    @classmethod
    def output_schema(cls, config, scope) -> dict[str, Any]:
        if config.allow_edit:
            return ANY  # the approver may send back something else
        if config.show:
            names = scope.names()
            return closed_object(
                {payload_key(path, names): scope.path(path) for path in config.show}
            )
        return closed_object({"value": scope.incoming("in")})

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        config: ApprovalConfig = ctx.config
        instructions = (
            ctx.render(config.instructions, "instructions") if config.instructions else ""
        )
        if config.show:
            payload = {}
            for path in config.show:
                key = payload_key(path, ctx.names)
                try:
                    payload[key] = resolve_path(path, ctx.variables)
                except KeyError:
                    payload[key] = None
        else:
            payload = {"value": inputs.get("in")}
        return NodeResult(
            output=payload,
            wait={
                "users": list(config.users),
                "groups": list(config.groups),
                "quorum": config.quorum,
                "instructions": instructions,
                "payload": payload,
                "allow_edit": config.allow_edit,
                "timeout_seconds": config.timeout_seconds,
                "timeout_action": config.timeout_action,
                "remind_after_seconds": duration_seconds(config.remind_after),
            },
        )


def payload_key(path: str, names: dict[str, str] | None = None) -> str:
    """Name a shown value for the approver: `nodes.draft.output` is shown as "draft".

    A node named by its id is shown by its readable name (`names`: its key, or from its label),
    so the approver (and the run's result) never see a generated id like `prompt_3`.
    """
    parts = path.split(".")
    if len(parts) == 3 and parts[0] == "nodes" and parts[2] == "output":
        return (names or {}).get(parts[1], parts[1])
    return path
