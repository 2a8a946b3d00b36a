"""The learned router on real records: labels from evaluator verdicts, approvals, evaluation
items and cascades; training, persistence and safe loading; routing real runs with it (recorded,
so a reproduction calls nothing); `train_router`; the sweeper's refit. Models and embeddings are
the scripted server's."""

from __future__ import annotations

import threading

import pytest
from django.core.management import CommandError, call_command

from builder.models import Flow
from evals import router as router_service
from evals.dispatch import drive
from evals.models import RouterModel
from evals.router import active_router, refit_due_routers, router_labels, router_train
from evals.router import refit as router_refit
from evals.router.loading import with_baseline_tiers
from evals.router.training import tiers_by_rules
from evals.services import evaluation_start
from runs.engine.learned_routing import fit
from runs.engine.routing import RouteRequest, score_request
from runs.executor import InlineExecutor
from runs.models import Approval, Recording, Step
from runs.services import approval_decide, run_start
from runs.services.reruns import run_reproduce
from tests.llmserver import text
from tests.runs.engine.graphs import edge, graph, node, prompt
from tests.runs.engine.routing_labels import split
from tests.runs.support import fast_passwords, inline, memory_layer  # noqa: F401
from workspaces.models import Role

from .support import capitals_dataset, qa_flow

SMALL, MEDIUM, LARGE = "openai/gpt-4o-mini", "openai/gpt-4.1-mini", "openai/gpt-4o"
EMBEDDINGS = "openai/text-embedding-3-small"
HARD = (
    "Our enterprise contract covers the {{ inputs.question }}, but finance opened a chargeback "
    "dispute in Norway; which clause applies and what do we owe?"
)
PLAIN = "Where is my {{ inputs.question }}? It was due on Monday."

pytestmark = pytest.mark.usefixtures("inline")


@pytest.fixture(autouse=True)
def router_settings(llm_server, settings):
    """The scripted server's three models and embeddings; few labels make a router."""
    settings.SWITCHBOARD_PROVIDERS = {"openai": settings.SWITCHBOARD_PROVIDERS["openai"]}
    settings.SWITCHBOARD_ROUTER_EMBEDDING_MODEL = EMBEDDINGS
    settings.SWITCHBOARD_ROUTER_MIN_LABELS = 6
    router_service._loaded.clear()


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "router-editor")


def run_flow(workspace, user, document, question="France"):
    flow = Flow.objects.create(workspace=workspace, name="routed", graph=document)
    run = run_start(user=user, flow=flow, inputs={"question": question}, use_draft=True)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    return run


def judged(model=SMALL, text_="Capital of {{ inputs.question }}? {{ feedback }}", **config):
    return graph(
        [
            node("in", "input"),
            prompt("ask", text_, model=model, **config),
            node(
                "check",
                "evaluator",
                rules=[{"kind": "contains", "value": "Paris", "message": "name the city"}],
                max_attempts=2,
            ),
            node("out", "output"),
        ],
        [
            edge("in", "ask"),
            edge("ask", "check"),
            edge("check", "out", "pass"),
            edge("check", "ask", "fail"),
        ],
    )


def signed_off(approver: str):
    return graph(
        [
            node("in", "input"),
            prompt("draft", "Draft a reply about {{ inputs.question }}", model=LARGE),
            node("review", "approval", users=[approver], allow_edit=True),
            node("sent", "output"),
            node("dropped", "output"),
        ],
        [
            edge("in", "draft"),
            edge("draft", "review"),
            edge("review", "sent", "approved"),
            edge("review", "dropped", "rejected"),
        ],
    )


def test_labels_from_an_evaluator_fail_then_pass(workspace, editor, llm_server):
    llm_server.script(text("Lyon"), text("Paris"))
    run_flow(workspace, editor, judged())
    labels = router_labels(workspace_id=workspace.pk)
    assert [(x.tier, x.passed, x.source) for x in labels] == [
        ("small", False, "verdict"),
        ("small", True, "verdict"),
    ]
    assert labels[0].request.text == "Capital of France? "


def test_labels_from_approvals_approved_edited_and_rejected(workspace, member, llm_server):
    approver = member(Role.APPROVER, "reviewer")
    decisions = [("approved", None), ("approved", {"text": "Better"}), ("rejected", None)]
    for decision, payload in decisions:
        run = run_flow(workspace, approver, signed_off("reviewer"))
        approval = Approval.objects.get(run=run)
        approval_decide(user=approver, approval_id=approval.pk, decision=decision, payload=payload)
    labels = router_labels(workspace_id=workspace.pk)
    assert [(x.tier, x.passed, x.source) for x in labels] == [
        ("large", True, "verdict"),
        ("large", False, "verdict"),
        ("large", False, "verdict"),
    ]


@pytest.mark.django_db(transaction=True)
def test_labels_from_an_evaluations_items(workspace, editor, llm_server):
    flow = qa_flow(workspace, editor)
    dataset = capitals_dataset(workspace, editor, count=4)
    llm_server.on("Oslo", text("I am not sure."))
    evaluation = evaluation_start(
        user=editor, flow=flow, dataset=dataset, use_draft=True, scorers=[{"type": "contains"}]
    )
    drive(evaluation.pk)
    labels = router_labels(workspace_id=workspace.pk)
    assert sorted((x.tier, x.passed, x.source) for x in labels) == [
        ("small", False, "evaluation"),
        *[("small", True, "evaluation")] * 3,
    ]


@pytest.mark.django_db(transaction=True)
def test_an_evaluation_result_outranks_the_verdict_it_contradicts(workspace, editor, llm_server):
    from evals.datasets import dataset_create, dataset_upload

    from .support import jsonl

    # The evaluator passes any answer naming Paris; the dataset knows one of them is wrong.
    llm_server.script(text("Paris"), text("Paris"))
    document = judged()
    document["nodes"][-1]["config"]["value"] = "{{ nodes.ask.output }}"
    flow = Flow.objects.create(workspace=workspace, name="judged", graph=document)
    dataset = dataset_create(user=editor, workspace_id=workspace.pk, name="Capitals")
    rows = [
        {"inputs": {"question": "France"}, "expected": "Paris"},
        {"inputs": {"question": "Texas"}, "expected": "Austin"},
    ]
    dataset_upload(user=editor, dataset=dataset, filename="c.jsonl", content=jsonl(rows))
    evaluation = evaluation_start(
        user=editor, flow=flow, dataset=dataset, use_draft=True, scorers=[{"type": "contains"}]
    )
    drive(evaluation.pk)
    labels = router_labels(workspace_id=workspace.pk)
    assert [(x.request.text, x.passed, x.source) for x in labels] == [
        ("Capital of France? ", True, "verdict"),
        ("Capital of Texas? ", False, "evaluation"),
    ]


def test_a_failed_cascade_attempt_is_a_label_of_its_tier(workspace, editor, llm_server):
    llm_server.on(lambda r: r.get("model") == "gpt-4o-mini", text("Lyon"))
    llm_server.on(lambda r: r.get("model") == "gpt-4.1-mini", text("Paris"))
    escalate = [{"kind": "contains", "value": "Paris", "message": "name the city"}]
    run_flow(workspace, editor, judged(model="auto", escalate_on=escalate))
    labels = router_labels(workspace_id=workspace.pk)
    assert [(x.tier, x.passed, x.source) for x in labels] == [
        ("small", False, "cascade"),
        ("medium", True, "verdict"),
    ]


def test_too_few_labels_train_nothing(workspace, editor, llm_server):
    llm_server.script(text("Lyon"), text("Paris"))
    run_flow(workspace, editor, judged())
    with pytest.raises(Exception, match="2 labelled answers; the router needs 6") as caught:
        router_train(workspace_id=workspace.pk)
    assert caught.value.code == "too_few_labels"
    with pytest.raises(CommandError) as failed:
        call_command("train_router", workspace.slug)
    assert failed.value.returncode == 1
    with pytest.raises(CommandError) as bad:
        call_command("train_router", "no-such-workspace")
    assert bad.value.returncode == 2
    assert not RouterModel.objects.exists()


def _records(workspace, editor, llm_server, runs=4):
    """Runs judged by an evaluator: the small model fails hard requests, passes plain ones."""
    llm_server.on(lambda r: "chargeback" in str(r["messages"]) and r["model"] == "gpt-4o-mini",
                  text("No idea"))  # fmt: skip
    llm_server.on(lambda r: True, text("Paris"))
    for i in range(runs):
        run_flow(workspace, editor, judged(text_=PLAIN + " {{ feedback }}"), f"parcel {i}")
        run_flow(workspace, editor, judged(text_=HARD + " {{ feedback }}"), f"headset {i}")


def test_train_router_from_records_stores_json_arrays(workspace, editor, llm_server, capsys):
    _records(workspace, editor, llm_server)
    labels = router_labels(workspace_id=workspace.pk)
    # Hard requests: two fails on small (the evaluator sent it back once); plain ones: a pass.
    assert len(labels) == 12 and sum(not x.passed for x in labels) == 8
    call_command("train_router", str(workspace.pk))
    assert "12 labels, held-out accuracy" in capsys.readouterr().out
    stored = RouterModel.objects.get(workspace=workspace)
    assert stored.label_count == 12 and stored.embedding_model == EMBEDDINGS
    assert stored.metrics["held_out"] == 12 and stored.metrics["folds"] == 5
    assert stored.metrics["sources"] == {"verdict": 12}
    assert len(stored.params["embedding_weights"]) == 256
    assert all(isinstance(v, float) for v in stored.params["weights"])
    # Embedding the training texts again asks the server nothing: they were cached.
    before = len(llm_server.embedding_requests)
    router_train(workspace_id=workspace.pk)
    assert len(llm_server.embedding_requests) == before


def _store(workspace, params=None, active=True):
    train, _held_out = split()
    params = params if params is not None else fit(train, embedding_model=EMBEDDINGS).to_dict()
    return RouterModel.objects.update_or_create(
        workspace=workspace,
        defaults={
            "params": params,
            "embedding_model": EMBEDDINGS,
            "label_count": len(train),
            "metrics": {"accuracy": 0.95, "baseline_accuracy": 0.46, "held_out": 48},
            "active": active,
        },
    )[0]


def auto(text_):
    return graph(
        [node("in", "input"), prompt("ask", text_, model="auto"), node("out", "output")],
        [edge("in", "ask"), edge("ask", "out")],
    )


def test_a_trained_router_routes_and_says_why(workspace, editor, llm_server, client):
    _store(workspace)
    hard = run_flow(workspace, editor, auto(HARD), "router")
    plain = run_flow(workspace, editor, auto(PLAIN), "parcel")
    hard_routing = Step.objects.get(run=hard, node_id="ask").details["routing"]
    plain_routing = Step.objects.get(run=plain, node_id="ask").details["routing"]
    # The baseline calls both small (no keyword); the learned router knows the policy one.
    assert (hard_routing["router"], hard_routing["chose"]) == ("learned", LARGE)
    assert (plain_routing["router"], plain_routing["chose"]) == ("learned", SMALL)
    assert hard_routing["probabilities"]["small"] < 0.5 <= hard_routing["probabilities"]["large"]
    assert plain_routing["probability"] == plain_routing["probabilities"]["small"] >= 0.5
    assert "240 labels; held-out accuracy 95% vs the baseline's 46%" in hard_routing["reasons"][0]
    assert Recording.objects.filter(step__run=hard, kind="route").count() == 1
    client.force_login(editor)
    page = client.get(f"/runs/{hard.pk}/").content.decode()
    assert f"auto → {LARGE} (large · learned 0." in page


def test_reproducing_a_learned_route_calls_nothing(workspace, editor, llm_server):
    _store(workspace)
    run = run_flow(workspace, editor, auto(HARD), "router")
    llm_server.reset()
    copy = run_reproduce(user=editor, run=run)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded"
    assert llm_server.call_count == 0 and llm_server.embedding_requests == []
    step = Step.objects.get(run=copy, node_id="ask")
    assert (step.details["routing"]["router"], step.model) == ("learned", LARGE)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: {**p, "version": 99},
        lambda p: {**p, "weights": p["weights"][:-1]},
        lambda p: {**p, "bias": ["1", 0, 0]},
        lambda p: {**p, "scale": [0.0] * len(p["scale"])},
        lambda p: {**p, "embedding_model": ""},
        lambda p: {**p, "features": ["tokens"]},
        lambda p: "__import__('os')",
    ],
)
def test_damaged_stored_params_fall_back_to_the_baseline(workspace, editor, llm_server, damage):
    train, _held_out = split()
    _store(workspace, damage(fit(train, embedding_model=EMBEDDINGS).to_dict()))
    assert active_router(workspace.pk) is None
    run = run_flow(workspace, editor, auto(HARD), "router")
    assert run.status == "succeeded"
    routing = Step.objects.get(run=run, node_id="ask").details["routing"]
    assert (routing["router"], routing["chose"]) == ("baseline", SMALL)


def test_a_decision_reads_the_router_table_at_most_every_recheck(
    workspace, django_assert_num_queries
):
    _store(workspace)
    assert active_router(workspace.pk) is not None
    with django_assert_num_queries(0):  # between checks: a dot product, no round trip
        assert active_router(workspace.pk) is not None
    router_service._loaded[workspace.pk].checked -= router_service.RECHECK_SECONDS
    RouterModel.objects.filter(workspace=workspace).update(active=False)
    with django_assert_num_queries(1):  # due: one look, and the deactivation is seen
        assert active_router(workspace.pk) is None
    with django_assert_num_queries(0):
        assert active_router(workspace.pk) is None


def test_a_router_whose_embeddings_no_longer_fit_routes_by_rules(workspace, editor, llm_server):
    """Stored for 10 dimensions, but the embedding model now gives 256: said, not crashed."""
    train, _held_out = split()
    params = fit(train, embedding_model=EMBEDDINGS).to_dict()
    _store(workspace, {**params, "embedding_weights": params["embedding_weights"][:10]})
    run = run_flow(workspace, editor, auto(HARD), "router")
    routing = Step.objects.get(run=run, node_id="ask").details["routing"]
    assert (run.status, routing["router"]) == ("succeeded", "baseline")
    assert (
        "the learned router was unavailable (the request's embedding has 256"
        in (routing["reasons"][-1])
    )


def test_an_inactive_router_and_learned_router_off_route_by_rules(workspace, editor, llm_server):
    _store(workspace, active=False)
    run = run_flow(workspace, editor, auto(HARD), "router")
    assert Step.objects.get(run=run, node_id="ask").details["routing"]["router"] == "baseline"
    _store(workspace, active=True)
    off = graph(
        [node("in", "input"), prompt("ask", HARD, model="auto", learned_router=False),
         node("out", "output")],
        [edge("in", "ask"), edge("ask", "out")],
    )  # fmt: skip
    run = run_flow(workspace, editor, off, "router")
    assert Step.objects.get(run=run, node_id="ask").details["routing"]["router"] == "baseline"


def test_the_sweeper_fits_a_router_once_enough_labels_exist(workspace, editor, llm_server):
    router_refit._last_check = 0.0
    refit_due_routers(None, background=False)
    assert not RouterModel.objects.exists()  # no labels yet
    _records(workspace, editor, llm_server)
    router_refit._last_check = 0.0
    assert refit_due_routers(None, background=False) == []
    # Said when it fails (it did once in CI, in a process that had run other tests first).
    why = (
        f"fitting lock held: {router_refit._fitting.locked()}; due now: "
        f"{router_refit._due_workspace()} (this test's: {workspace.pk}); routers: "
        f"{list(RouterModel.objects.values_list('workspace_id', flat=True))}; threads: "
        f"{sorted(t.name for t in threading.enumerate())}"
    )
    assert RouterModel.objects.filter(workspace=workspace).exists(), why
    assert RouterModel.objects.get(workspace=workspace).label_count == 12
    # Checked at most every ten minutes per process.
    RouterModel.objects.all().delete()
    refit_due_routers(None, background=False)
    assert not RouterModel.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_sweepers_refit_runs_beside_the_sweep(workspace, editor, llm_server):
    _records(workspace, editor, llm_server)
    router_refit._last_check = 0.0
    refit_due_routers(None)  # returns at once; the fit runs on its own thread
    for thread in [t for t in threading.enumerate() if t.name == "router-refit"]:
        thread.join(timeout=60)
    assert RouterModel.objects.get(workspace=workspace).label_count == 12


def test_a_tier_the_baseline_predicts_better_is_left_to_the_baseline(workspace, editor, llm_server):
    """Held out, the learned router did worse than the rules on the small tier's labels: it
    still routes, but whether a small model passes is the baseline's answer (it calls the
    policy question small), not the router's (P < 0.5, large)."""
    router = _store(workspace)
    router.metrics = {**router.metrics, "baseline_tiers": ["small"]}
    router.save()
    run = run_flow(workspace, editor, auto(HARD), "router")
    routing = Step.objects.get(run=run, node_id="ask").details["routing"]
    assert (routing["router"], routing["chose"]) == ("learned", SMALL)
    assert routing["probabilities"] == {"small": 1.0, "medium": 1.0, "large": 1.0}
    assert "the rules decide small" in routing["reasons"][0]


def test_the_tiers_left_to_the_baseline_are_those_it_predicted_better():
    tiers = {
        "large": {"labels": 30, "accuracy": 0.9, "baseline_accuracy": 0.97},
        "small": {"labels": 120, "accuracy": 0.85, "baseline_accuracy": 0.6},
        "medium": {"labels": 4, "accuracy": 0.5, "baseline_accuracy": 0.75},
    }
    assert tiers_by_rules(tiers) == ["medium", "large"]
    assert tiers_by_rules({"small": {"labels": 9, "accuracy": 0.7, "baseline_accuracy": 0.7}}) == []


def test_every_label_is_held_out_once_and_scored_per_tier(workspace, editor, llm_server):
    _records(workspace, editor, llm_server)
    router = router_train(workspace_id=workspace.pk)
    m = router.metrics
    assert m["held_out"] == 12 and m["folds"] == 5 and set(m["tiers"]) == {"small"}
    small = m["tiers"]["small"]
    assert small["labels"] == 12 and small["accuracy"] == m["accuracy"]
    # The rules call the policy question small: they get its 8 fails wrong.
    assert m["baseline_accuracy"] == round(4 / 12, 4) and m["accuracy"] > m["baseline_accuracy"]
    assert router.active and m["baseline_tiers"] == []


def test_a_tier_left_to_the_baseline_keeps_the_probabilities_non_decreasing():
    hard = RouteRequest(text="Calculate step by step and justify the plan: prove the theorem.")
    plain = RouteRequest(text="Where is my parcel?")
    assert score_request(hard)[0] >= 4 and score_request(plain)[0] < 2
    learned = {"small": 0.7, "medium": 0.8, "large": 0.9}
    # The rules put the hard request on large: small is 0, medium stays the router's.
    assert with_baseline_tiers(hard, learned, frozenset({"small"})) == {
        "small": 0.0,
        "medium": 0.8,
        "large": 0.9,
    }
    # The plain one is small by the rules: every stronger tier is at least 1 then.
    low = {"small": 0.2, "medium": 0.3, "large": 0.4}
    assert with_baseline_tiers(plain, low, frozenset({"small"})) == dict.fromkeys(low, 1.0)
