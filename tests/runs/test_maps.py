"""Map steps on a real database: one child run per item, results in order, concurrency, the
three failure policies, budgets, cancel, recovery after a simulated kill, and validation."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

from contextlib import nullcontext
from datetime import timedelta

import pytest
from django.utils import timezone

from builder.graph import ERROR_CODES
from builder.models import Flow
from builder.services import flow_publish, flow_validate
from runs.executor import InlineExecutor
from runs.models import Approval, Run, RunEvent, Step
from runs.services import approval_decide, run_advance, run_cancel, run_start, sweep
from runs.services.advancing import run_steps
from runs.services.reruns import run_reproduce
from tests.llmserver import http_error, text
from workspaces.models import Membership, Role

from .support import embedded, fast_passwords, inline, memory_layer, wait_until  # noqa: F401

ITEMS = ["eggs", "flour", "sugar", "butter", "milk"]
LIST_SCHEMA = {
    "type": "object",
    "properties": {"things": {"type": "array", "items": {"type": "string"}}},
    "required": ["things"],
}
ITEM_SCHEMA = {
    "type": "object",
    "properties": {"ingredient": {"type": "string"}},
    "required": ["ingredient"],
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


def item_graph(middle=None, result="{{ nodes.mid.output }}", port="out"):
    """The flow run per item: ingredient in, a price prompt (or `middle`), its answer out."""
    middle = middle or _node("mid", "prompt", prompt="Price of {{ inputs.ingredient }}", retries=0)
    return {
        "schema_version": 1,
        "nodes": [
            _node("in", "input", schema=ITEM_SCHEMA, sample={"ingredient": "eggs"}),
            middle,
            _node("out", "output", name="price", value=result),
        ],
        "edges": [_edge("in", "mid"), _edge("mid", "out", port=port)],
    }


def approval_item_graph():
    return item_graph(
        _node("mid", "approval", show=["inputs.ingredient"]),
        result="{{ inputs.ingredient }}",
        port="approved",
    )


def map_graph(flow_id, **config):
    config = {
        "flow": flow_id,
        "items": "{{ inputs.things }}",
        "item_input": "ingredient",
        **config,
    }
    return {
        "schema_version": 1,
        "nodes": [
            _node("in", "input", schema=LIST_SCHEMA, sample={"things": ["eggs"]}),
            _node("each", "map", **config),
            _node("out", "output", name="prices"),
        ],
        "edges": [_edge("in", "each"), _edge("each", "out")],
    }


@pytest.fixture
def owner(workspace, make_user):
    user = make_user("owner")
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def make_flow(workspace, owner):
    def make(name, graph, *, publish=True):
        flow = Flow.objects.create(workspace=workspace, name=name, graph=graph)
        if publish:
            flow_publish(flow=flow, user=owner)
        return Flow.objects.select_related("workspace").get(pk=flow.pk)

    return make


@pytest.fixture
def pricing(make_flow):
    return make_flow("Price one", item_graph())


def start(flow, owner, things=ITEMS, **kwargs):
    return run_start(user=owner, flow=flow, inputs={"things": list(things)}, **kwargs)


def finish(run):
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def children(run):
    return list(Run.objects.filter(parent_step__run=run).order_by("pk"))


def price(item):
    return {"price": f"Scripted reply: Price of {item}"}


def test_map_runs_one_child_per_item_and_returns_results_in_order(inline, pricing, owner):
    flow = Flow.objects.create(
        workspace=pricing.workspace, name="Shop", graph=map_graph(pricing.pk, concurrency=3)
    )
    flow_publish(flow=flow, user=owner)

    run = finish(start(flow, owner))

    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.result == {"prices": [price(item) for item in ITEMS]}
    kids = children(run)
    assert sorted(c.inputs["ingredient"] for c in kids) == sorted(ITEMS)
    assert all(c.status == "succeeded" and c.trigger == "subflow" and c.depth == 1 for c in kids)
    step = Step.objects.get(run=run, node_id="each")
    assert {c.parent_step_id for c in kids} == {step.pk}
    progress = step.details["map"]
    assert progress["running"] == {} and len(progress["results"]) == 5
    assert {int(k): v for k, v in progress["children"].items()} == {
        ITEMS.index(c.inputs["ingredient"]): c.pk for c in kids
    }
    # The items' spending is the map's, and the run's.
    assert step.tokens_in == sum(c.tokens_in for c in kids) > 0
    assert run.tokens_in >= step.tokens_in and run.cost == sum(c.cost for c in kids)
    assert inline.call_count == 5
    items = RunEvent.objects.filter(run=run, kind="map.item").order_by("seq")
    assert [e.data["done"] for e in items] == [1, 2, 3, 4, 5]
    kinds = list(RunEvent.objects.filter(run=run, node_id="each").values_list("kind", flat=True))
    assert kinds[:2] == ["step.started", "subflow.started"]
    assert kinds[-1] == "step.succeeded"


def test_map_never_starts_more_items_than_its_concurrency(inline, make_flow, owner):
    """Children waiting on approvals stay running: only `concurrency` exist until one ends."""
    asking = make_flow("Ask", approval_item_graph())
    flow = make_flow("Shop", map_graph(asking.pk, concurrency=2))
    run = finish(start(flow, owner))
    assert run.status == "waiting"
    assert [c.inputs["ingredient"] for c in children(run)] == ITEMS[:2]

    seen = []
    while run.status == "waiting":
        pending = Approval.objects.filter(run__parent_step__run=run, status="pending")
        running = Run.objects.filter(parent_step__run=run, status__in=["queued", "waiting"])
        assert running.count() <= 2 and pending.count() <= 2
        approval = pending.order_by("-pk").first()  # the newest first: finish out of order
        seen.append(approval.run.inputs["ingredient"])
        decided = approval_decide(user=owner, approval_id=approval.pk, decision="approved")
        InlineExecutor().advance(decided.resume)
        run.refresh_from_db()
    assert run.status == "succeeded"
    assert seen != ITEMS  # they did finish out of order...
    assert run.result == {"prices": [{"price": item} for item in ITEMS]}  # ...results did not


@pytest.mark.django_db(transaction=True)
def test_map_on_the_thread_pool_keeps_order_and_its_limit(embedded, llm_server, make_flow, owner):
    from runs import dispatch

    pricing = make_flow("Price one", item_graph())
    flow = make_flow("Shop", map_graph(pricing.pk, concurrency=2))
    llm_server.on("Price of eggs", text("Scripted reply: Price of eggs", latency=0.3))
    run = start(flow, owner)

    dispatch.kick(run.pk)

    wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, timeout=60)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.result == {"prices": [price(item) for item in ITEMS]}
    kids = children(run)
    assert len(kids) == 5
    # At no instant were more than two item runs alive (created before another had finished).
    for kid in kids:
        alive = [k for k in kids if k.created_at <= kid.created_at < k.finished_at]
        assert len(alive) <= 2
    assert RunEvent.objects.filter(run=run, kind="run.succeeded").count() == 1


@pytest.mark.parametrize(
    ("policy", "status", "result"),
    [
        ("fail", "failed", None),
        ("skip", "succeeded", [price("eggs"), price("sugar")]),
        (
            "collect",
            "succeeded",
            [
                {"ok": True, "output": price("eggs")},
                "error",
                {"ok": True, "output": price("sugar")},
            ],
        ),
    ],
)
def test_a_failing_item_under_each_policy(
    policy, status, result, inline, pricing, make_flow, owner
):
    inline.on("Price of flour", http_error(400))
    flow = make_flow("Shop", map_graph(pricing.pk, concurrency=1, on_item_failure=policy))

    run = finish(start(flow, owner, things=["eggs", "flour", "sugar"]))

    assert run.status == status
    step = Step.objects.get(run=run, node_id="each")
    failed = next(c for c in children(run) if c.inputs["ingredient"] == "flour")
    assert failed.status == "failed"
    if policy == "fail":
        assert step.status == "failed" and step.error_code == failed.error_code
        assert step.error_message.startswith("Item 2 of 3 failed: Run #")
        assert run.error_code == failed.error_code
        # Nothing after the failed item was started (concurrency 1).
        assert len(children(run)) == 2
        return
    assert len(children(run)) == 3
    prices = run.result["prices"]
    if policy == "collect":
        error = prices[1]
        assert error["ok"] is False and error["error"]["run_id"] == failed.pk
        assert error["error"]["code"] == failed.error_code
        prices = [prices[0], "error", prices[2]]
    assert prices == result


@pytest.mark.parametrize("cancel_lost", [False, True])
def test_fail_policy_cancels_items_still_running(
    cancel_lost, inline, make_flow, owner, django_capture_on_commit_callbacks
):
    """The siblings are cancelled after the failing item's commit; if that never happens (the
    worker died right after it), the sweeper cancels them."""
    asking = make_flow("Ask", approval_item_graph())
    flow = make_flow("Shop", map_graph(asking.pk, concurrency=3))
    run = finish(start(flow, owner))
    first, second, third = children(run)

    approval = Approval.objects.get(run=second)
    decided = approval_decide(user=owner, approval_id=approval.pk, decision="rejected")
    with django_capture_on_commit_callbacks(execute=not cancel_lost):
        InlineExecutor().advance(decided.resume)

    run.refresh_from_db()
    assert run.status == "failed" and "Item 2 of 5 failed" in run.error_message
    if cancel_lost:
        first.refresh_from_db()
        assert first.status == "waiting"
        sweep()
    for kid in (first, third):
        kid.refresh_from_db()
        assert kid.status == "cancelled"
    assert len(children(run)) == 3  # items 4 and 5 never started


def test_item_failure_takes_the_error_port_when_connected(inline, pricing, make_flow, owner):
    inline.on("Price of flour", http_error(400))
    graph = map_graph(pricing.pk)
    graph["nodes"].append(_node("sorry", "output", name="fallback", value="no prices"))
    graph["edges"].append(_edge("each", "sorry", port="error"))
    flow = make_flow("Shop", graph)

    run = finish(start(flow, owner, things=["eggs", "flour"]))

    assert run.status == "succeeded" and run.result == {"fallback": "no prices"}
    step = Step.objects.get(run=run, node_id="each")
    assert step.ports == ["error"] and "Item 2 of 2" in step.output["error"]["message"]


def test_too_many_items_fail_the_step_before_any_child_starts(
    inline, pricing, make_flow, owner, settings
):
    settings.SWITCHBOARD_MAP_MAX_ITEMS = 3
    flow = make_flow("Shop", map_graph(pricing.pk))

    run = finish(start(flow, owner))

    step = Step.objects.get(run=run, node_id="each")
    assert step.status == "failed" and step.error_code == "map_too_many_items"
    assert "at most 3" in step.error_message and children(run) == []


def test_items_get_what_the_parent_budget_has_left(inline, pricing, make_flow, owner):
    flow = make_flow("Shop", map_graph(pricing.pk, concurrency=1))

    run = finish(start(flow, owner, budgets={"max_steps": 30}))

    assert run.status == "succeeded"
    # The first item starts with the map's own step (29 left after the input step); the map
    # step is counted once it waits, and each ended item's three steps before the next starts.
    assert [k.budgets["max_steps"] for k in children(run)] == [29, 25, 22, 19, 16]


def test_a_spent_budget_stops_the_map(inline, pricing, make_flow, owner):
    flow = make_flow("Shop", map_graph(pricing.pk, concurrency=1))

    run = finish(start(flow, owner, budgets={"max_steps": 6}))

    step = Step.objects.get(run=run, node_id="each")
    assert step.status == "failed" and step.error_code == "budget_exceeded"
    assert len(children(run)) < 5


def test_cancelling_the_parent_cancels_every_item_run(inline, make_flow, owner):
    asking = make_flow("Ask", approval_item_graph())
    flow = make_flow("Shop", map_graph(asking.pk, concurrency=3))
    run = finish(start(flow, owner))
    assert run.status == "waiting" and len(children(run)) == 3

    run_cancel(run=run, user=owner)

    assert {c.status for c in children(run)} == {"cancelled"}
    assert not Approval.objects.filter(run__parent_step__run=run, status="pending").exists()
    assert len(children(run)) == 3  # and nothing new started


def test_kill_while_the_map_step_runs_starts_each_item_once(inline, pricing, make_flow, owner):
    """A worker dies holding the map step (its transaction never committed): recovery runs the
    step again, and every item still gets exactly one child run."""
    flow = make_flow("Shop", map_graph(pricing.pk, concurrency=2))
    run = start(flow, owner)
    advance = run_advance(run_id=run.pk, worker="ghost:1:1")
    # The input step was claimed and dies with the worker too: leave both as a dead worker would.
    Step.objects.filter(pk=advance.claimed.step_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert run.pk in sweep()
    InlineExecutor().advance(run.pk, redispatch=True)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.result == {"prices": [price(i) for i in ITEMS]}
    assert sorted(c.inputs["ingredient"] for c in children(run)) == sorted(ITEMS)


def test_kill_after_an_item_finished_loses_nothing(inline, make_flow, owner):
    """The worker finishing an item dies before kicking anything: the item's result and the
    next item's child were committed with the item's finish, and a sweep moves everything on."""
    asking = make_flow("Ask", approval_item_graph())
    flow = make_flow("Shop", map_graph(asking.pk, concurrency=1))
    run = finish(start(flow, owner, things=["eggs", "flour"]))
    (first,) = children(run)
    approval = Approval.objects.get(run=first)
    approval_decide(user=owner, approval_id=approval.pk, decision="approved")
    lost: list[int] = []
    run_steps(
        run_advance(run_id=first.pk, worker="dying"),
        worker="dying",
        hold=lambda step_id: nullcontext(),
        kick=lambda ids: None,
        kick_runs=lost.extend,  # never delivered
    )
    first.refresh_from_db()
    second = next(c for c in children(run) if c.pk != first.pk)
    assert first.status == "succeeded" and lost == [second.pk]
    assert second.status == "queued" and second.inputs == {"ingredient": "flour"}

    kicked = sweep(now=timezone.now() + timedelta(minutes=2))
    assert second.pk in kicked
    InlineExecutor().advance(second.pk, redispatch=True)
    decided = approval_decide(
        user=owner, approval_id=Approval.objects.get(run=second).pk, decision="approved"
    )
    InlineExecutor().advance(decided.resume)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.result == {
        "prices": [{"price": "eggs"}, {"price": "flour"}]
    }
    assert len(children(run)) == 2


def test_a_finished_item_whose_finish_was_never_applied_is_applied_by_a_sweep(
    inline, make_flow, owner
):
    asking = make_flow("Ask", approval_item_graph())
    flow = make_flow("Shop", map_graph(asking.pk, concurrency=1))
    run = finish(start(flow, owner, things=["eggs", "flour"]))
    (first,) = children(run)
    # The child ended without its parent hearing of it (a row fixed by hand, a lost write).
    Run.objects.filter(pk=first.pk).update(status="succeeded", result={"price": "by hand"})

    kicked = sweep()
    assert len(children(run)) == 2 and sweep() == set()  # applied once, the next item started once
    second = next(c for c in children(run) if c.pk != first.pk)
    assert second.pk in kicked
    InlineExecutor().advance(second.pk)
    approval = Approval.objects.get(run=second)
    decided = approval_decide(user=owner, approval_id=approval.pk, decision="approved")
    InlineExecutor().advance(decided.resume)
    run.refresh_from_db()
    assert run.result == {"prices": [{"price": "by hand"}, {"price": "flour"}]}


def test_reproducing_a_map_makes_no_calls_and_starts_no_items(inline, pricing, make_flow, owner):
    flow = make_flow("Shop", map_graph(pricing.pk))
    original = finish(start(flow, owner))
    inline.reset()
    before = Run.objects.count()

    copy = run_reproduce(user=owner, run=original)
    InlineExecutor().advance(copy.pk)

    copy.refresh_from_db()
    assert copy.status == "succeeded" and copy.result == original.result
    assert inline.call_count == 0 and Run.objects.count() == before + 1


def test_run_page_lists_the_item_runs(inline, pricing, make_flow, owner, client):
    flow = make_flow("Shop", map_graph(pricing.pk))
    run = finish(start(flow, owner, things=ITEMS[:3]))
    client.force_login(owner)

    page = client.get(f"/runs/{run.pk}/").content.decode()

    assert 'data-testid="map-items"' in page
    for index, kid in enumerate(
        sorted(children(run), key=lambda k: ITEMS.index(k.inputs["ingredient"]))
    ):
        assert f'href="/runs/{kid.pk}/"' in page
        assert f"Item {index + 1}" in page
    assert "3 of 3 done" in page


@pytest.mark.parametrize("case", ["items", "concurrency", "input", "duplicate"])
def test_validation_reports_bad_maps(case, pricing, make_flow, owner, settings):
    settings.SWITCHBOARD_MAP_MAX_CONCURRENCY = 4
    codes = {
        "items": ("graph.E065", "items"),
        "concurrency": ("graph.E066", "concurrency"),
        "input": ("graph.E067", "item_input"),
        "duplicate": ("graph.E068", "inputs"),
    }
    config = {
        "items": {"items": "  "},
        "concurrency": {"concurrency": 5},
        "input": {"item_input": "flavour"},
        "duplicate": {"inputs": {"ingredient": "eggs"}},
    }[case]
    graph = map_graph(pricing.pk, **config)

    errors = flow_validate(graph=graph, workspace_id=pricing.workspace_id)

    assert [(e.code, e.node_id, e.field) for e in errors] == [
        (*codes[case][:1], "each", codes[case][1])
    ]
    assert codes[case][0] in ERROR_CODES


def test_map_reuses_the_subflow_checks(pricing, make_flow, owner):
    errors = flow_validate(graph=map_graph(987654), workspace_id=pricing.workspace_id)
    assert [(e.code, e.node_id) for e in errors] == [("graph.E040", "each")]
    a = make_flow("A", item_graph())
    a.graph = map_graph(a.pk)
    errors = flow_validate(graph=a.graph, workspace_id=a.workspace_id, flow_id=a.pk)
    assert [e.code for e in errors] == ["graph.E043"]


def test_demo_prices_each_missing_ingredient_in_order(demo, inline):
    from builder.services import flow_validate
    from tests.llmserver import json_reply

    flow = Flow.objects.select_related("workspace").get(
        workspace=demo["workspace"], name="Price the missing ingredients"
    )
    assert flow_validate(graph=flow.graph, workspace_id=flow.workspace_id, flow_id=flow.pk) == []
    wanted = ["pasta", "mozzarella", "basil", "tomato", "ricotta"]
    inline.on("List the ingredients", json_reply({"ingredients": wanted, "summary": "Baked."}))
    for usd, name in enumerate(["mozzarella", "basil", "ricotta"], start=3):
        inline.on(f"What does {name} cost", json_reply({"ingredient": name, "usd": usd}))

    run = finish(run_start(user=demo["owner"], flow=flow, inputs={"dish": "lasagne"}))

    assert run.status == "succeeded", (run.error_code, run.error_message)
    prices = run.result["prices"]
    assert [p["output"]["price"]["ingredient"] for p in prices] == [
        "mozzarella",
        "basil",
        "ricotta",
    ]
    assert [p["output"]["price"]["usd"] for p in prices] == [3, 4, 5]
    assert all(p["ok"] for p in prices)


def test_item_runs_and_the_map_rerun_like_any_run(inline, pricing, make_flow, owner):
    from runs.services.reruns import run_rerun

    flow = make_flow("Shop", map_graph(pricing.pk))
    run = finish(start(flow, owner, things=ITEMS[:2]))
    item = next(c for c in children(run) if c.inputs["ingredient"] == "flour")
    inline.reset()

    again = finish(run_rerun(user=owner, run=item, from_node="mid"))
    assert again.status == "succeeded" and again.result == price("flour")
    assert again.parent_run_id == item.pk and inline.call_count == 1
    reused = Step.objects.get(run=again, node_id="in")
    assert reused.status == "succeeded"

    # From the step after the map: its results are reused, no item runs again.
    before = Run.objects.count()
    after = finish(run_rerun(user=owner, run=run, from_node="out"))
    assert after.status == "succeeded" and after.result == run.result
    assert Run.objects.count() == before + 1 and inline.call_count == 1
