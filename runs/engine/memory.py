"""Run a graph in memory, with no database: the engine's reference driver and test harness.

The Django services drive the same `plan` and `execute_step` with persistence in between; this
driver keeps steps in a list, so engine behaviour can be tested on its own.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .context import Allowance, LlmPort, RetrievalPort, ToolPort
from .failures import failed_ports, typed_output
from .graph import compile_graph
from .nodes.map import MapProgress
from .runner import StepOutcome, child_failed, execute_step
from .scheduler import Budgets, Outcome, RunState, StepState, Usage, plan


@dataclass
class MemoryEvent:
    kind: str
    node_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class MemoryRun:
    """Execute a graph document to completion, a pause for approval, or cancellation."""

    def __init__(
        self,
        document: dict[str, Any],
        inputs: dict[str, Any],
        *,
        llm: LlmPort,
        tools: ToolPort,
        budgets: Budgets | None = None,
        max_workers: int = 4,
        retrieval: RetrievalPort | None = None,
        region: str = "",
    ):
        self.document = document
        self.graph = compile_graph(document, region)
        #: The runs of map regions' items, in the order they started.
        self.item_runs: list[MemoryRun] = []
        self.inputs = inputs
        self.llm = llm
        self.tools = tools
        self.retrieval = retrieval
        self.budgets = budgets or Budgets()
        self.max_workers = max_workers
        self.steps: list[StepState] = []
        self.events: list[MemoryEvent] = []
        self.status = "queued"
        self.outcome: Outcome | None = None
        self.tokens = 0
        self.cost = 0.0
        self.waits: dict[str, dict[str, Any]] = {}
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def emit(self, kind: str, node_id: str | None = None, **data: Any) -> None:
        with self._lock:
            self.events.append(MemoryEvent(kind, node_id, data))

    def cancel(self) -> None:
        """Stop scheduling at once; results arriving later are discarded."""
        self._cancel.set()

    def usage(self) -> Usage:
        executed = sum(1 for s in self.steps if s.status not in ("skipped",))
        return Usage(
            steps=executed,
            seconds=time.monotonic() - self._started,
            tokens=self.tokens,
            cost=self.cost,
        )

    def decide(self, node_id: str, decision: str, payload: Any = None) -> None:
        """Resolve a waiting approval step with approved / rejected / timed_out."""
        for step in self.steps:
            if step.node_id == node_id and step.status == "waiting":
                step.status = "succeeded"
                step.ports = [decision]
                if payload is not None:
                    step.output = payload
                self.waits.pop(node_id, None)
                self.emit("approval.decided", node_id, decision=decision)
                self.emit("step.succeeded", node_id, ports=[decision])
                return
        raise KeyError(f"no waiting step for {node_id}")

    def resolve(
        self, node_id: str, action: str, *, output: Any = None, model: str | None = None
    ) -> None:
        """Settle a failed step waiting for a person: type its `output` (checked against the
        node's output schema), "retry" it (optionally with another `model`), or "fail" it."""
        step = next((s for s in self.steps if s.node_id == node_id and s.status == "waiting"), None)
        if step is None or self.waits.get(node_id, {}).get("kind") != "fallback":
            raise KeyError(f"no failed step waiting for a person at {node_id}")
        if action == "output":
            state = RunState(self.graph, [s for s in self.steps if s is not step])
            typed = typed_output(self.graph, node_id, output, state)
            step.status, step.output, step.ports = "succeeded", typed.output, typed.ports
        elif action == "fail":
            step.status, step.ports = "failed", failed_ports(self.graph, node_id)
        elif action == "retry":
            step.status, step.ports = "failed", []
            retry = StepState(node_id, step.iteration, status="running", attempt=step.attempt + 1)
            self.steps.append(retry)
            field = self.graph.nodes[node_id].node_type.retry_model_field
            overrides = {field: model} if model and field else None
            state = RunState(self.graph, [s for s in self.steps if s is not retry])
            self.waits.pop(node_id, None)
            self._record(retry, self._execute(state, node_id, overrides))
            return
        else:
            raise ValueError(f"unknown action {action!r}")
        self.waits.pop(node_id, None)
        self.emit("fallback.resolved", node_id, action=action)

    def child_finished(
        self,
        node_id: str,
        *,
        result: Any = None,
        status: str = "succeeded",
        error_code: str = "",
        error_message: str = "",
        child_run_id: int | None = None,
    ) -> None:
        """Resolve a step waiting on its child run with the child's `result`, or (any other
        `status`) with the child's failure under the node's on-failure policy."""
        step = next((s for s in self.steps if s.node_id == node_id and s.status == "waiting"), None)
        if step is None or "flow" not in self.waits.get(node_id, {}):
            raise KeyError(f"no step waiting for a child run at {node_id}")
        self.waits.pop(node_id)
        if status == "succeeded":
            ports = self.graph.nodes[node_id].node_type.success_ports(
                self.graph.nodes[node_id].config
            )
            self._record(step, StepOutcome(status="succeeded", output=result, ports=ports))
            return
        state = RunState(self.graph, [s for s in self.steps if s is not step])
        outcome = child_failed(
            self.graph,
            state,
            node_id,
            run_inputs=self.inputs,
            rendered=None,
            child_run_id=child_run_id,
            child_status=status,
            child_code=error_code,
            child_message=error_message,
        )
        self._record(step, outcome)

    def run(self) -> str:
        """Advance until the run finishes or waits; return the run status."""
        if self.status == "queued":
            self.emit("run.started")
        self.status = "running"
        futures: dict[Future[StepOutcome], StepState] = {}
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            while True:
                if self._cancel.is_set():
                    return self._finish_cancelled(futures)
                decision = plan(self.graph, self.steps, budgets=self.budgets, usage=self.usage())
                for node_id, iteration in decision.skipped:
                    self.steps.append(StepState(node_id, iteration, status="skipped"))
                    self.emit("step.skipped", node_id, iteration=iteration)
                for node_id, iteration in decision.ready:
                    step = StepState(node_id, iteration, status="running")
                    self.steps.append(step)
                    self.emit("step.started", node_id, iteration=iteration)
                    state = RunState(self.graph, list(self.steps))
                    futures[pool.submit(self._execute, state, node_id)] = step
                if decision.outcome is not None and not futures:
                    return self._finish(decision.outcome)
                if decision.outcome is not None and decision.outcome.status == "failed":
                    self._cancel.set()
                    self.outcome = decision.outcome
                    continue
                if not futures:
                    if decision.waiting:
                        self.status = "waiting"
                        self.emit("run.waiting")
                        return self.status
                    if not decision.ready and not decision.skipped:
                        return self._finish(
                            decision.outcome or Outcome("failed", error_code="stuck")
                        )
                    continue
                done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for future in done:
                    step = futures.pop(future)
                    if self._cancel.is_set():
                        step.status = "cancelled"
                        continue
                    self._record(step, future.result())

    def _execute(
        self, state: RunState, node_id: str, overrides: dict[str, Any] | None = None
    ) -> StepOutcome:
        return execute_step(
            self.graph,
            state,
            node_id,
            run_inputs=self.inputs,
            llm=self.llm,
            tools=self.tools,
            retrieval=self.retrieval,
            emit=lambda kind, data: self.emit(kind, node_id, **data),
            overrides=overrides,
            allowance=self._allowance(),
        )

    def _allowance(self) -> Allowance:
        """What the run may still spend, from its budgets and what its steps used."""
        budgets, usage = self.budgets, self.usage()
        return Allowance(
            tokens=None
            if budgets.max_tokens is None
            else max(0, budgets.max_tokens - usage.tokens),
            cost=None if budgets.max_cost is None else max(0.0, budgets.max_cost - usage.cost),
            seconds=None
            if budgets.max_seconds is None
            else max(0.0, budgets.max_seconds - usage.seconds),
        )

    def _record(self, step: StepState, outcome: StepOutcome) -> None:
        step.status = outcome.status
        step.output = outcome.output
        step.ports = outcome.ports
        step.error_code = outcome.error_code
        step.error_message = outcome.error_message
        self.tokens += outcome.usage.tokens_in + outcome.usage.tokens_out
        self.cost += outcome.usage.cost
        if outcome.status == "waiting" and (outcome.wait or {}).get("region"):
            self._record(step, self._run_region(step, outcome.wait or {}))
            return
        if outcome.status == "waiting":
            self.waits[step.node_id] = outcome.wait or {}
            data = dict(outcome.wait or {})
            if "kind" in data:
                data["approval_kind"] = data.pop("kind")
            self.emit("approval.requested", step.node_id, **data)
        elif outcome.status == "failed":
            self.emit("step.failed", step.node_id, code=outcome.error_code)
        else:
            self.emit("step.succeeded", step.node_id, ports=outcome.ports)

    def _run_region(self, step: StepState, wait: dict[str, Any]) -> StepOutcome:
        """Run a map's region once per item, one item after another in the order the map
        starts them, and return the map step's outcome (as the services do with child runs)."""
        items = wait["items"]
        progress = MapProgress(len(items), int(wait["concurrency"]), wait["on_item_failure"])
        decision = progress.begin()
        pending: list[int] = []

        def start(indexes: list[int]) -> None:
            for index in indexes:
                progress.started(index, len(self.item_runs) + len(pending) + 1)
                pending.append(index)

        start(decision.start)
        while pending:
            index = pending.pop(0)
            child = MemoryRun(
                self.document,
                items[index],
                llm=self.llm,
                tools=self.tools,
                budgets=self.budgets,
                retrieval=self.retrieval,
                region=wait["region"],
            )
            self.item_runs.append(child)
            child.run()
            done = child.outcome or Outcome("failed", error_code=child.status)
            self.tokens += child.tokens
            self.cost += child.cost
            error = {"code": done.error_code, "message": done.error_message}
            ok = done.status == "succeeded"
            decision = progress.finished(index, ok=ok, output=done.result, error=error)
            if decision.status is not None:
                break
            start(decision.start)
        if decision.status == "succeeded":
            return StepOutcome(status="succeeded", output=decision.output, ports=["out"])
        code, message = decision.error_code, decision.error_message
        routed = self.graph.has_forward_edges(step.node_id, "error")
        return StepOutcome(
            status="failed",
            output={"error": {"code": code, "message": message}} if routed else None,
            ports=["error"] if routed else [],
            error_code=code,
            error_message=message,
        )

    def _finish(self, outcome: Outcome) -> str:
        final = self.outcome if self.outcome is not None else outcome
        self.outcome = final
        self.status = final.status
        self.emit(f"run.{final.status}", data=final.error_code or None)
        return self.status

    def _finish_cancelled(self, futures: dict[Future[StepOutcome], StepState]) -> str:
        for step in futures.values():
            step.status = "cancelled"
        if self.outcome is not None:
            return self._finish(self.outcome)
        self.status = "cancelled"
        self.emit("run.cancelled")
        return self.status
