"""Sub-flows on a real database: a step runs a published flow as a child run and resumes with its
result; failures, depth, cancel, recovery, reproduce and validation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from builder.graph import ERROR_CODES, SUBFLOW_CODES
from builder.models import Flow
from builder.services import flow_publish, flow_validate
from runs.executor import InlineExecutor
from runs.models import Approval, Run, RunEvent, Step
from runs.services import approval_decide, run_cancel, run_start, sweep
from runs.services.advancing import run_advance, run_steps
from runs.services.reruns import run_reproduce
from tests.llmserver import http_error, text
from workspaces.models import Membership, Role

from .support import embedded, fast_passwords, finish_inline, inline, memory_layer  # noqa: F401

TOPIC_SCHEMA = {
    "type": "object",
    "properties": {"topic": {"type": "string"}},
    "required": ["topic"],
}


def _node(node_id, type_, **config):
    return {"id": node_id, "type": type_, "label": node_id, "config": config}


def _edge(source, target, port="out"):
    return {
        "id": f"{source}.{port}->{target}",
        "source": source,
        "source_port": port,
        "target": target,
        "target_port": "in",
    }


def _graph(middle, result="{{ nodes.mid.output }}", port="out"):
    return {
        "schema_version": 1,
        "nodes": [
            _node("in", "input", schema=TOPIC_SCHEMA, sample={"topic": "tea"}),
            middle,
            _node("out", "output", name="answer", value=result),
        ],
        "edges": [_edge("in", "mid"), _edge("mid", "out", port=port)],
    }


def prompt_graph(**config):
    return _graph(_node("mid", "prompt", prompt="Tell me about {{ inputs.topic }}", **config))


def approval_graph():
    approval = _node("mid", "approval", show=["inputs.topic"])
    return _graph(approval, result="{{ inputs.topic }}", port="approved")


def calling_graph(flow_id, **config):
    call = _node("mid", "flow", flow=flow_id, inputs={"topic": "{{ inputs.topic }}"}, **config)
    return _graph(call, result="{{ nodes.mid.output.answer }}")


@pytest.fixture
def llm(inline):  # noqa: F811
    """Runs execute in the calling thread; the scripted model server answers."""
    return inline


@pytest.fixture
def owner(workspace, make_user):
    user = make_user("owner")
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def make_flow(workspace, owner):
    def make(name, graph, *, publish=True, ws=None):
        flow = Flow.objects.create(workspace=ws or workspace, name=name, graph=graph)
        if publish:
            flow_publish(flow=flow, user=owner)
        return Flow.objects.select_related("workspace").get(pk=flow.pk)

    return make


def start(flow, owner, topic="tea"):
    return run_start(user=owner, flow=flow, inputs={"topic": topic})


def child_of(run):
    return Run.objects.get(parent_step__run=run)


def test_subflow_runs_the_child_and_returns_its_result(llm, make_flow, owner):
    llm.script(text("Tea is a drink.", usage={"prompt_tokens": 7, "completion_tokens": 5}))
    child_flow = make_flow("Explain", prompt_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))

    parent = finish_inline(start(parent_flow, owner), owner)

    assert parent.status == "succeeded", (parent.error_code, parent.error_message)
    assert parent.result == {"answer": "Tea is a drink."}
    child = child_of(parent)
    assert child.status == "succeeded" and child.result == {"answer": "Tea is a drink."}
    assert child.inputs == {"topic": "tea"} and child.trigger == "subflow" and child.depth == 1
    assert child.version == child_flow.published_version
    step = Step.objects.get(run=parent, node_id="mid")
    assert child.parent_step_id == step.pk and step.details["child_run_id"] == child.pk
    # The child's spending is recorded on the step and counts in the parent's totals.
    assert (step.tokens_in, step.tokens_out) == (7, 5) and step.cost == child.cost
    assert parent.tokens_in >= 7 and parent.tokens_out >= 5 and parent.cost >= child.cost
    kinds = list(RunEvent.objects.filter(run=parent, node_id="mid").values_list("kind", flat=True))
    # Claimed by the worker that created it: started at once, never announced as queued.
    assert kinds == ["step.started", "subflow.started", "step.succeeded"]
    assert llm.call_count == 1


def test_child_budgets_are_what_the_parent_has_left(llm, make_flow, owner):
    child_flow = make_flow("Explain", prompt_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    run = run_start(
        user=owner, flow=parent_flow, inputs={"topic": "tea"}, budgets={"max_steps": 10}
    )
    finish_inline(run, owner)
    assert child_of(run).budgets["max_steps"] == 9  # the input step was already spent


def test_child_failure_fails_the_parent_step_with_its_reason(llm, make_flow, owner):
    llm.script(http_error(400))
    child_flow = make_flow("Explain", prompt_graph(retries=0))
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))

    parent = finish_inline(start(parent_flow, owner), owner)

    child = child_of(parent)
    assert child.status == "failed" and child.error_code
    step = Step.objects.get(run=parent, node_id="mid")
    assert step.status == "failed" and step.error_code == child.error_code
    assert f"#{child.pk}" in step.error_message and child.error_message in step.error_message
    assert parent.status == "failed" and parent.error_code == child.error_code


def test_child_failure_takes_the_error_port_when_connected(llm, make_flow, owner):
    llm.script(http_error(400))
    child_flow = make_flow("Explain", prompt_graph(retries=0))
    graph = calling_graph(child_flow.pk)
    graph["nodes"].append(_node("sorry", "output", name="fallback", value="no luck"))
    graph["edges"].append(_edge("mid", "sorry", port="error"))
    graph["nodes"][2]["config"]["value"] = "{{ nodes.mid.output }}"
    parent_flow = make_flow("Caller", graph)

    parent = finish_inline(start(parent_flow, owner), owner)

    assert parent.status == "succeeded" and parent.result["fallback"] == "no luck"
    step = Step.objects.get(run=parent, node_id="mid")
    child = child_of(parent)
    assert step.ports == ["error"] and step.output["code"] == child.error_code
    assert step.output["type"] == "child_failed" and step.output["child_run_id"] == child.pk
    assert step.output["child_type"] == "provider_error" and step.output["node"] == "mid"


def test_depth_limit_stops_nesting_with_a_clear_error(llm, make_flow, owner, settings):
    settings.SWITCHBOARD_SUBFLOW_MAX_DEPTH = 1
    leaf = make_flow("Leaf", prompt_graph())
    middle = make_flow("Middle", calling_graph(leaf.pk))
    top = make_flow("Top", calling_graph(middle.pk))

    run = finish_inline(start(top, owner), owner)

    middle_run = child_of(run)
    assert middle_run.depth == 1 and middle_run.status == "failed"
    assert middle_run.error_code == "subflow_too_deep"
    assert "more than 1 levels deep" in middle_run.error_message
    assert not Run.objects.filter(depth=2).exists()  # the leaf never started
    assert run.status == "failed" and run.error_code == "subflow_too_deep"
    assert llm.call_count == 0


@pytest.mark.parametrize(
    ("change", "code"),
    [("unpublish", "subflow_not_published"), ("move", "subflow_not_found")],
)
def test_called_flow_gone_since_publishing_fails_the_step(
    change, code, llm, make_flow, owner, other_workspace
):
    child_flow = make_flow("Explain", prompt_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    # Validation passed when the caller was published; the run checks again.
    if change == "unpublish":
        child_flow.versions.update(published=False)
    else:
        Flow.objects.filter(pk=child_flow.pk).update(workspace=other_workspace)

    run = finish_inline(start(parent_flow, owner), owner)

    step = Step.objects.get(run=run, node_id="mid")
    assert step.status == "failed" and step.error_code == code
    assert run.status == "failed" and run.error_code == code
    assert not Run.objects.filter(parent_step=step).exists()


def test_bad_child_inputs_fail_the_step(llm, make_flow, owner):
    child_flow = make_flow("Explain", prompt_graph())
    graph = calling_graph(child_flow.pk)
    graph["nodes"][1]["config"]["inputs"] = {"topic": "{{ inputs.topic | length }}"}
    parent_flow = make_flow("Caller", graph)

    run = finish_inline(start(parent_flow, owner), owner)

    step = Step.objects.get(run=run, node_id="mid")
    assert step.status == "failed" and step.error_code == "subflow_invalid_inputs"
    assert "could not start" in step.error_message
    assert not Run.objects.filter(parent_step=step).exists()


def test_cancelling_the_parent_cancels_the_waiting_child(llm, make_flow, owner):
    child_flow = make_flow("Ask", approval_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    parent = start(parent_flow, owner)
    InlineExecutor().advance(parent.pk)
    child = child_of(parent)
    child.refresh_from_db()
    parent.refresh_from_db()
    assert (parent.status, child.status) == ("waiting", "waiting")

    run_cancel(run=parent, user=owner)

    child.refresh_from_db()
    assert child.status == "cancelled"
    assert Approval.objects.get(run=child).status == "cancelled"


def test_cancelling_the_child_fails_the_parent_step(llm, make_flow, owner):
    child_flow = make_flow("Ask", approval_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    parent = start(parent_flow, owner)
    InlineExecutor().advance(parent.pk)

    cancelled = run_cancel(run=child_of(parent), user=owner)
    assert cancelled.kicks == [parent.pk]
    InlineExecutor().advance(parent.pk)

    parent.refresh_from_db()
    step = Step.objects.get(run=parent, node_id="mid")
    assert step.status == "failed" and step.error_code == "cancelled"
    assert parent.status == "failed" and parent.error_code == "cancelled"


def test_approving_inside_the_child_resumes_the_parent(llm, make_flow, owner):
    child_flow = make_flow("Ask", approval_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    parent = start(parent_flow, owner, topic="oolong")
    InlineExecutor().advance(parent.pk)
    approval = Approval.objects.get(run=child_of(parent))

    decided = approval_decide(user=owner, approval_id=approval.pk, decision="approved")
    InlineExecutor().advance(decided.resume)

    parent.refresh_from_db()
    assert parent.status == "succeeded" and parent.result == {"answer": "oolong"}


def test_lost_parent_kick_is_recovered_by_the_sweeper(llm, make_flow, owner):
    """The worker that finished the child dies before kicking the parent: the parent's step is
    resolved (same transaction) and a sweep moves the parent on."""
    child_flow = make_flow("Ask", approval_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    parent = start(parent_flow, owner)
    InlineExecutor().advance(parent.pk)
    child = child_of(parent)
    approval = Approval.objects.get(run=child)
    approval_decide(user=owner, approval_id=approval.pk, decision="approved")
    lost: list[int] = []
    run_steps(
        run_advance(run_id=child.pk, worker="dying"),
        worker="dying",
        hold=lambda step_id: __import__("contextlib").nullcontext(),
        kick=lambda ids: None,
        kick_runs=lost.extend,  # never delivered
    )
    child.refresh_from_db()
    parent.refresh_from_db()
    assert child.status == "succeeded" and lost == [parent.pk]
    assert parent.status == "running"  # resumed, but nothing scheduled its next step

    kicked = sweep(now=timezone.now() + timedelta(minutes=2))
    assert parent.pk in kicked
    InlineExecutor().advance(parent.pk, redispatch=True)
    parent.refresh_from_db()
    assert parent.status == "succeeded" and parent.result == {"answer": "tea"}


def test_parent_still_waiting_on_a_finished_child_is_resumed_by_a_sweep(llm, make_flow, owner):
    child_flow = make_flow("Ask", approval_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    parent = start(parent_flow, owner)
    InlineExecutor().advance(parent.pk)
    child = child_of(parent)
    # The child ended without its resume (a crash mid-way, a row fixed by hand).
    Run.objects.filter(pk=child.pk).update(status="succeeded", result={"answer": "by hand"})

    kicked = sweep()
    assert parent.pk in kicked
    assert Step.objects.get(run=parent, node_id="mid").status == "succeeded"
    InlineExecutor().advance(parent.pk)
    parent.refresh_from_db()
    assert parent.status == "succeeded" and parent.result == {"answer": "by hand"}


def test_reproducing_a_parent_makes_no_model_calls(llm, make_flow, owner):
    llm.script(text("Tea is a drink."))
    child_flow = make_flow("Explain", prompt_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    original = finish_inline(start(parent_flow, owner), owner)
    assert original.status == "succeeded" and llm.call_count == 1
    llm.reset()
    runs_before = Run.objects.count()

    copy = run_reproduce(user=owner, run=original)
    InlineExecutor().advance(copy.pk)

    copy.refresh_from_db()
    assert copy.status == "succeeded" and copy.result == original.result
    assert llm.call_count == 0
    assert Run.objects.count() == runs_before + 1  # no child run was started again
    assert not Run.objects.filter(parent_step__run=copy).exists()


@pytest.mark.parametrize("case", ["unknown", "foreign", "unpublished", "version", "cycle"])
def test_validation_reports_bad_subflows(case, make_flow, owner, other_workspace):
    codes = {
        "unknown": "graph.E040",
        "foreign": "graph.E041",
        "unpublished": "graph.E042",
        "version": "graph.E042",
        "cycle": "graph.E043",
    }
    a = make_flow("A", prompt_graph())
    if case == "unknown":
        graph, flow_id = calling_graph(987654), a.pk
    elif case == "foreign":
        graph, flow_id = calling_graph(make_flow("F", prompt_graph(), ws=other_workspace).pk), a.pk
    elif case == "unpublished":
        graph, flow_id = calling_graph(make_flow("D", prompt_graph(), publish=False).pk), a.pk
    elif case == "version":
        graph, flow_id = calling_graph(make_flow("V", prompt_graph()).pk, version=5), a.pk
    else:
        b = make_flow("B", calling_graph(a.pk))  # B (published) calls A
        graph, flow_id = calling_graph(b.pk), a.pk  # A's draft now calls B
    errors = flow_validate(graph=graph, workspace_id=a.workspace_id, flow_id=flow_id)
    assert [(e.code, e.node_id) for e in errors] == [(codes[case], "mid")]
    assert set(codes.values()) == SUBFLOW_CODES and codes[case] in ERROR_CODES
    if case == "cycle":
        assert '"A" → "B" → "A"' in errors[0].message


def test_a_flow_calling_itself_cannot_be_published(make_flow, owner):
    a = make_flow("A", prompt_graph())
    a.graph = calling_graph(a.pk)
    a.save()
    errors = flow_validate(graph=a.graph, workspace_id=a.workspace_id, flow_id=a.pk)
    assert [e.code for e in errors] == ["graph.E043"]
    assert '"A" → "A"' in errors[0].message


def test_run_pages_link_parent_and_child(llm, make_flow, owner, client):
    child_flow = make_flow("Explain", prompt_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    parent = finish_inline(start(parent_flow, owner), owner)
    child = child_of(parent)
    client.force_login(owner)

    page = client.get(f"/runs/{parent.pk}/").content.decode()
    assert f'<a href="/runs/{child.pk}/">run #{child.pk}</a>' in page
    assert "mid → Explain, succeeded" in page

    page = client.get(f"/runs/{child.pk}/").content.decode()
    assert "as a sub-flow" in page
    assert f'href="/runs/{parent.pk}/" data-testid="caller-run"' in page


@pytest.mark.django_db(transaction=True)
def test_parallel_subflows_on_the_thread_pool_resume_the_parent_once(
    embedded,  # noqa: F811
    llm_server,
    make_flow,
    owner,
):
    """Two sub-flow steps whose children finish at about the same time on a real thread pool:
    each child's finish resumes the parent under the parent's lock, and the run ends once."""
    from runs import dispatch

    from .support import wait_until

    child_flow = make_flow("Explain", prompt_graph())
    graph = calling_graph(child_flow.pk)
    graph["nodes"].append(
        _node("mid2", "flow", flow=child_flow.pk, inputs={"topic": "{{ inputs.topic }} leaves"})
    )
    graph["edges"] += [_edge("in", "mid2"), _edge("mid2", "out")]
    graph["nodes"][2]["config"]["value"] = (
        "{{ nodes.mid.output.answer }} | {{ nodes.mid2.output.answer }}"
    )
    parent_flow = make_flow("Caller", graph)
    run = start(parent_flow, owner)

    dispatch.kick(run.pk)

    wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, timeout=60)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    first, second = run.result["answer"].split(" | ")
    assert first.endswith("tea") and second.endswith("tea leaves")
    assert Run.objects.filter(parent_step__run=run, status="succeeded").count() == 2
    assert RunEvent.objects.filter(run=run, kind="run.succeeded").count() == 1
    children = Run.objects.filter(parent_step__run=run)
    assert run.tokens_in >= sum(c.tokens_in for c in children)


def test_run_api_shows_the_links(llm, make_flow, owner, api_for):
    child_flow = make_flow("Explain", prompt_graph())
    parent_flow = make_flow("Caller", calling_graph(child_flow.pk))
    parent = finish_inline(start(parent_flow, owner), owner)
    child = child_of(parent)
    api = api_for(owner, token=True)

    body = api.get(f"/api/runs/{parent.pk}").json()
    assert body["child_runs"] == [child.pk] and body["called_by"] is None
    body = api.get(f"/api/runs/{child.pk}").json()
    step = Step.objects.get(run=parent, node_id="mid")
    assert body["called_by"] == {"run": parent.pk, "step": step.pk, "node_id": "mid"}
    assert body["trigger"] == "subflow" and body["child_runs"] == []
