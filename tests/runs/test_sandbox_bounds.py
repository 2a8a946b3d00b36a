"""Through the API: schemas fetch nothing, and bad templates, patterns and queries fail their step
with a clear reason while other requests carry on."""

# Fixtures come from .support and .engine.loopback by import; as parameters they are not redefined.
# ruff: noqa: F811

from __future__ import annotations

import contextlib
import json
import threading

import pytest
from pydantic import ValidationError

from builder.models import Flow, FlowVersion
from runs.engine import schemas
from runs.engine.limits import Deadline
from runs.engine.sandbox import budget
from runs.models import Run, Step
from tests.llmserver import text
from tests.runs.schema_spy import watch_pattern_search

from .engine.loopback import listener  # noqa: F401
from .support import embedded, fast_passwords, inline, memory_layer  # noqa: F401

REDOS = "^(a|a)*$"
REDOS_TEXT = "a" * 28 + "!"
NESTED_RANGES = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
DOUBLING = " | ".join(["{a: @, b: @}"] * 21)


def _node(node_id: str, type_: str, **config) -> dict:
    return {"id": node_id, "type": type_, "config": config}


def _edge(source: str, target: str, port: str = "out") -> dict:
    return {"id": f"{source}-{target}", "source": source, "source_port": port, "target": target}


def _flow_graph(*, middle: dict | None = None, port: str = "out", schema: dict | None = None):
    question = {"type": "object", "properties": {"question": {"type": "string"}}}
    nodes = [_node("in", "input", schema=schema or question)]
    edges = []
    last = "in"
    if middle is not None:
        nodes.append(middle)
        edges.append(_edge("in", middle["id"]))
        last = middle["id"]
    nodes.append(_node("out", "output"))
    edges.append(_edge(last, "out", port if middle is not None else "out"))
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


def _remote_ref_graphs(url: str) -> dict[str, dict]:
    ref = {"$ref": url}
    return {
        "input schema": _flow_graph(schema={"type": "object", "properties": {"question": ref}}),
        "prompt output schema": _flow_graph(
            middle=_node("p", "prompt", prompt="x", output_format="json", json_schema=ref)
        ),
        "evaluator rule": _flow_graph(
            middle=_node("e", "evaluator", rules=[{"kind": "json_schema", "value": ref}]),
            port="pass",
        ),
    }


def _published(workspace, user, graph: dict, name: str = "flow") -> Flow:
    """A flow whose published version holds `graph` as it was stored, unchecked (older data)."""
    flow = Flow.objects.create(workspace=workspace, name=name, graph=graph)
    FlowVersion.objects.create(flow=flow, number=1, graph=graph, published=True, created_by=user)
    return flow


@pytest.mark.parametrize("place", ["input schema", "prompt output schema", "evaluator rule"])
def test_saving_a_graph_with_a_remote_ref_reports_its_code(
    member, workspace, api_for, listener, place
):
    user = member("editor")
    graph = _remote_ref_graphs(listener.url())[place]
    flow = Flow.objects.create(workspace=workspace, name="f", graph={})
    response = api_for(user).put(
        f"/api/flows/{flow.pk}/draft", {"graph": graph, "revision": flow.revision}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert not body["valid"]
    [error] = [e for e in body["errors"] if e["code"] == "graph.E021"]
    assert error["node_id"] == {"input schema": "in", "prompt output schema": "p"}.get(place, "e")
    assert "points outside the schema" in error["message"]
    assert listener.connections == 0


@pytest.mark.parametrize("place", ["input schema", "prompt output schema", "evaluator rule"])
def test_running_a_stored_remote_ref_fetches_nothing(
    member, workspace, api_for, inline, listener, place, django_capture_on_commit_callbacks
):
    """Versions stored before refs were checked: starting or running them never fetches."""
    user = member("editor")
    flow = _published(workspace, user, _remote_ref_graphs(listener.url())[place])
    inline.script(text('{"a": 1}'))
    # The prompt and evaluator configs no longer compile: compiling the stored version raises the
    # config's validation error in the executor job (the run stays queued; see the report).
    with contextlib.suppress(ValidationError), django_capture_on_commit_callbacks(execute=True):
        response = api_for(user).post(f"/api/flows/{flow.pk}/runs", {"inputs": {"question": "q"}})
    if place == "input schema":
        assert response.status_code == 422, response.content
        body = response.json()
        assert body["code"] == "invalid_inputs"
        assert "points outside the schema" in body["errors"][0]
        assert not Run.objects.exists()
    else:
        assert response.status_code == 202, response.content
        assert not Run.objects.filter(status="succeeded").exists()
    assert listener.connections == 0


def test_file_ref_is_refused_on_save_and_at_run_start(member, workspace, api_for, inline):
    user = member("editor")
    graph = _flow_graph(
        schema={"type": "object", "properties": {"q": {"$ref": "file:///etc/hostname"}}}
    )
    flow = _published(workspace, user, graph)
    check = api_for(user).post(f"/api/flows/{flow.pk}/validate", {"graph": graph})
    assert [e["code"] for e in check.json()["errors"]] == ["graph.E021"]
    response = api_for(user).post(f"/api/flows/{flow.pk}/runs", {"inputs": {"q": "x"}})
    assert response.status_code == 422
    assert "file:///etc/hostname" in response.json()["errors"][0]


def _run_and_get(api, flow: Flow, inputs: dict) -> Run:
    response = api.post(f"/api/flows/{flow.pk}/runs", {"inputs": inputs, "use_draft": True})
    assert response.status_code == 202, response.content
    return Run.objects.get(pk=response.json()["id"])


@pytest.mark.parametrize(
    ("name", "middle", "reason"),
    [
        (
            "nested ranges",
            _node("p", "prompt", prompt=NESTED_RANGES),
            "loops ran more than 250,000 times",
        ),
        ("huge power", _node("p", "prompt", prompt="{{ 9**(9**7) }}"), "9 ** 4782969"),
        (
            "big string multiply",
            _node("p", "prompt", prompt="{{ 'a'*10**8 }}"),
            "repeating 1 characters 100,000,000 times",
        ),
        (
            "json_query doubling",
            _node(
                "p",
                "tool",
                tool="json_query",
                arguments={"data": "{{ inputs }}", "expression": DOUBLING},
            ),
            "builds a value larger than 8 MB",
        ),
        (
            "ReDoS in an output schema",
            _node(
                "p",
                "prompt",
                prompt="x",
                output_format="json",
                json_schema={"type": "object", "properties": {"a": {"pattern": REDOS}}},
            ),
            "took more than",
        ),
    ],
)
def test_bad_evaluation_fails_its_step_with_a_clear_reason(
    member,
    workspace,
    api_for,
    inline,
    name,
    middle,
    reason,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    # Each bomb must be stopped by its own bound, not by the render clock: on a loaded machine
    # 250,000 loop turns can take longer than the default one-second render budget.
    monkeypatch.setattr(budget, "RENDER_SECONDS", 120.0)
    user = member("editor")
    flow = Flow.objects.create(workspace=workspace, name=name, graph=_flow_graph(middle=middle))
    inline.script(text(json.dumps({"a": REDOS_TEXT})))
    with django_capture_on_commit_callbacks(execute=True):
        run = _run_and_get(api_for(user), flow, {"question": "q"})
    run.refresh_from_db()
    assert run.status == "failed"
    step = Step.objects.get(run=run, node_id="p")
    assert step.status == "failed"
    assert reason in step.error_message, step.error_message
    assert reason in run.error_message


@pytest.mark.django_db(transaction=True)
def test_redos_at_run_start_does_not_hold_up_another_request(
    member, workspace, api_for, monkeypatch
):
    """A run start stuck in a bad input pattern: another request answers meanwhile."""
    monkeypatch.setattr(schemas, "REGEX_TIMEOUT_SECONDS", 4.0)
    monkeypatch.setattr(schemas, "VALIDATION_SECONDS", 60.0)
    user = member("editor")
    schema = {"type": "object", "properties": {"question": {"type": "string", "pattern": REDOS}}}
    flow = Flow.objects.create(workspace=workspace, name="redos", graph=_flow_graph(schema=schema))
    searching = watch_pattern_search(monkeypatch, REDOS)
    answers = {}

    def start_run():
        response = api_for(user).post(
            f"/api/flows/{flow.pk}/runs", {"inputs": {"question": REDOS_TEXT}, "use_draft": True}
        )
        answers["start"] = response

    starter = threading.Thread(target=start_run)
    starter.start()
    assert searching.wait(30)
    other = api_for(user).get(f"/api/flows/{flow.pk}")
    start_still_running = "start" not in answers
    starter.join(60)
    assert other.status_code == 200
    assert start_still_running, "the other request waited for the bad pattern"
    response = answers["start"]
    assert response.status_code == 422
    assert "took more than 4 s" in response.json()["errors"][0]


@pytest.mark.django_db(transaction=True)
def test_spinning_template_lets_requests_through_and_cancel_ends_it(
    member, workspace, api_for, embedded, monkeypatch
):
    """A render spinning on a worker thread: the API answers, cancel ends the run at once, and
    the step's thread stops at its render deadline."""
    monkeypatch.setattr(budget, "MAX_LOOP_ITERATIONS", 10**12)
    monkeypatch.setattr(budget, "RENDER_SECONDS", 3.0)
    spinning = threading.Event()
    check = Deadline.check

    def watched(self):
        if self.what == "it":
            spinning.set()
        check(self)

    monkeypatch.setattr(Deadline, "check", watched)
    user = member("editor")
    graph = _flow_graph(middle=_node("p", "prompt", prompt=NESTED_RANGES))
    flow = Flow.objects.create(workspace=workspace, name="spin", graph=graph)
    api = api_for(user)
    run = _run_and_get(api, flow, {"question": "q"})
    assert spinning.wait(30)
    seen = api.get(f"/api/runs/{run.pk}")
    step_still_running = Step.objects.get(run=run, node_id="p").status == "running"
    assert seen.status_code == 200
    assert step_still_running, "the request was answered only after the render ended"
    cancelled = api.post(f"/api/runs/{run.pk}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert embedded.wait_idle(timeout=60), "the step's thread kept spinning"
    run.refresh_from_db()
    assert run.status == "cancelled"
