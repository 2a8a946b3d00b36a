"""The shipped benchmark dataset: regenerated from its script it is the committed file, it has the
size and mix the benchmark claims, every near-duplicate repeats an earlier request's answer, and
how hard a request is for the scripted cheap model can be learned from its text."""

import json
import subprocess
import sys
from pathlib import Path

from bench.cost_cut import SYSTEM, TRAINING_SEED, extra_steps, failures
from bench.data.make_support_requests import OUT, generate, render
from runs.engine.learned_routing import Example, accuracy, fit
from runs.engine.routing import RouteRequest
from tests.llmserver import embed_text


def test_the_committed_dataset_is_what_the_script_generates():
    assert OUT.read_text() == render(generate(12))
    done = subprocess.run(
        [sys.executable, "-m", "bench.data.make_support_requests", "--check"],
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    assert done.returncode == 0


def test_the_dataset_mixes_difficulty_and_repeats_only_after_the_original():
    items = [json.loads(line) for line in OUT.read_text().splitlines()]
    assert len(items) >= 200
    tags = [set(item["tags"]) for item in items]
    assert sum("hard" in t for t in tags) >= 60 and sum("easy" in t for t in tags) >= 60
    seen: set[str] = set()
    for item, its_tags in zip(items, tags, strict=True):
        if "paraphrase" in its_tags:
            assert item["expected"] in seen, item
        else:
            seen.add(item["expected"])
    assert sum("paraphrase" in t for t in tags) >= 50


def _examples(items, failing):
    """Labels as a cheapest-first cascade gets them: the cheap (small) answer, and after a
    failure the strong (large) one."""
    examples = []
    for item in items:
        text = f"{SYSTEM}\n\n{item['inputs']['question']}"
        request = RouteRequest(text=text, max_tokens=400)
        how = failing.get(item["inputs"]["question"])
        embedding = embed_text(text)
        examples.append(Example(request, "small", how is None, embedding))
        if how is not None:
            examples.append(Example(request, "large", how != "both", embedding))
    return examples


def test_how_hard_a_request_is_shows_in_its_text():
    """Fitted on another seed's requests, labelled by the scripted cheap model's failures, the
    learned router tells which shipped requests the cheap model fails better than the baseline,
    and its P(the cheap model passes) falls with a hard request's extra steps."""
    items = [json.loads(line) for line in OUT.read_text().splitlines()]
    seen = {item["inputs"]["question"] for item in items}
    training = [i for i in generate(TRAINING_SEED) if i["inputs"]["question"] not in seen]
    params = fit(_examples(training, failures(training)), embedding_model="bench/embed")
    failing = failures(items)
    truth = [e for e in _examples(items, failing) if e.tier == "small"]
    learned, baseline = accuracy(params, truth), accuracy(None, truth)
    # About 88% is the ceiling: which hard requests fail at a given count of steps is chance.
    # Measured: 83.0% against the baseline's 72.3% (85% and 72% on the 222-request set).
    assert learned >= 0.82 and learned >= baseline + 0.1, (learned, baseline)
    by_steps: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for item, example in zip(items, truth, strict=True):
        if "hard" in item["tags"]:
            p = params.probabilities(example.request, example.embedding)["small"]
            by_steps[extra_steps(item)].append(p)
    means = [sum(ps) / len(ps) for ps in by_steps.values()]
    assert means[0] > means[1] > means[2] and means[0] - means[2] >= 0.3, means


def test_a_near_duplicate_fails_as_the_request_it_repeats(monkeypatch):
    """The scripted models get a hard near-duplicate (a greeting added) as wrong, the same way,
    as its original: a cache's replay loses no request a fresh call would have won. The old
    rule (its own text's hash) gave several pairs different fates on every set."""
    import bench.cost_cut as cost_cut

    for seed in (12, 14, 15):
        items = generate(seed)
        pairs = [
            (item["inputs"]["question"], cost_cut.original_of(item, items))
            for item in items
            if "hard" in item["tags"] and "paraphrase" in item["tags"]
        ]
        assert len(pairs) >= 10 and all(original for _q, original in pairs)
        failing = failures(items)
        assert any(original in failing for _q, original in pairs)
        assert all(failing.get(q) == failing.get(original) for q, original in pairs)
        monkeypatch.setattr(cost_cut, "INDEPENDENT_PARAPHRASES", True)
        old = failures(items)
        monkeypatch.setattr(cost_cut, "INDEPENDENT_PARAPHRASES", False)
        assert any(old.get(q) != old.get(original) for q, original in pairs)
