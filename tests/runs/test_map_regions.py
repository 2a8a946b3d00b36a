"""Region maps on a real database: the steps drawn inside a map run once per item as child runs
of the same version, in order, within the concurrency limit, under the three failure policies
and the run's budgets; their steps are real steps (recorded, shown, reproducible, re-runnable)."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

import pytest

from builder.models import Flow
from builder.services import flow_publish, flow_validate
from runs.executor import InlineExecutor
from runs.models import Approval, Run, RunEvent, Step
from runs.services import approval_decide, run_start
from runs.services.reruns import run_reproduce, run_rerun
from tests.llmserver import http_error
from workspaces.models import Membership, Role

from .support import embedded, fast_passwords, inline, memory_layer, wait_until  # noqa: F401

ITEMS = ["eggs", "flour", "sugar", "butter", "milk"]
SCHEMA = {
    "type": "object",
    "properties": {
        "things": {"type": "array", "items": {"type": "string"}},
        "shop": {"type": "string"},
    },
    "required": ["things"],
}


def _node(node_id, type_, parent="", **config):
    found = {"id": node_id, "type": type_, "label": node_id.title(), "config": config}
    return {**found, "parent": parent} if parent else found


def _edge(source, target, port="out"):
    return {
        "id": f"{source}.{port}->{target}",
        "source": source,
        "source_port": port,
        "target": target,
        "target_port": "in",
    }


def region_graph(first=None, **config):
    """Input -> a map whose region prices each item (a prompt, then a short answer) -> Output."""
    first = first or _node(
        "price", "prompt", "each", prompt="Price of {{ inputs.ingredient }} at {{ inputs.shop }}"
    )
    config = {"items": "{{ inputs.things }}", "item_input": "ingredient", **config}
    return {
        "schema_version": 1,
        "nodes": [
            _node("in", "input", schema=SCHEMA, sample={"things": ["eggs"], "shop": "Coop"}),
            _node("each", "map", **config),
            first,
            _node("short", "prompt", "each", prompt="Shorten: {{ nodes.price.output }}"),
            _node("out", "output", name="prices"),
        ],
        "edges": [_edge("in", "each"), _edge("price", "short"), _edge("each", "out")],
    }


def approval_region_graph(**config):
    graph = region_graph(_node("price", "approval", "each", show=["inputs.ingredient"]), **config)
    graph["edges"][1] = _edge("price", "short", port="approved")
    return graph


@pytest.fixture
def owner(workspace, make_user):
    user = make_user("owner")
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def make_flow(workspace, owner):
    def make(graph):
        assert flow_validate(graph=graph, workspace_id=workspace.pk) == []
        flow = Flow.objects.create(workspace=workspace, name="Shop", graph=graph)
        flow_publish(flow=flow, user=owner)
        return Flow.objects.select_related("workspace").get(pk=flow.pk)

    return make


def start(flow, owner, things=ITEMS, **kwargs):
    inputs = {"things": list(things), "shop": "Coop"}
    return run_start(user=owner, flow=flow, inputs=inputs, **kwargs)


def finish(run):
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def children(run):
    return list(Run.objects.filter(parent_step__run=run).order_by("pk"))


def shortened(item):
    return f"Scripted reply: Shorten: Scripted reply: Price of {item} at Coop"


def test_region_runs_once_per_item_in_order_with_real_steps(inline, make_flow, owner, api_for):
    flow = make_flow(region_graph(concurrency=3))

    run = finish(start(flow, owner))

    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.result == {"prices": [shortened(item) for item in ITEMS]}
    # The flow's own run never executed the steps inside the map.
    assert set(Step.objects.filter(run=run).values_list("node_id", flat=True)) == {
        "in",
        "each",
        "out",
    }
    kids = children(run)
    assert len(kids) == 5 and inline.call_count == 10
    for kid in kids:
        assert kid.region == "each" and kid.version_id == run.version_id
        assert kid.trigger == "subflow" and kid.depth == 1 and kid.status == "succeeded"
        assert kid.inputs["shop"] == "Coop" and kid.inputs["things"] == ITEMS
        steps = {s.node_id: s for s in Step.objects.filter(run=kid)}
        assert set(steps) == {"each", "price", "short"}
        assert steps["each"].node_type == "input"  # the map stands for the item's input
        assert steps["price"].input["prompt"] == f"Price of {kid.inputs['ingredient']} at Coop"
        assert steps["short"].tokens_in > 0
        kinds = RunEvent.objects.filter(run=kid, node_id="short").values_list("kind", flat=True)
        assert "step.succeeded" in kinds
    step = Step.objects.get(run=run, node_id="each")
    assert step.details["region"] == "each" and step.details["map"]["region"] == "each"
    client = api_for(owner, token=True)
    detail = client.get(f"/api/runs/{run.pk}").json()
    assert detail["region"] == "" and sorted(detail["child_runs"]) == [k.pk for k in kids]
    assert client.get(f"/api/runs/{kids[0].pk}").json()["region"] == "each"
    assert step.tokens_in == sum(k.tokens_in for k in kids) > 0


def test_region_never_runs_more_items_than_its_concurrency(inline, make_flow, owner):
    flow = make_flow(approval_region_graph(concurrency=2))
    run = finish(start(flow, owner))
    assert run.status == "waiting"
    assert [c.inputs["ingredient"] for c in children(run)] == ITEMS[:2]

    while run.status == "waiting":
        running = Run.objects.filter(parent_step__run=run, status__in=["queued", "waiting"])
        assert running.count() <= 2
        approval = Approval.objects.filter(run__parent_step__run=run, status="pending").last()
        decided = approval_decide(user=owner, approval_id=approval.pk, decision="approved")
        InlineExecutor().advance(decided.resume)
        run.refresh_from_db()
    assert run.status == "succeeded"
    assert len(run.result["prices"]) == 5


@pytest.mark.django_db(transaction=True)
def test_region_on_the_thread_pool_keeps_order_and_its_limit(
    embedded, llm_server, make_flow, owner
):
    from runs import dispatch
    from tests.llmserver import text

    llm_server.on("Price of eggs", text("Scripted reply: Price of eggs at Coop", latency=0.3))
    flow = make_flow(region_graph(concurrency=2))
    run = start(flow, owner)

    dispatch.kick(run.pk)

    wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, timeout=60)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    # The slow answer for eggs answers its shortening too (its prompt has "Price of eggs").
    slow = "Scripted reply: Price of eggs at Coop"
    assert run.result == {"prices": [slow] + [shortened(item) for item in ITEMS[1:]]}
    kids = children(run)
    for kid in kids:
        alive = [k for k in kids if k.created_at <= kid.created_at < k.finished_at]
        assert len(alive) <= 2


@pytest.mark.parametrize(
    ("policy", "status", "kept"),
    [
        ("fail", "failed", None),
        ("skip", "succeeded", ["eggs", "sugar"]),
        ("collect", "succeeded", None),
    ],
)
def test_a_failing_item_under_each_policy(policy, status, kept, inline, make_flow, owner):
    inline.on("Price of flour", http_error(400))
    flow = make_flow(region_graph(concurrency=1, on_item_failure=policy))

    run = finish(start(flow, owner, things=["eggs", "flour", "sugar"]))

    assert run.status == status
    failed = next(c for c in children(run) if c.inputs["ingredient"] == "flour")
    assert failed.status == "failed"
    assert Step.objects.get(run=failed, node_id="price").status == "failed"
    if policy == "fail":
        assert run.error_message.startswith("Item 2 of 3 failed: Run #")
        assert len(children(run)) == 2  # nothing after the failed item started
    elif policy == "skip":
        assert run.result == {"prices": [shortened(item) for item in kept]}
    else:
        prices = run.result["prices"]
        assert [p["ok"] for p in prices] == [True, False, True]
        assert prices[1]["error"]["run_id"] == failed.pk
        assert prices[2]["output"] == shortened("sugar")


def test_items_get_what_the_parent_budget_has_left(inline, make_flow, owner):
    flow = make_flow(region_graph(concurrency=1))
    run = finish(start(flow, owner, budgets={"max_steps": 9}))
    # 1 step of the flow before the map, then 3 per item: the third item cannot finish.
    assert run.status == "failed"
    assert "budget" in run.error_code or "budget" in run.error_message
    first = children(run)[0]
    assert first.budgets["max_steps"] == 9 - 1


def test_reproducing_a_region_map_makes_no_calls(inline, make_flow, owner):
    flow = make_flow(region_graph())
    original = finish(start(flow, owner, things=ITEMS[:3]))
    inline.reset()
    before = Run.objects.count()

    copy = finish(run_reproduce(user=owner, run=original))

    assert copy.status == "succeeded" and copy.result == original.result
    assert inline.call_count == 0 and Run.objects.count() == before + 1


def test_an_item_run_reproduces_and_reruns_from_a_step_inside(inline, make_flow, owner):
    flow = make_flow(region_graph())
    run = finish(start(flow, owner, things=ITEMS[:2]))
    item = next(c for c in children(run) if c.inputs["ingredient"] == "flour")
    inline.reset()

    copy = finish(run_reproduce(user=owner, run=item))
    assert copy.status == "succeeded" and copy.result == item.result == shortened("flour")
    assert copy.region == "each" and inline.call_count == 0

    again = finish(run_rerun(user=owner, run=item, from_node="short"))
    assert again.status == "succeeded" and again.result == shortened("flour")
    assert again.region == "each" and again.parent_run_id == item.pk
    assert inline.call_count == 1  # only the step re-run from; the price was reused
    assert Step.objects.get(run=again, node_id="price").reused


def test_run_page_lists_the_items_and_the_item_page_its_map(inline, make_flow, owner, client):
    flow = make_flow(region_graph())
    run = finish(start(flow, owner, things=ITEMS[:3]))
    client.force_login(owner)

    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert 'data-testid="map-items"' in page and "Map → the steps inside it" in page
    assert "3 of 3 done" in page
    assert 'title="ingredient: flour"' in page and "things:" not in page.split("map-items")[1]
    kid = children(run)[0]
    item_page = client.get(f"/runs/{kid.pk}/").content.decode()
    assert "one item of <strong>Each</strong>" in item_page


def test_a_flow_form_map_and_a_map_with_nothing_to_run(workspace):
    graph = region_graph()
    graph["nodes"] = [n for n in graph["nodes"] if not n.get("parent")]
    graph["edges"] = [e for e in graph["edges"] if e["source"] != "price"]
    errors = flow_validate(graph=graph, workspace_id=workspace.pk)
    assert [(e.code, e.node_id) for e in errors] == [("graph.E090", "each")]


def test_demo_recipe_prices_each_missing_ingredient_then_lists_them(demo, inline):
    from tests.llmserver import json_reply

    flow = Flow.objects.select_related("workspace").get(
        workspace=demo["workspace"], name="Recipe assistant"
    )
    assert flow_validate(graph=flow.graph, workspace_id=flow.workspace_id, flow_id=flow.pk) == []
    wanted = ["pasta", "mozzarella", "basil", "tomato", "ricotta"]
    inline.on("List the ingredients", json_reply({"ingredients": wanted, "summary": "Baked."}))
    for usd, name in enumerate(["mozzarella", "basil", "ricotta"], start=3):
        inline.on(f"What does {name} cost", json_reply({"ingredient": name, "usd": usd}))

    run = finish(run_start(user=demo["owner"], flow=flow, inputs={"dish": "lasagne"}))

    assert run.status == "waiting", (run.error_code, run.error_message)  # at the chef's approval
    step = Step.objects.get(run=run, node_id="price_each")
    assert step.output == [
        {"ingredient": "mozzarella", "usd": 3},
        {"ingredient": "basil", "usd": 4},
        {"ingredient": "ricotta", "usd": 5},
    ]
    items = children(run)
    assert [k.region for k in items] == ["price_each"] * 3
    assert {k.inputs["item"] for k in items} == {"mozzarella", "basil", "ricotta"}
    shopping = Step.objects.get(run=run, node_id="shopping")
    assert shopping.input["prompt"] == (
        "Write a short shopping list for: mozzarella, basil, ricotta. "
        "Estimated prices: mozzarella $3, basil $4, ricotta $5."
    )


def test_a_failed_step_inside_an_item_goes_to_a_person_and_the_map_goes_on(
    inline, make_flow, owner
):
    from runs.services.fallbacks import fallback_decide

    inline.on("Price of flour", http_error(400))
    graph = region_graph()
    graph["nodes"][2]["config"].update(on_failure="ask", retries=0)
    flow = make_flow(graph)

    run = finish(start(flow, owner, things=["eggs", "flour"]))

    assert run.status == "waiting"
    flour = next(c for c in children(run) if c.inputs["ingredient"] == "flour")
    task = Approval.objects.get(run=flour, kind="fallback", status="pending")
    assert task.node_id == "price"
    decided = fallback_decide(user=owner, approval_id=task.pk, action="output", output="$2")
    InlineExecutor().advance(decided.resume)

    run.refresh_from_db()
    assert run.status == "succeeded", (run.error_code, run.error_message)
    assert run.result == {"prices": [shortened("eggs"), "Scripted reply: Shorten: $2"]}
