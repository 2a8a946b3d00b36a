"""The prompt node's semantic cache on real runs: the similarity threshold's two sides, a changed
configuration, the time to live, flow and workspace scope, eviction when an evaluator fails the
answer (and, once an evaluation ends, when its dataset scorer did), and reproduction from the
recording. Models and embeddings are the scripted server's (its embeddings are a hashed bag of
words, so the similarity of two texts is known exactly)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from builder.models import Flow
from evals.datasets import dataset_create, dataset_upload
from evals.dispatch import drive
from evals.services import evaluation_advance, evaluation_cancel, evaluation_start
from runs.dispatch import kick_all
from runs.executor import InlineExecutor
from runs.models import Recording, SemanticCacheEntry, Step
from runs.services import run_start
from runs.services.reruns import run_reproduce
from tests.evals.support import jsonl
from tests.llmserver import embed_text, text, tool_call
from workspaces.models import Membership, Role

from .engine.graphs import edge, graph, node, prompt
from .support import fast_passwords, inline, memory_layer  # noqa: F401

pytestmark = pytest.mark.usefixtures("inline")

FIRST = "My parcel has not arrived yet, where is it?"
PARAPHRASE = "My parcel has not arrived, where is it now?"
OTHER = "How do I change the email address on my account?"
EMBEDDING_MODEL = "openai/text-embedding-3-small"


def similarity(a: str, b: str) -> float:
    return float(np.dot(embed_text(a), embed_text(b)))


@pytest.fixture(autouse=True)
def scripted_embeddings(llm_server, settings):
    settings.SWITCHBOARD_PROVIDERS = {"openai": settings.SWITCHBOARD_PROVIDERS["openai"]}
    settings.SWITCHBOARD_EMBEDDING_MODEL = EMBEDDING_MODEL


def cached_prompt(**config):
    settings = {
        "semantic_cache": True,
        "semantic_similarity": 0.9,
        "system": "You answer support mail.",
        **config,
    }
    return prompt("ask", "{{ inputs.question }}", **settings)


def single(**config):
    return graph(
        [node("in", "input"), cached_prompt(**config), node("out", "output")],
        [edge("in", "ask"), edge("ask", "out")],
    )


def judged(**config):
    """ask → an LLM judge (gpt-4o) → out on pass, `rejected` on fail (no loop)."""
    check = node("check", "evaluator", mode="llm", model="openai/gpt-4o", criteria="Helpful")
    return graph(
        [
            node("in", "input"),
            cached_prompt(**config),
            check,
            node("out", "output", name="answer"),
            node("rejected", "output", name="rejected"),
        ],
        [
            edge("in", "ask"),
            edge("ask", "check"),
            edge("check", "out", "pass"),
            edge("check", "rejected", "fail"),
        ],
    )


def verdicts(server, *scores: float) -> None:
    """The judge's answers, in order: one score per judged step."""
    queue = list(scores)
    server.on(
        lambda r: r.get("model") == "gpt-4o",
        lambda r: tool_call("submit_score", {"score": queue.pop(0), "feedback": "judged"}),
    )


def new_flow(workspace, document, name="support"):
    return Flow.objects.create(workspace=workspace, name=name, graph=document)


def run(flow, user, question):
    started = run_start(user=user, flow=flow, inputs={"question": question}, use_draft=True)
    InlineExecutor().advance(started.pk)
    started.refresh_from_db()
    assert started.status in ("succeeded", "failed"), started.error_message
    return started


def chat_calls(server, model="gpt-4o-mini") -> int:
    return sum(1 for r in server.requests if r.get("model") == model)


def answer(a_run):
    return ask_step(a_run).output


def ask_step(a_run) -> Step:
    return Step.objects.filter(run=a_run, node_id="ask").order_by("-iteration").first()


@pytest.mark.parametrize(("margin", "hits"), [(-0.005, True), (0.005, False)])
def test_a_paraphrase_hits_only_within_the_similarity(workspace, member, llm_server, margin, hits):
    user = member("editor")
    close = similarity(FIRST, PARAPHRASE)
    assert 0.6 < close < 0.99  # a near-duplicate, not the same text
    flow = new_flow(workspace, single(semantic_similarity=round(close + margin, 4)))
    first = run(flow, user, FIRST)
    assert answer(first) == f"Scripted reply: {FIRST}"
    assert ask_step(first).details["semantic_cache"]["outcome"] == "miss"
    second = run(flow, user, PARAPHRASE)
    step = ask_step(second)
    if hits:
        assert chat_calls(llm_server) == 1
        assert answer(second) == answer(first)
        assert step.cache_hit and step.cost == 0 and step.tokens_out == 0
        shown = step.details["semantic_cache"]
        assert shown["outcome"] == "hit" and shown["matched"] == FIRST
        assert shown["similarity"] == pytest.approx(close, abs=1e-4)
        assert step.details["cache_saved_cost"] == pytest.approx(float(ask_step(first).cost))
    else:
        assert chat_calls(llm_server) == 2
        assert answer(second) == f"Scripted reply: {PARAPHRASE}"
        assert not step.cache_hit and step.details["semantic_cache"]["outcome"] == "miss"


def test_an_unrelated_request_misses_and_each_answer_is_stored(workspace, member, llm_server):
    user = member("editor")
    flow = new_flow(workspace, single(semantic_similarity=0.5))
    assert similarity(FIRST, OTHER) < 0.5
    run(flow, user, FIRST)
    other = run(flow, user, OTHER)
    assert answer(other) == f"Scripted reply: {OTHER}"
    assert sorted(SemanticCacheEntry.objects.values_list("text", flat=True)) == sorted(
        [FIRST, OTHER]
    )
    # Each request was embedded once: storing after the miss re-read the embedding cache.
    assert sorted(llm_server.embedded_texts) == sorted([FIRST, OTHER])


PLAN = (
    "We are a company of {people} people. Compare the Pro plan ($9 per seat per month) with the "
    "Team plan (${base} per month plus $6 per seat). Calculate the yearly cost of each and "
    "justify which plan we should choose."
)


def test_a_close_request_with_other_figures_misses_and_says_why(
    workspace, member, llm_server, client
):
    user = member("editor")
    first, other = PLAN.format(people=35, base=60), PLAN.format(people=60, base=90)
    close = similarity(first, other)
    assert close > 0.95  # the embedding barely tells two figures apart in a long request
    flow = new_flow(workspace, single(semantic_similarity=0.9))
    earlier = run(flow, user, first)
    missed = ask_step(run(flow, user, other))
    assert not missed.cache_hit and chat_calls(llm_server) == 2
    assert missed.output != answer(earlier)
    shown = missed.details["semantic_cache"]
    assert shown["outcome"] == "miss"
    assert shown["other_figures"]["matched"] == first
    assert shown["other_figures"]["similarity"] == pytest.approx(close, abs=1e-4)
    client.force_login(user)
    body = client.get(f"/runs/{missed.run_id}/").content.decode()
    assert "data-step-semantic-figures" in body and "cache not used · other figures" in body
    # A near-duplicate with the same figures (a greeting added) still hits, the closest one with
    # its own figures even when a closer request has others.
    again = ask_step(run(flow, user, "Hi there, " + other))
    assert again.cache_hit and again.details["semantic_cache"]["matched"] == other
    assert again.output == missed.output and chat_calls(llm_server) == 2
    assert "other_figures" not in again.details["semantic_cache"]


def test_figures_match_whatever_their_thousands_separators_and_order():
    from runs.llm.semantic_cache import figures

    assert figures("refund $1,200.50 for 3 units") == figures("3 units, $1200.5 refunded")
    assert figures("order 48213") != figures("order 48231")
    assert figures("no numbers here") == []


def test_with_same_figures_off_a_close_request_with_other_figures_hits(
    workspace, member, llm_server
):
    user = member("editor")
    first, other = PLAN.format(people=35, base=60), PLAN.format(people=60, base=90)
    flow = new_flow(workspace, single(semantic_similarity=0.9, semantic_same_figures=False))
    earlier = run(flow, user, first)
    hit = ask_step(run(flow, user, other))
    assert hit.cache_hit and hit.details["semantic_cache"]["matched"] == first
    assert hit.output == answer(earlier)  # the other request's answer


@pytest.mark.parametrize(
    "change",
    [
        {"system": "You answer billing mail."},
        {"model": "openai/gpt-4.1-mini"},
        {"output_format": "json"},
        {"tools": ["calculator"]},
    ],
    ids=["system", "model", "output", "tools"],
)
def test_a_changed_configuration_misses(workspace, member, llm_server, change):
    user = member("editor")
    flow = new_flow(workspace, single())
    run(flow, user, FIRST)
    flow.graph = single(**change)
    flow.save()
    again = run(flow, user, FIRST)
    step = ask_step(again)
    assert not step.cache_hit
    assert step.details["semantic_cache"]["outcome"] == "miss"
    assert len(llm_server.requests) == 2
    # Other knobs (the threshold, the time to live) leave the fingerprint as it was.
    flow.graph = single(**change, semantic_similarity=0.95, semantic_ttl_seconds=600)
    flow.save()
    assert ask_step(run(flow, user, FIRST)).cache_hit


def test_an_answer_older_than_the_time_to_live_misses(workspace, member, llm_server):
    user = member("editor")
    flow = new_flow(workspace, single(semantic_ttl_seconds=3600))
    run(flow, user, FIRST)
    entry = SemanticCacheEntry.objects.get()
    entry.created_at = timezone.now() - timedelta(seconds=3500)
    entry.save()
    assert ask_step(run(flow, user, FIRST)).cache_hit
    entry.created_at = timezone.now() - timedelta(seconds=3601)
    entry.save()
    late = run(flow, user, FIRST)
    assert not ask_step(late).cache_hit
    assert chat_calls(llm_server) == 2
    # The fresh answer replaced the stale one.
    assert SemanticCacheEntry.objects.get().source_run_id == late.pk


def test_flow_scope_is_the_flows_own_and_workspace_scope_is_shared(
    workspace, other_workspace, member, llm_server
):
    user = member("editor")
    mine, sibling = new_flow(workspace, single()), new_flow(workspace, single(), "sibling")
    run(mine, user, FIRST)
    assert not ask_step(run(sibling, user, FIRST)).cache_hit  # flow scope: not shared

    shared = single(semantic_scope="workspace")
    writer, reader = new_flow(workspace, shared, "writer"), new_flow(workspace, shared, "reader")
    run(writer, user, OTHER)
    hit = ask_step(run(reader, user, OTHER))
    assert hit.cache_hit and hit.details["semantic_cache"]["matched"] == OTHER

    Membership.objects.create(workspace=other_workspace, user=user, role=Role.EDITOR)
    foreign = new_flow(other_workspace, shared, "foreign")
    assert not ask_step(run(foreign, user, OTHER)).cache_hit  # never across workspaces


def test_a_stored_answer_that_fails_its_evaluator_is_evicted(workspace, member, llm_server):
    user = member("editor")
    verdicts(llm_server, 0.1, 0.9)
    flow = new_flow(workspace, judged())
    rejected = run(flow, user, FIRST)
    assert set(rejected.result) == {"rejected"}
    assert ask_step(rejected).details["semantic_cache"]["stored"]
    assert not SemanticCacheEntry.objects.exists()
    again = run(flow, user, FIRST)  # not answered from the rejected answer
    assert not ask_step(again).cache_hit and chat_calls(llm_server) == 2
    assert SemanticCacheEntry.objects.count() == 1


def test_a_cached_answer_that_fails_its_evaluator_is_evicted(workspace, member, llm_server):
    user = member("editor")
    verdicts(llm_server, 0.9, 0.2, 0.9)
    flow = new_flow(workspace, judged(semantic_similarity=0.6))
    run(flow, user, FIRST)
    stored = SemanticCacheEntry.objects.get()
    served = run(flow, user, PARAPHRASE)
    step = ask_step(served)
    assert step.cache_hit and step.details["semantic_cache"]["entry"] == stored.pk
    assert set(served.result) == {"rejected"}
    assert not SemanticCacheEntry.objects.filter(pk=stored.pk).exists()
    third = run(flow, user, PARAPHRASE)
    assert not ask_step(third).cache_hit and chat_calls(llm_server) == 2


def test_a_hit_failing_the_nodes_own_checks_is_evicted_and_the_model_asked(
    workspace, member, llm_server
):
    user = member("editor")
    checks = [{"kind": "contains", "value": "tracking", "message": "give the tracking link"}]
    flow = new_flow(workspace, single(semantic_similarity=0.6))
    run(flow, user, FIRST)
    flow.graph = single(semantic_similarity=0.6, escalate_on=checks)
    flow.save()
    llm_server.script(text("Here is your tracking link."))
    second = run(flow, user, PARAPHRASE)
    assert answer(second) == "Here is your tracking link."
    assert ask_step(second).details["semantic_cache"]["outcome"] == "evicted"
    assert list(SemanticCacheEntry.objects.values_list("text", flat=True)) == [PARAPHRASE]


def test_sent_back_by_an_evaluator_the_node_asks_the_model(workspace, member, llm_server):
    user = member("editor")
    loop = graph(
        [
            node("in", "input"),
            cached_prompt(),
            node(
                "check",
                "evaluator",
                rules=[{"kind": "contains", "value": "tracking", "message": "a link"}],
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
    llm_server.script(text("It is on its way."), text("Your tracking link: t.example/1"))
    done = run(new_flow(workspace, loop), user, FIRST)
    assert done.status == "succeeded" and chat_calls(llm_server) == 2
    assert ask_step(done).details["semantic_cache"]["outcome"] == "skipped"
    # The rejected first answer went; the accepted one is what the cache keeps.
    assert list(SemanticCacheEntry.objects.values_list("output", flat=True)) == [
        "Your tracking link: t.example/1"
    ]


def test_a_reproduction_answers_from_the_recorded_lookups(workspace, member, llm_server):
    user = member("editor")
    flow = new_flow(workspace, single(semantic_similarity=0.6))
    miss = run(flow, user, FIRST)
    hit = run(flow, user, PARAPHRASE)
    assert ask_step(hit).cache_hit
    assert Recording.objects.filter(step=ask_step(hit), kind="semantic").count() == 1
    SemanticCacheEntry.objects.all().delete()  # whatever the cache holds now
    calls, embedded = len(llm_server.requests), len(llm_server.embedded_texts)
    for original in (miss, hit):
        copy = run_reproduce(user=user, run=original)
        InlineExecutor().advance(copy.pk)
        copy.refresh_from_db()
        assert copy.status == "succeeded" and answer(copy) == answer(original)
        assert ask_step(copy).cache_hit == ask_step(original).cache_hit
    assert (len(llm_server.requests), len(llm_server.embedded_texts)) == (calls, embedded)
    assert not SemanticCacheEntry.objects.exists()  # a reproduction stores nothing


def test_an_embedding_failure_is_a_miss_not_a_failure(workspace, member, llm_server):
    from tests.llmserver import http_error

    user = member("editor")
    llm_server.script_embeddings(http_error(400))
    done = run(new_flow(workspace, single()), user, FIRST)
    assert done.status == "succeeded" and chat_calls(llm_server) == 1
    assert "embedded" in ask_step(done).details["semantic_cache_error"]


def test_the_run_page_shows_what_a_hit_matched(workspace, member, llm_server, client):
    user = member("editor")
    flow = new_flow(workspace, single(semantic_similarity=0.6))
    run(flow, user, FIRST)
    hit = run(flow, user, PARAPHRASE)
    client.force_login(user)
    page = client.get(f"/runs/{hit.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "data-step-semantic" in body and FIRST[:30] in body
    assert f"{similarity(FIRST, PARAPHRASE):.2f}" in body


@pytest.mark.django_db(transaction=True)
def test_an_evaluation_evicts_the_answers_it_failed_only_once_it_ends(
    workspace, member, llm_server
):
    """A dataset scorer's fail evicts the cached answer when the evaluation ends: a later item
    of the same evaluation is still answered from it (the expected answers never steer what the
    evaluated flow answers), a run after it is not. Passed answers stay."""
    user = member("editor")
    flow = new_flow(workspace, single(semantic_similarity=0.6))
    dataset = dataset_create(user=user, workspace_id=workspace.pk, name="Parcels")
    rows = [
        {"inputs": {"question": FIRST}, "expected": "tracking link"},
        {"inputs": {"question": PARAPHRASE}, "expected": "tracking link"},
        {"inputs": {"question": OTHER}, "expected": "Scripted reply"},
    ]
    dataset_upload(user=user, dataset=dataset, filename="parcels.jsonl", content=jsonl(rows))
    evaluation = evaluation_start(
        user=user,
        flow=flow,
        dataset=dataset,
        use_draft=True,
        scorers=[{"type": "contains"}],
        concurrency=1,
    )
    drive(evaluation.pk)
    items = list(evaluation.items.select_related("run").order_by("position"))
    assert [i.status for i in items] == ["failed", "failed", "passed"]
    first_entry = ask_step(items[0].run).details["semantic_cache"]["stored"]
    served = ask_step(items[1].run)
    assert served.cache_hit and served.details["semantic_cache"]["entry"] == first_entry
    assert list(SemanticCacheEntry.objects.values_list("text", flat=True)) == [OTHER]
    calls = chat_calls(llm_server)
    after = run(flow, user, PARAPHRASE)
    assert not ask_step(after).cache_hit and chat_calls(llm_server) == calls + 1


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_evaluation_evicts_what_it_had_failed(workspace, member, llm_server):
    user = member("editor")
    flow = new_flow(workspace, single())
    dataset = dataset_create(user=user, workspace_id=workspace.pk, name="Parcels")
    rows = [
        {"inputs": {"question": FIRST}, "expected": "tracking link"},
        {"inputs": {"question": OTHER}, "expected": "Scripted reply"},
    ]
    dataset_upload(user=user, dataset=dataset, filename="parcels.jsonl", content=jsonl(rows))
    evaluation = evaluation_start(
        user=user,
        flow=flow,
        dataset=dataset,
        use_draft=True,
        scorers=[{"type": "contains"}],
        concurrency=1,
    )
    kick_all(evaluation_advance(evaluation_id=evaluation.pk))  # the first item runs
    evaluation_advance(evaluation_id=evaluation.pk)  # scored (failed); the second one starts
    assert SemanticCacheEntry.objects.filter(text=FIRST).exists()
    evaluation_cancel(user=user, evaluation=evaluation)
    assert [i.status for i in evaluation.items.order_by("position")] == ["failed", "cancelled"]
    assert not SemanticCacheEntry.objects.filter(text=FIRST).exists()


EASY = "What is the capital of France?"
EASY_AGAIN = "What is the capital city of France?"
HARD = (
    "What is the capital of France? Prove it step by step, calculate 3x + 5 = 20, then "
    "implement it."
)
HARD_AGAIN = (
    "What is the capital of France? Prove it step by step, calculate 2x + 5 = 20, then "
    "implement it in code."
)
SMALL_MODEL, LARGE_MODEL = "gpt-4o-mini", "gpt-4o"


def routed(**config):
    """An `auto` prompt whose requests all match each other (the baseline router tells them
    apart: EASY… go small, HARD… go large). Their figures differ (HARD has some, EASY none), so
    the figures rule is off: these tests are about the tier rule alone."""
    assert min(similarity(a, b) for a in (EASY, EASY_AGAIN) for b in (HARD, HARD_AGAIN)) > 0.58
    return single(model="auto", semantic_similarity=0.58, semantic_same_figures=False, **config)


def test_a_cheap_tiers_answer_is_not_served_to_a_request_routed_higher(
    workspace, member, llm_server, client
):
    user = member("editor")
    flow = new_flow(workspace, routed())
    easy = run(flow, user, EASY)
    assert ask_step(easy).details["routing"]["tier"] == "small"
    hard = run(flow, user, HARD)
    step = ask_step(hard)
    shown = step.details["semantic_cache"]
    assert shown["outcome"] == "refused" and shown["matched"] == EASY
    assert shown["cached_tier"] == "small" and shown["routed_tier"] == "large"
    assert f"openai/{SMALL_MODEL} (small)" in shown["reason"]
    assert answer(hard) == f"Scripted reply: {HARD[:60]}" and not step.cache_hit
    assert chat_calls(llm_server, LARGE_MODEL) == 1 and step.details["routing"]["tier"] == "large"
    assert SemanticCacheEntry.objects.get(pk=shown["stored"]).model == f"openai/{LARGE_MODEL}"
    # The cheap answer stays for requests routed as low as it.
    assert SemanticCacheEntry.objects.filter(text=EASY).exists()
    again = run(flow, user, EASY_AGAIN)
    assert ask_step(again).details["semantic_cache"]["outcome"] == "hit"
    assert answer(again) == answer(easy) and chat_calls(llm_server, SMALL_MODEL) == 1
    client.force_login(user)
    body = client.get(f"/runs/{hard.pk}/").content.decode()
    assert "data-step-semantic-refused" in body and "small answer, routed large" in body
    # A reproduction refuses the recorded hit again and answers from the recorded model call.
    calls = len(llm_server.requests)
    copy = run_reproduce(user=user, run=hard)
    InlineExecutor().advance(copy.pk)
    copy.refresh_from_db()
    assert copy.status == "succeeded" and answer(copy) == answer(hard)
    assert ask_step(copy).details["semantic_cache"]["outcome"] == "refused"
    assert len(llm_server.requests) == calls


def test_a_strong_tiers_answer_is_served_to_requests_routed_to_any_tier(
    workspace, member, llm_server
):
    user = member("editor")
    flow = new_flow(workspace, routed())
    hard = run(flow, user, HARD)
    assert ask_step(hard).details["routing"]["tier"] == "large"
    for question, tier in ((HARD_AGAIN, "large"), (EASY, "small")):
        step = ask_step(run(flow, user, question))
        shown = step.details["semantic_cache"]
        assert shown["outcome"] == "hit" and shown["routed_tier"] == tier
        assert step.output == answer(hard) and step.cache_hit
        assert step.model == f"openai/{LARGE_MODEL}"
    assert chat_calls(llm_server, LARGE_MODEL) == 1 and chat_calls(llm_server, SMALL_MODEL) == 0
