"""The map node: run a region of the canvas or a published flow once per item of a list, a few
at a time, results in order.

The region is the nodes drawn inside the map (their `parent` is the map; `engine.regions`); a
map without a region calls the flow its config names. Either way the node renders its list and
asks for child runs (`wait` with `items`, and `region` or `flow`); the services start them
and feed each finished one to `MapProgress`, the pure bookkeeping below: which items to start
next under the concurrency limit, what the per-item failure policy makes of a failed item, and
the output, always in the order of the input list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from ..shapes import ANY
from .base import NodeConfig, NodeError, NodeResult, NodeType, Port

#: The most items any map may take, whatever the settings say (they may only lower it).
MAX_ITEMS = 1_000
#: The most child runs one map may have running at once.
MAX_CONCURRENCY = 50
ITEM_INPUT = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"

FailurePolicy = Literal["fail", "skip", "collect"]


class MapConfig(NodeConfig):
    items: str = Field(
        "",
        max_length=20_000,
        title="Items",
        description="A template giving the list to go through, e.g. "
        "{{ nodes.shopping.output.missing }}.",
        json_schema_extra={"format": "template"},
    )
    flow: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        title="Flow id",
        description="Leave empty to run the steps drawn inside the map. Or: a flow to run for "
        "each item (its number, shown in its address /flows/<id>/); it must be a published "
        "flow of this workspace.",
    )
    version: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        title="Version",
        description="A published version number; empty: the latest published version when the "
        "step runs.",
    )
    item_input: str = Field(
        "item",
        pattern=ITEM_INPUT,
        title="Item goes to input",
        description="The input that receives each item: {{ inputs.item }} inside the map, or "
        "the called flow's input of that name.",
    )
    inputs: dict[str, str] = Field(
        default_factory=dict,
        max_length=100,
        title="Other inputs",
        description="More inputs, the same for every item (inside the map, or of the called "
        "flow); values are templates like {{ nodes.shopping.output.city }}.",
    )
    concurrency: int = Field(
        4,
        ge=1,
        le=MAX_CONCURRENCY,
        title="At most at once",
        description="How many items run at the same time.",
    )
    on_item_failure: FailurePolicy = Field(
        "fail",
        title="When an item fails",
        description="fail: the node fails and the items still running are cancelled; "
        "skip: the failed item is left out of the results; "
        "collect: every item gives {ok, output} or {ok, error}.",
    )


ITEM_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean"},
        "output": ANY,
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "run_id": {"type": "integer"},
            },
        },
    },
    "required": ["ok"],
    "additionalProperties": False,
}


class MapNode(NodeType):
    """Run the steps drawn inside it (or another published flow) once for each item of a list,
    a few at a time, and collect the results in the order of the list. Choose what a failed
    item does: fail the node, be skipped, or be collected with its error."""

    type = "map"
    label = "Map"
    category = "Flows"
    outputs = (Port("out", "Results"), Port("error", "Error", required=False))
    Config = MapConfig
    starts_child_run = True
    runs_per_item = True
    holds_region = True

    @classmethod
    def called_flows(cls, config) -> list[tuple[str, int, int | None]]:
        return [("flow", config.flow, config.version)] if config.flow is not None else []

    @classmethod
    def templates(cls, config) -> list[tuple[str, str]]:
        found = [("items", config.items)] if config.items.strip() else []
        return found + [(f"inputs.{name}", value) for name, value in config.inputs.items()]

    @classmethod
    def typed_templates(cls, config, scope) -> list[tuple[str, str, dict[str, Any]]]:
        return [("items", config.items, {"type": "array"})] if config.items.strip() else []

    @classmethod
    def output_schema(cls, config, scope) -> dict[str, Any]:
        item = ITEM_RESULT if config.on_item_failure == "collect" else ANY
        return {"type": "array", "items": item}

    def run(self, ctx: Any, inputs: dict[str, Any]) -> NodeResult:
        config: MapConfig = ctx.config
        if not config.items.strip():
            raise NodeError("The map has no list of items to go through.", code="map_no_items")
        items = ctx.render_value(config.items)
        ctx.rendered["items"] = items
        if not isinstance(items, list):
            raise NodeError(
                f"Items must be a list, but the template gave {_kind(items)}.",
                code="map_not_a_list",
            )
        if len(items) > MAX_ITEMS:
            raise NodeError(
                f"The list has {len(items)} items; a map takes at most {MAX_ITEMS}.",
                code="map_too_many_items",
            )
        shared = {name: ctx.render_value(text) for name, text in config.inputs.items()}
        ctx.rendered["inputs"] = shared
        if not items:
            return NodeResult(output=[], details={"map": {"total": 0}})
        wait: dict[str, Any] = {
            "items": [{**shared, config.item_input: item} for item in items],
            "concurrency": config.concurrency,
            "on_item_failure": config.on_item_failure,
        }
        if config.flow is None:
            # The region's steps see the run's inputs too; the map's own ones win.
            run_inputs = dict(ctx.run_inputs)
            wait["items"] = [{**run_inputs, **item} for item in wait["items"]]
            wait.update(region=ctx.node_id, item_input=config.item_input)
        else:
            wait.update(flow=config.flow, version=config.version)
        return NodeResult(wait=wait)


def _kind(value: Any) -> str:
    names = {dict: "an object", str: "text", bool: "true/false", int: "a number"}
    names.update({float: "a number", type(None): "nothing (null)"})
    return names.get(type(value), type(value).__name__)


@dataclass
class MapDecision:
    """What one change to a map's progress asks for."""

    #: Item indexes whose child runs to start now.
    start: list[int] = field(default_factory=list)
    #: Item indexes whose running child runs to cancel (a failed item under `fail`).
    cancel: list[int] = field(default_factory=list)
    #: "succeeded" or "failed" once the map is over; None while items are still to come.
    status: str | None = None
    output: Any = None
    error_code: str = ""
    error_message: str = ""


@dataclass
class MapProgress:
    """Where a map stands: items started, running and finished. Stored as JSON on its step."""

    total: int
    concurrency: int
    policy: str = "fail"
    next: int = 0
    #: Running items: index -> child run id.
    running: dict[int, int] = field(default_factory=dict)
    #: Every started item: index -> child run id.
    children: dict[int, int] = field(default_factory=dict)
    #: Finished items: index -> {"ok": True, "output": ...} or {"ok": False, "error": {...}}.
    results: dict[int, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "concurrency": self.concurrency,
            "policy": self.policy,
            "next": self.next,
            "running": {str(k): v for k, v in self.running.items()},
            "children": {str(k): v for k, v in self.children.items()},
            "results": {str(k): v for k, v in self.results.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MapProgress:
        return cls(
            total=int(data["total"]),
            concurrency=int(data["concurrency"]),
            policy=str(data.get("policy", "fail")),
            next=int(data.get("next", 0)),
            running={int(k): int(v) for k, v in (data.get("running") or {}).items()},
            children={int(k): int(v) for k, v in (data.get("children") or {}).items()},
            results={int(k): v for k, v in (data.get("results") or {}).items()},
        )

    def begin(self) -> MapDecision:
        """Return the first items to start: as many as the concurrency allows."""
        return MapDecision(start=self._take())

    def started(self, index: int, run_id: int) -> None:
        """Record that an item's child run started."""
        self.running[index] = run_id
        self.children[index] = run_id

    def index_of(self, run_id: int) -> int | None:
        """The running item this child run is for; None when it is not (or no longer) running."""
        return next((i for i, child in self.running.items() if child == run_id), None)

    def finished(
        self, index: int, *, ok: bool, output: Any = None, error: dict[str, Any] | None = None
    ) -> MapDecision:
        """Record one item's outcome and decide what follows."""
        self.running.pop(index, None)
        if ok:
            self.results[index] = {"ok": True, "output": output}
        else:
            self.results[index] = {"ok": False, "error": error or {}}
            if self.policy == "fail":
                return self._fail(index, error or {})
        start = self._take()
        if not start and not self.running:
            return MapDecision(status="succeeded", output=self.output())
        return MapDecision(start=start)

    def abort(self, code: str, message: str) -> MapDecision:
        """End the map as failed for a reason of its own (a budget spent); stop what runs."""
        cancel = sorted(self.running)
        self.running.clear()
        self.next = self.total
        return MapDecision(cancel=cancel, status="failed", error_code=code, error_message=message)

    def output(self) -> list[Any]:
        """The results in the order of the input list, shaped by the failure policy."""
        ordered = [self.results[i] for i in range(self.total) if i in self.results]
        if self.policy == "collect":
            return ordered
        return [r["output"] for r in ordered if r["ok"]]

    def _take(self) -> list[int]:
        free = self.concurrency - len(self.running)
        start = list(range(self.next, min(self.total, self.next + max(free, 0))))
        self.next += len(start)
        return start

    def _fail(self, index: int, error: dict[str, Any]) -> MapDecision:
        code = str(error.get("code") or "map_item_failed")
        message = f"Item {index + 1} of {self.total} failed"
        detail = error.get("message")
        decision = self.abort(code, message + (f": {detail}" if detail else "."))
        return decision
