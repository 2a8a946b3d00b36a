"""What automatic routing, the cascade and the semantic cache save, at what pass rate.

    .venv/bin/python -m bench.cost_cut [--modes always-strong,auto,cheapest-first,learned,…]
        [--training-seeds 1012,1013,…] [--jobs 3] [--dataset-seed N] [--scale 5]
        [--cheap-fails 0.1,0.35,0.6] [--silent 0.1]

Evaluates one support flow over bench/data/support_requests.jsonl (1,076 requests, the
generator's scale 5, see bench/data/make_support_requests.py; `--dataset-seed` evaluates the
generator's set for another seed instead, `--scale 1` the 222-request set of before) with the
evaluations app, once per mode: each mode is a published version of the same flow, so they also
show side by side on the compare page (`/evals/compare/?left=…&right=…`, printed). Every run is
real (run_start, the engine, the database, the openai SDK over HTTP)
against a scripted OpenAI-compatible server that plays:

- `bench/cheap` (small tier, $0.15 / $0.60 per million tokens): right on every easy and order
  request; on hard ones it fails a known fraction that grows with the request's extra steps
  (CHEAP_FAILS: 10%, 35%, 60% of those with 0, 1, 2 policy exceptions or distracting log lines,
  35% of all hard ones; which of them by a stable hash of the request): most of those failures
  are a hedge without a reference, which the flow's evaluator catches, and SILENT of them a
  confident wrong figure that it does not;
- `bench/strong` (large tier, 15 times the price): right except on STRONG_FAILS of the hard
  requests (a wrong figure, silently; the cheap model fails those too);
- `bench/embed`, the embedding model (the scripted server's hashed bag of words).

The flow: input → answer (prompt) → check (evaluator: the reply must cite a reference; on fail
it loops back once) → output. A mode is the answer node's configuration (MODES below): add one
to compare another routing. The `learned` modes (`learned`, and `learned-floor`,
`learned-floor-0.7` with a confidence floor) route with the workspace's learned router
(evals/router/), fitted before they run on a separate training set: the generator's requests
for a training seed minus every evaluated request, answered cheapest-first by the same scripted
models (each set fails its own known fraction of hard requests), labelled from those runs'
evaluator verdicts, evaluation results and cascade attempts, as a workspace's records label
them. Each training seed gets a workspace of its own (a router learns from every record of its
workspace, so the evaluated runs of one seed never train another's). The other modes switch
the learned router off and run once. Each mode starts with an empty semantic cache and an empty
embedding cache (it pays for every embedding it makes), so its figures do not depend on the
modes before it. `--jobs N` runs the training seeds after the first in up to N-1 child
processes, each with a database of its own (the same figures as one process).
Printed per mode: cost, pass rate (the dataset's `contains` scorer against the expected
answer), cost cut against the first mode, model calls per tier, escalations, cache hits and
wrong hits, whether each mode meets the issue's goal (GOAL_CUT, GOAL_POINTS); with several
training seeds a table of each learned mode per seed and on how many seeds it meets the goal;
what a router that knew each request's true chance on the cheap model would get (the bound
the scripted failures allow); and the router's decision time per call.

Current figures (docs/costs-and-evaluations.md, "A set five times larger"): the shipped set,
1,076 requests, training seeds 1012-1017, `--jobs 3`, SQLite, 2-core box at load 1.8-11 from
other work (44 minutes): always-strong 98.7%; `learned` cuts 65.0-71.3% at 97.4-98.3% and meets
the goal on 2 of 6 seeds, `learned-floor-0.7` cuts 58.6-65.0% at 97.9-98.6% and meets it on 5 of
6, `learned-floor` on 1 of 6; cheapest-first 78.5% at 96.9%, `auto` 43.1% at 98.7%; the bound
62.8% at 97.7% (1.02 points: the shipped set is the one of dataset seeds 12-21 where the bound
misses at scale 5; at scale 1 it missed on 4 of 10). Dataset seeds 13 and 14 (training seeds
1012-1014): `learned` 2 and 3 of 3, `learned-floor-0.7` 2 and 2 of 3. At the threshold 0.5 a
router loses about 0.7 points to silent failures it cannot see, so the band leaves 0.3 for its
own mistakes; the cut has room (the cache answers the long near-duplicates), which the floor 0.7
turns into pass rate. The scripted failure rates, the price and the router are unchanged.

Figures on the 222-request set (`--scale 1`), near-duplicates failing as their originals and the
semantic cache's figures rule: `learned` met the goal on 2, 5, 1, 6, 6 and 1 of 6 training seeds
for the shipped set and seeds 13-17; on seeds 14 and 17 not even the bound met it. Before those
changes (2-core box, SQLite, load average 5-10 from other work; the cuts and pass rates are
deterministic for a dataset and training seed), `learned` against always-strong, training
seeds 1012-1017:

    dataset          always-strong   learned: goal met on     cut / pass rate per seed
    shipped (12)     99.1%           6 of 6                   63.5-70.5% / 98.2-99.5%
    seed 13          99.1%           6 of 6                   66.2-69.5% / 98.1-98.6%
    seed 14          99.1%           0 of 6                   67.0-73.3% / 97.3-97.8%
    seed 15          99.1%           3 of 6                   65.0-69.6% / 97.2-98.1%

(with the cache-tier rule: a routed hit is served only from the routed tier or above; it
refuses a few right cheap answers and saves none of the wrong replays below, since a
near-duplicate routes like its original).

On seed 14 two of the three silent failures fall on requests with 0 and 1 extra steps, which
any router cutting 60% must send to the cheap model, and the semantic cache replays two wrong
answers onto near-duplicates: 4 lost requests where the band allows 2. The bound line (a router
that knew each request's true chance, no cache) meets the goal on all four sets: 64.1% / 98.6%,
63.4% / 98.6%, 64.8% / 98.2%, 62.8% / 99.1%. On seed 15 the cache costs two requests on every
training seed (a replayed wrong answer, and a wrong hit between two plan comparisons that differ
in two figures at similarity 0.99), and on three the router sends a silently failing two-step
request to the cheap model (docs/costs-and-evaluations.md, "The cost benchmark").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "support_requests.jsonl"
BENCH_DB = "switchboard_bench_cost"
#: Of the hard requests with 0, 1 and 2 extra steps, the share the cheap model fails (35% of
#: all hard requests, as many with each count): a small model fails more the more steps.
CHEAP_FAILS = (0.10, 0.35, 0.60)
SILENT = 0.10  # of the cheap model's failures: a wrong figure the evaluator cannot tell
STRONG_FAILS = 0.02  # of hard requests, silently (the cheap model fails those too)
#: Whether a near-duplicate fails by its own text's hash instead of as its original (failures).
INDEPENDENT_PARAPHRASES = False
PRICES = {
    "cheap": {"input": 0.15, "output": 0.60, "tier": "small", "context_window": 128_000},
    "strong": {"input": 2.25, "output": 9.00, "tier": "large", "context_window": 128_000},
    "embed": {"input": 0.02, "output": 0.0},
}
SYSTEM = (
    "You are the support desk of an online shop. Answer briefly and cite the knowledge-base "
    "article or the computed figure you relied on as 'Reference: …'."
)
CACHE = {"semantic_cache": True, "semantic_similarity": 0.99, "semantic_scope": "flow"}
#: Mode name → the answer node's configuration. The first mode is the baseline.
MODES: dict[str, dict[str, Any]] = {
    "always-strong": {"model": "bench/strong"},
    "auto": {
        "model": "auto",
        "candidates": ["bench/cheap", "bench/strong"],
        "cascade": True,
        **CACHE,
    },
    "cheapest-first": {
        "model": "auto",
        "candidates": ["bench/cheap", "bench/strong"],
        "cascade": True,
        "cascade_from": "cheapest",
        **CACHE,
    },
    # The workspace's learned router, fitted first on a separate training set (TRAINING_SEED):
    # the labels are that set's evaluation results and cascade attempts, as production gets them.
    "learned": {
        "model": "auto",
        "candidates": ["bench/cheap", "bench/strong"],
        "cascade": True,
        "learned_router": True,
        **CACHE,
    },
    # The same with a confidence floor: a tier must be predicted to pass with P ≥ 0.8.
    "learned-floor": {
        "model": "auto",
        "candidates": ["bench/cheap", "bench/strong"],
        "cascade": True,
        "learned_router": True,
        "confidence_floor": 0.8,
        **CACHE,
    },
    # A lower floor: P ≥ 0.7.
    "learned-floor-0.7": {
        "model": "auto",
        "candidates": ["bench/cheap", "bench/strong"],
        "cascade": True,
        "learned_router": True,
        "confidence_floor": 0.7,
        **CACHE,
    },
}
#: The issue's goal against the first mode: this much cheaper, at most this many points worse.
GOAL_CUT = 60.0
GOAL_POINTS = 1.0
#: Modes that route with the workspace's learned router (the others switch it off).
LEARNED = frozenset({"learned", "learned-floor", "learned-floor-0.7"})
#: The training set: the same generator with another seed, minus every evaluated request.
TRAINING_SEED = 1012
#: How the training set's runs are answered: cheapest first, escalating on a failed check, so
#: each label says how the cheap tier (and, after a failure, the strong one) did.
TRAINING_MODE = "cheapest-first"


def difficulty(question: str, salt: str = "") -> float:
    """A stable number in [0, 1) per request: the lowest are the ones models get wrong."""
    digest = hashlib.blake2b((salt + question).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def extra_steps(item: dict[str, Any]) -> int:
    """How many steps a hard request has beyond its two base ones (its `extra-steps-N` tag)."""
    for tag in item["tags"]:
        if tag.startswith("extra-steps-"):
            return int(tag.removeprefix("extra-steps-"))
    return 0


def original_of(item: dict[str, Any], items: list[dict[str, Any]]) -> str | None:
    """The request a near-duplicate repeats: the original with its expected answer whose text
    the paraphrase ends with (a greeting added, the first letter lowered), or None."""
    if "paraphrase" not in item["tags"]:
        return None
    question = item["inputs"]["question"]
    for other in items:
        text = other["inputs"]["question"]
        if (
            "paraphrase" not in other["tags"]
            and other["expected"] == item["expected"]
            and question.endswith(text[1:])
        ):
            return text
    return None


def failures(items: list[dict[str, Any]]) -> dict[str, str]:
    """Which hard requests each model gets wrong, by exact fractions: CHEAP_FAILS[n] of the hard
    requests with n extra steps (the lowest `difficulty` of them) fail on the cheap model; of
    those, STRONG_FAILS of all hard requests (the most steps first) fail on the strong one too,
    and SILENT of the rest (by another hash) are a confident wrong figure. Question → "both"
    (strong and cheap, silently), "silent" (cheap, a wrong figure) or "hedge" (cheap, no
    reference: the evaluator sees it).

    A near-duplicate of a hard request (a greeting added) is the same task: each model gets it
    as wrong, the same way, as the request it repeats; the originals' fates are those of the
    old rule (INDEPENDENT_PARAPHRASES: a near-duplicate failed by its own text's hash, so a
    fresh call usually got right what its original got wrong, and a cache's replay of the
    original's wrong answer lost a request no fresh call would)."""
    failing = _failures(items)
    if INDEPENDENT_PARAPHRASES:
        return failing
    for item in items:
        if "hard" in item["tags"] and "paraphrase" in item["tags"]:
            question, original = item["inputs"]["question"], original_of(item, items)
            if original is None:
                continue
            if original in failing:
                failing[question] = failing[original]
            else:
                failing.pop(question, None)
    return failing


def _failures(items: list[dict[str, Any]]) -> dict[str, str]:
    hard = [item for item in items if "hard" in item["tags"]]
    steps = {item["inputs"]["question"]: extra_steps(item) for item in hard}
    cheap: list[str] = []
    for level in sorted(set(steps.values())):
        questions = sorted((q for q, n in steps.items() if n == level), key=difficulty)
        rate = CHEAP_FAILS[min(level, len(CHEAP_FAILS) - 1)]
        cheap += questions[: round(len(questions) * rate)]
    cheap.sort(key=lambda q: (-steps[q], difficulty(q)))
    both = round(len(hard) * STRONG_FAILS)
    rest = sorted(cheap[both:], key=lambda q: difficulty(q, "silent"))
    silent = set(rest[: round(len(rest) * SILENT)])
    return {
        q: "both" if rank < both else "silent" if q in silent else "hedge"
        for rank, q in enumerate(cheap)
    }


def scripted_answer(item: dict[str, Any], model: str, failing: dict[str, str]) -> str:
    """What the scripted model answers `item` with."""
    expected, hard = item["expected"], "hard" in item["tags"]
    how = failing.get(item["inputs"]["question"])
    wrong = "Reference: KB-9999 (estimated 0.00)."
    steps = " ".join(f"Step {n}: apply the relevant policy to the figures given." for n in (1, 2))
    if how == "both" or (model == "cheap" and how == "silent"):
        return f"{steps} {wrong}"
    if model == "cheap" and how == "hedge":
        return "I am not sure about this one; please contact a specialist."
    body = f"{steps} " if hard else ""
    return f"{body}Thanks for asking. Here is what applies to you. Reference: {expected}."


def setup_environment(suffix: str = "") -> None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        base, _, _ = url.rpartition("/")
        name = BENCH_DB + suffix
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        os.environ["DATABASE_URL"] = f"{base}/{name}"
    else:
        os.environ["SQLITE_PATH"] = os.path.join(tempfile.mkdtemp(), "bench_cost.sqlite3")
    os.environ["REDIS_URL"] = ""
    os.environ["SWITCHBOARD_EXECUTOR"] = "inline"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "ERROR"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def training_items(
    evaluated: list[dict[str, Any]], seed: int, scale: int | None = None
) -> list[dict[str, Any]]:
    """The router's training requests: another seed's set (of the evaluated set's scale),
    without any evaluated request."""
    from bench.data.make_support_requests import SCALE, generate

    seen = {item["inputs"]["question"] for item in evaluated}
    return [
        item for item in generate(seed, scale or SCALE) if item["inputs"]["question"] not in seen
    ]


def start_models(items: list[dict[str, Any]], training: list[list[dict[str, Any]]]):
    from django.conf import settings

    from runs.services.ports import reset_llm_client
    from tests.llmserver import ScriptedLLM, last_user_message, text

    by_question = {item["inputs"]["question"]: item for s in [*training, items] for item in s}
    # Each set fails its own known fraction of hard requests.
    failing: dict[str, str] = {}
    for one in [*training, items]:
        failing.update(failures(one))
    server = ScriptedLLM().start()

    def answer(request: dict[str, Any]):
        item = by_question.get(last_user_message(request))
        if item is None:
            return text("I could not find that request.")
        return text(scripted_answer(item, request.get("model", ""), failing))

    server.on(lambda request: True, answer)
    settings.SWITCHBOARD_PROVIDERS = {
        "bench": {"base_url": server.base_url, "api_key_env": "", "models": PRICES}
    }
    settings.SWITCHBOARD_EMBEDDING_MODEL = "bench/embed"
    settings.SWITCHBOARD_DEFAULT_MODEL = "bench/cheap"
    reset_llm_client()
    return server


def flow_graph(answer: dict[str, Any]) -> dict[str, Any]:
    def node(node_id: str, type_: str, **config: Any) -> dict[str, Any]:
        return {"id": node_id, "type": type_, "label": node_id, "config": config}

    def edge(source: str, target: str, port: str = "out") -> dict[str, Any]:
        return {
            "id": f"{source}.{port}->{target}",
            "source": source,
            "source_port": port,
            "target": target,
            "target_port": "in",
        }

    schema = {"type": "object", "properties": {"question": {"type": "string"}}}
    rules = [
        {"kind": "regex", "value": r"Reference: \S", "message": "cite the reference"},
        {"kind": "not_contains", "value": "not sure", "message": "answer, do not hedge"},
    ]
    return {
        "schema_version": 1,
        "nodes": [
            node("in", "input", schema=schema),
            node(
                "answer",
                "prompt",
                system=SYSTEM,
                prompt="{{ inputs.question }}",
                max_tokens=400,
                temperature=0,
                **answer,
            ),
            node("check", "evaluator", rules=rules, max_attempts=2),
            node("out", "output", value="{{ nodes.answer.output }}"),
        ],
        "edges": [
            edge("in", "answer"),
            edge("answer", "check"),
            edge("check", "out", "pass"),
            edge("check", "answer", "fail"),
        ],
    }


def node_config(mode: str) -> dict[str, Any]:
    return {**MODES[mode], "learned_router": mode in LEARNED}


def train_router(user, workspace, items: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Evaluate a training flow over the training set, then fit the workspace's router."""
    from builder.models import Flow
    from evals.datasets import dataset_create, dataset_upload
    from evals.router import router_train

    content = "".join(json.dumps(item) + "\n" for item in items).encode()
    dataset = dataset_create(
        user=user, workspace_id=workspace.pk, name=f"Router training (seed {seed})"
    )
    dataset_upload(user=user, dataset=dataset, filename="training.jsonl", content=content)
    flow = Flow.objects.create(
        workspace=workspace, name="Support answers (training)", graph=flow_graph({})
    )
    result = evaluate(user, flow, dataset, TRAINING_MODE)
    router = router_train(workspace_id=workspace.pk)
    return {"result": result, "router": router}


def evaluate(user, flow, dataset, mode: str) -> dict[str, Any]:
    from builder.models import Flow
    from builder.services import flow_publish
    from evals.dispatch import drive_here
    from evals.services import evaluation_start, evaluation_summary
    from knowledge.embeddings import forget_recent
    from knowledge.models import Embedding
    from runs.models import SemanticCacheEntry

    # Each mode starts with an empty cache, and pays for every embedding it makes (the semantic
    # cache's and the learned router's): its figures do not depend on the modes before it, or
    # on which process ran them (--jobs).
    SemanticCacheEntry.objects.all().delete()
    Embedding.objects.all().delete()
    forget_recent()
    Flow.objects.filter(pk=flow.pk).update(graph=flow_graph(node_config(mode)))
    flow.refresh_from_db()
    version = flow_publish(flow=flow, user=user, note=f"bench: {mode}")
    started = time.perf_counter()
    evaluation = evaluation_start(
        user=user,
        flow=flow,
        dataset=dataset,
        version=version.number,
        scorers=[{"type": "contains"}],
        concurrency=1,  # in dataset order: a near-duplicate comes after what it repeats
    )
    if not drive_here(evaluation.pk, timeout=3600):
        raise SystemExit(f"evaluation {evaluation.pk} did not finish")
    evaluation.refresh_from_db()
    summary = evaluation_summary(evaluation)
    return {
        "evaluation": evaluation,
        "summary": summary,
        "seconds": time.perf_counter() - started,
        **step_figures(evaluation),
    }


def step_figures(evaluation) -> dict[str, Any]:
    """Model calls per model, escalations, and semantic cache hits (and wrong ones)."""
    from evals.models import EvaluationItem
    from runs.models import Recording, Step

    run_ids = list(evaluation.items.values_list("run_id", flat=True))
    calls: dict[str, int] = {}
    for request in Recording.objects.filter(step__run_id__in=run_ids, kind="llm").values_list(
        "response", flat=True
    ):
        model = request.get("model", "?")
        calls[model] = calls.get(model, 0) + 1
    answers = Step.objects.filter(run_id__in=run_ids, node_id="answer")
    escalated = answers.filter(iteration__gt=0).values("run_id").distinct().count()
    hits = list(
        answers.filter(details__semantic_cache__outcome="hit").values_list("run_id", "details")
    )
    expected = dict(
        EvaluationItem.objects.filter(evaluation=evaluation).values_list(
            "run_id", "dataset_item__expected"
        )
    )
    by_text = dict(
        EvaluationItem.objects.filter(evaluation=evaluation).values_list(
            "dataset_item__inputs__question", "dataset_item__expected"
        )
    )
    wrong = sum(
        1
        for run_id, details in hits
        if by_text.get(details["semantic_cache"]["matched"]) != expected.get(run_id)
    )
    return {"calls": calls, "escalated": escalated, "hits": len(hits), "wrong_hits": wrong}


def router_overhead(items: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Mean, p50 and p99 microseconds of one `route()` decision over the dataset's requests."""
    from runs.engine.routing import RouteRequest, route
    from runs.services.ports import workspace_catalogue

    catalogue = [m for m in workspace_catalogue(None) if m.name != "bench/embed"]
    requests = [
        RouteRequest(text=f"{SYSTEM}\n\n{item['inputs']['question']}", max_tokens=400)
        for item in items
    ]
    for request in requests:
        route(request, catalogue)
    timings = []
    for _ in range(20):
        for request in requests:
            began = time.perf_counter()
            route(request, catalogue)
            timings.append((time.perf_counter() - began) * 1e6)
    timings.sort()
    return statistics.mean(timings), timings[len(timings) // 2], timings[int(len(timings) * 0.99)]


def learned_overhead(workspace_id: int, items: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Mean, p50 and p99 microseconds of one learned decision as a step makes it: the router's
    database check, the request's cached embedding, P(pass) per tier and `route_learned`."""
    from evals.router import route_scores
    from runs.engine.learned_routing import route_learned
    from runs.engine.routing import RouteRequest, count_tokens
    from runs.services.ports import workspace_catalogue

    catalogue = [m for m in workspace_catalogue(workspace_id) if m.name != "bench/embed"]
    texts = [f"{SYSTEM}\n\n{item['inputs']['question']}" for item in items]
    requests = [RouteRequest(text=t, tokens=count_tokens(t), max_tokens=400) for t in texts]
    for request in requests:  # embeds the texts the runs did not route (cache hits)
        route_scores(workspace_id=workspace_id, request=request)
    timings = []
    for _ in range(5):
        for request in requests:
            began = time.perf_counter()
            scores = route_scores(workspace_id=workspace_id, request=request)
            if not scores or "probabilities" not in scores:
                return 0.0, 0.0, 0.0  # no active router
            route_learned(request, catalogue, scores["probabilities"])
            timings.append((time.perf_counter() - began) * 1e6)
    timings.sort()
    return statistics.mean(timings), timings[len(timings) // 2], timings[int(len(timings) * 0.99)]


def set_failure_rates(
    cheap_fails: tuple[float, ...], silent: float, independent_paraphrases: bool = False
) -> None:
    global CHEAP_FAILS, SILENT, INDEPENDENT_PARAPHRASES
    CHEAP_FAILS, SILENT = cheap_fails, silent
    INDEPENDENT_PARAPHRASES = independent_paraphrases


def workspace_with_dataset(user, slug: str, items: list[dict[str, Any]], first_mode: str):
    """A workspace of its own (a router learns from every record of its workspace), the
    evaluated dataset and the flow whose versions are the modes."""
    from builder.models import Flow
    from evals.datasets import dataset_create, dataset_upload
    from workspaces.models import Membership, Role, Workspace

    workspace = Workspace.objects.create(name=f"Bench {slug}", slug=slug)
    Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    dataset = dataset_create(user=user, workspace_id=workspace.pk, name="Support requests")
    content = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items).encode()
    report = dataset_upload(user=user, dataset=dataset, filename=DATA.name, content=content)
    flow = Flow.objects.create(
        workspace=workspace, name="Support answers", graph=flow_graph(node_config(first_mode))
    )
    return workspace, dataset, flow, report


def known_rate_bound(base: dict[str, Any], items: list[dict[str, Any]]) -> tuple[float, float]:
    """(cost cut %, pass rate) of a router that knew each request's true chance on the cheap
    model (1 - CHEAP_FAILS for its extra steps; 1 for easy and order requests) and sent it there
    at 0.5 or more, with the cascade and no cache: what the scripted failures allow a router,
    priced from the baseline's per-item costs (the cheap model costs 1/15 for the same tokens)."""
    from evals.models import EvaluationItem

    failing = failures(items)
    by_question = {item["inputs"]["question"]: item for item in items}
    ratio = PRICES["cheap"]["input"] / PRICES["strong"]["input"]
    total, spent, passed = 0.0, 0.0, 0
    rows = EvaluationItem.objects.filter(evaluation=base["evaluation"]).values_list(
        "dataset_item__inputs__question", "cost"
    )
    for question, cost in rows:
        item, strong = by_question[question], float(cost)
        how = failing.get(question)
        chance = 1 - CHEAP_FAILS[min(extra_steps(item), len(CHEAP_FAILS) - 1)]
        cheap = "hard" not in item["tags"] or chance >= 0.5
        total += strong
        spent += strong * ratio + (strong if cheap and how == "hedge" else 0) if cheap else strong
        passed += how != "both" and not (cheap and how == "silent")
    return (1 - spent / total) * 100 if total else 0.0, passed / len(rows) if rows else 0.0


def goal_met(result: dict[str, Any], base: dict[str, Any]) -> tuple[float, float, bool]:
    """(cost cut %, pass rate, whether both meet the goal) of a mode against the baseline."""
    base_cost = float(base["summary"]["cost"])
    cut = (1 - float(result["summary"]["cost"]) / base_cost) * 100 if base_cost else 0.0
    rate = result["summary"]["pass_rate"] or 0.0
    base_rate = base["summary"]["pass_rate"] or 0.0
    return cut, rate, cut >= GOAL_CUT and rate >= base_rate - GOAL_POINTS / 100 - 1e-9


def print_modes(results: dict[str, dict[str, Any]], base: dict[str, Any]) -> None:
    print(f"{'mode':<18}{'cost':>11}{'pass rate':>11}{'cost cut':>10}  details")
    for mode, r in results.items():
        cost = float(r["summary"]["cost"])
        cut, rate, _met = goal_met(r, base)
        calls = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
        print(
            f"{mode:<18}${cost:>10.5f}{rate:>10.1%}{cut:>9.1f}%  calls: {calls}; "
            f"escalated {r['escalated']}; cache hits {r['hits']} (wrong {r['wrong_hits']}); "
            f"{r['seconds']:.0f} s"
        )


def router_line(seed: int, training: list[dict[str, Any]], trained: dict[str, Any]) -> str:
    router, run = trained["router"], trained["result"]
    m = router.metrics
    by_rules = m.get("baseline_tiers") or []
    return (
        f"learned router (training seed {seed}): {len(training)} requests (none of them "
        f"evaluated), answered {TRAINING_MODE} for ${float(run['summary']['cost']):.5f}; "
        f"{router.label_count} labels "
        f"({', '.join(f'{k} {v}' for k, v in m.get('sources', {}).items())}); held-out "
        f"accuracy {m.get('accuracy', 0):.1%} vs the baseline's "
        f"{m.get('baseline_accuracy', 0):.1%} ({m.get('folds', 1)}-fold cross-validation); "
        f"active: {router.active}"
        + (f" (the rules decide {', '.join(by_rules)})" if by_rules else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, baseline first")
    parser.add_argument(
        "--cheap-fails",
        default=",".join(f"{r:g}" for r in CHEAP_FAILS),
        help="of hard requests with 0, 1, 2 extra steps",
    )
    parser.add_argument("--silent", type=float, default=SILENT, help="of the cheap failures")
    parser.add_argument(
        "--independent-paraphrases",
        action="store_true",
        help="a near-duplicate fails by its own text's hash, not as its original (the old rule)",
    )
    parser.add_argument(
        "--training-seeds",
        default=str(TRAINING_SEED),
        help="comma-separated: one router per seed, each in a workspace of its own",
    )
    parser.add_argument(
        "--dataset-seed",
        type=int,
        default=None,
        help="evaluate the generator's set for this seed instead of the shipped file (seed 12)",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=None,
        help="the generator's scale for the evaluated and training sets (1: the 222-request set)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes: training seeds after the first run in child processes, each with a "
        "database of its own (the figures are the same as one process's)",
    )
    parser.add_argument("--seed-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    set_failure_rates(
        tuple(float(r) for r in args.cheap_fails.split(",")),
        args.silent,
        args.independent_paraphrases,
    )
    seeds = [int(s) for s in args.training_seeds.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise SystemExit(f"unknown mode(s): {', '.join(unknown)}; known: {', '.join(MODES)}")
    learned_modes = [m for m in modes if m in LEARNED]
    if modes[0] in LEARNED:
        raise SystemExit("the first mode is the baseline: it may not be a learned one")
    setup_environment("" if args.seed_worker is None else f"_{args.seed_worker}")
    from django.contrib.auth import get_user_model

    items = evaluated_items(args.dataset_seed, args.scale)
    if args.seed_worker is not None:
        seed_worker(args.seed_worker, items, modes, learned_modes, args.scale)
        return
    children = (
        start_seed_workers(seeds[1:], args.jobs - 1) if args.jobs > 1 and learned_modes else None
    )
    local_seeds = seeds[:1] if children else seeds
    training = {seed: training_items(items, seed, args.scale) for seed in local_seeds}
    server = start_models(items, list(training.values()) if learned_modes else [])
    per_seed: dict[int, dict[str, Any]] = {}
    try:
        user = get_user_model().objects.create_user("bench", password="bench-pw-123")
        _space, dataset, flow, report = workspace_with_dataset(user, "bench", items, modes[0])
        tags: dict[str, int] = {}
        for item in items:
            for tag in item["tags"]:
                tags[tag] = tags.get(tag, 0) + 1
        print(
            f"dataset: {report.added} requests "
            f"({'seed ' + str(args.dataset_seed) if args.dataset_seed is not None else DATA.name}; "
            f"{', '.join(f'{k} {v}' for k, v in sorted(tags.items()))})"
        )
        print(
            "scripted models: cheap fails "
            f"{', '.join(f'{r:.0%}' for r in CHEAP_FAILS)} of hard requests with "
            f"{', '.join(str(n) for n in range(len(CHEAP_FAILS)))} extra steps ({SILENT:.0%} of "
            f"those silently), strong fails {STRONG_FAILS:.0%} of hard ones; strong costs "
            f"{PRICES['strong']['input'] / PRICES['cheap']['input']:.0f}x cheap"
        )
        results = {
            mode: evaluate(user, flow, dataset, mode) for mode in modes if mode not in LEARNED
        }
        learned_timing = None
        for seed in local_seeds if learned_modes else []:
            space, data, seed_flow, _report = workspace_with_dataset(
                user, f"bench-{seed}", items, modes[0]
            )
            trained = train_router(user, space, training[seed], seed)
            per_seed[seed] = {
                "line": router_line(seed, training[seed], trained),
                "router": trained["router"],
                "results": {m: evaluate(user, seed_flow, data, m) for m in learned_modes},
            }
            if learned_timing is None:
                learned_timing = learned_overhead(space.pk, items)
    finally:
        server.stop()
    if children:
        per_seed.update(children())
    base = results[modes[0]]
    first = per_seed[seeds[0]] if per_seed else None
    if first:
        print(first["line"])
    shown = {
        m: results[m] if m in results else first["results"][m]
        for m in modes
        if first or m in results
    }
    print_modes(shown, base)
    met = [mode for mode in modes[1:] if mode in shown and goal_met(shown[mode], base)[2]]
    base_rate = base["summary"]["pass_rate"] or 0.0
    print(
        f"goal (cut >= {GOAL_CUT:.0f}% at a pass rate within {GOAL_POINTS:g} point of "
        f"{modes[0]}'s {base_rate:.1%}): {'met by ' + ', '.join(met) if met else 'not met'}"
        + (f" (training seed {seeds[0]})" if first else "")
    )
    if len(per_seed) > 1:
        print_seed_table(per_seed, learned_modes, base)
    cut, rate = known_rate_bound(base, items)
    print(
        f"a router that knew each request's true chance on the cheap model (>= 0.5: cheap; "
        f"cascade, no cache): {cut:.1f}% cut at {rate:.1%}"
    )
    mean, p50, p99 = router_overhead(items)
    print(
        f"router decision: mean {mean:.0f} µs, p50 {p50:.0f} µs, p99 {p99:.0f} µs per call "
        "(bound 5,000 µs)"
    )
    if learned_timing is not None:
        mean, p50, p99 = learned_timing
        print(
            f"learned decision (database check, cached embedding, P(pass), choice): mean "
            f"{mean:.0f} µs, p50 {p50:.0f} µs, p99 {p99:.0f} µs per call (bound 5,000 µs)"
        )
    left = base["evaluation"].pk
    for mode in modes[1:]:
        if mode in results:
            right = results[mode]["evaluation"].pk
            print(f"compare page ({modes[0]} vs {mode}): /evals/compare/?left={left}&right={right}")
    where = os.environ.get("SQLITE_PATH") or os.environ["DATABASE_URL"]
    print(f"the evaluations stay in {where} (log in as bench / bench-pw-123 to browse them)")


def evaluated_items(dataset_seed: int | None, scale: int | None) -> list[dict[str, Any]]:
    """The shipped file, or the generator's set for a dataset seed (and scale)."""
    from bench.data.make_support_requests import SCALE, generate

    if dataset_seed is None and scale in (None, SCALE):
        return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return generate(12 if dataset_seed is None else dataset_seed, scale or SCALE)


def seed_worker(
    seed: int,
    items: list[dict[str, Any]],
    modes: list[str],
    learned_modes: list[str],
    scale: int | None,
) -> None:
    """A child process's part of --jobs: train one seed's router in a database of its own,
    evaluate the learned modes, print the figures as one JSON line."""
    from django.contrib.auth import get_user_model

    training = training_items(items, seed, scale)
    server = start_models(items, [training])
    try:
        user = get_user_model().objects.create_user("bench", password="bench-pw-123")
        space, data, flow, _report = workspace_with_dataset(user, f"bench-{seed}", items, modes[0])
        trained = train_router(user, space, training, seed)
        results = {m: evaluate(user, flow, data, m) for m in learned_modes}
    finally:
        server.stop()
    shown = {
        mode: {
            "summary": {
                "cost": str(r["summary"]["cost"]),
                "pass_rate": r["summary"]["pass_rate"],
            },
            **{k: r[k] for k in ("calls", "escalated", "hits", "wrong_hits", "seconds")},
        }
        for mode, r in results.items()
    }
    line = router_line(seed, training, trained)
    print("SEED " + json.dumps({"seed": seed, "line": line, "results": shown}), flush=True)


def start_seed_workers(seeds: list[int], jobs: int) -> Callable[[], dict[int, dict[str, Any]]]:
    """Run each seed's learned modes in a child process (at most `jobs` at once); return what
    waits for them: {seed: {"seed", "line", "results"}}."""
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    argv = list(sys.argv[1:])

    def one(seed: int) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "bench.cost_cut", *argv, "--seed-worker", str(seed)],
            capture_output=True,
            text=True,
            check=False,
        )
        for line in done.stdout.splitlines():
            if line.startswith("SEED "):
                return json.loads(line.removeprefix("SEED "))
        raise SystemExit(f"training seed {seed} failed:\n{done.stderr[-3000:]}")

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    futures = [pool.submit(one, seed) for seed in seeds]

    def collect() -> dict[int, dict[str, Any]]:
        found = [future.result() for future in futures]
        pool.shutdown()
        return {int(one["seed"]): one for one in found}

    return collect


def print_seed_table(
    per_seed: dict[int, dict[str, Any]], learned_modes: list[str], base: dict[str, Any]
) -> None:
    """One line per training seed: the router's held-out figures, each learned mode's cut and
    pass rate (✓ where it meets the goal), then how many seeds each mode meets it on."""
    for one in per_seed.values():
        print(one["line"])
    width = max(22, *(len(m) + 2 for m in learned_modes))
    print(f"{'training seed':<14}" + "".join(f"{m:>{width}}" for m in learned_modes))
    for seed, one in per_seed.items():
        cells = []
        for mode in learned_modes:
            cut, rate, met = goal_met(one["results"][mode], base)
            cells.append(f"{cut:.1f}% cut, {rate:.1%}{' ✓' if met else '  '}")
        print(f"{seed:<14}" + "".join(f"{c:>{width}}" for c in cells))
    counts = [
        sum(goal_met(one["results"][m], base)[2] for one in per_seed.values())
        for m in learned_modes
    ]
    print(
        "goal met on: "
        + ", ".join(
            f"{m} {n} of {len(per_seed)} seeds" for m, n in zip(learned_modes, counts, strict=True)
        )
    )


if __name__ == "__main__":
    main()
