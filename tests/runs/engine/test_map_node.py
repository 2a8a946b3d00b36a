"""The map node without a database: its configuration, the wait it asks for, and the bookkeeping
of its items (order, concurrency, the three failure policies)."""

import random

import pytest
from pydantic import ValidationError

from builder.graph import validate_graph
from runs.engine.memory import MemoryRun
from runs.engine.nodes import NODE_TYPES
from runs.engine.nodes.map import MapConfig, MapProgress

from .fakes import FakeLlm, FakeTools
from .graphs import edge, graph, node

LIST_SCHEMA = {
    "type": "object",
    "properties": {"things": {"type": "array", "items": {"type": "string"}}, "city": {}},
}


def map_graph(**config):
    config.setdefault("flow", 7)
    return graph(
        [
            node("in", "input", schema=LIST_SCHEMA),
            node("each", "map", **config),
            node("out", "output", value="{{ nodes.each.output }}"),
        ],
        [edge("in", "each"), edge("each", "out")],
    )


def run_map(inputs, **config):
    run = MemoryRun(map_graph(**config), inputs, llm=FakeLlm(), tools=FakeTools())
    run.run()
    return run


def test_map_node_is_registered_with_its_capabilities():
    node_type = NODE_TYPES["map"]
    assert node_type.starts_child_run and node_type.runs_per_item
    assert node_type.output_ports(None) == ["out", "error"]
    assert not NODE_TYPES["flow"].runs_per_item
    assert "each item" in node_type.help()


@pytest.mark.parametrize(
    "config",
    [
        {"flow": 0},
        {"flow": 3, "concurrency": 0},
        {"flow": 3, "concurrency": 51},
        {"flow": 3, "on_item_failure": "ignore"},
        {"flow": 3, "item_input": "not a name"},
        {"flow": 3, "inputs": {"a": 1}},
    ],
)
def test_map_config_refuses_bad_values(config):
    with pytest.raises(ValidationError):
        MapConfig.model_validate(config)


def test_map_waits_for_one_child_per_item_with_the_item_mapped():
    doc = map_graph(
        items="{{ inputs.things }}",
        item_input="ingredient",
        inputs={"city": "{{ inputs.city }}"},
        concurrency=2,
        on_item_failure="skip",
    )
    assert validate_graph(doc) == []
    run = MemoryRun(
        doc, {"things": ["eggs", "flour"], "city": "Oslo"}, llm=FakeLlm(), tools=FakeTools()
    )
    run.run()
    assert run.status == "waiting"
    assert run.waits["each"] == {
        "flow": 7,
        "version": None,
        "items": [
            {"city": "Oslo", "ingredient": "eggs"},
            {"city": "Oslo", "ingredient": "flour"},
        ],
        "concurrency": 2,
        "on_item_failure": "skip",
    }


def test_map_over_an_empty_list_succeeds_at_once_with_no_results():
    run = run_map({"things": []}, items="{{ inputs.things }}")
    assert run.status == "succeeded"
    assert next(s for s in run.steps if s.node_id == "each").output == []


@pytest.mark.parametrize(
    ("value", "kind"), [("{{ inputs.city }}", "text"), ("{{ {'a': 1} }}", "an object")]
)
def test_map_items_that_are_not_a_list_fail_the_step_with_a_typed_error(value, kind):
    run = run_map({"things": [], "city": "Oslo"}, items=value)
    step = next(s for s in run.steps if s.node_id == "each")
    assert step.status == "failed" and step.error_code == "map_not_a_list"
    assert f"gave {kind}" in step.error_message


def test_map_items_template_known_not_to_be_a_list_is_a_validation_error():
    errors = validate_graph(map_graph(items="{{ inputs.things | length }} things"))
    assert [e.code for e in errors] == ["graph.E023"]


def test_map_output_shape_is_checked_downstream():
    doc = map_graph(items="{{ inputs.things }}", on_item_failure="collect")
    doc["nodes"][2]["config"]["value"] = "{{ nodes.each.output[0].answer }}"
    assert [e.code for e in validate_graph(doc)] == ["graph.E022"]
    doc["nodes"][2]["config"]["value"] = "{{ nodes.each.output[0].ok }}"
    assert validate_graph(doc) == []


def drive(progress, outcomes, seed):
    """Finish running items in a random order; return the decisions and the peak concurrency."""
    rng = random.Random(seed)
    decision = progress.begin()
    starts = list(decision.start)
    peak, next_id = 0, 100
    for index in decision.start:
        progress.started(index, next_id + index)
    while decision.status is None:
        peak = max(peak, len(progress.running))
        index = rng.choice(sorted(progress.running))
        ok, value = outcomes[index]
        if ok:
            decision = progress.finished(index, ok=True, output=value)
        else:
            decision = progress.finished(index, ok=False, error={"code": "boom", "message": value})
        for new in decision.start:
            progress.started(new, next_id + new)
            starts.append(new)
    return decision, peak, starts


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("concurrency", [1, 2, 3, 10])
def test_map_results_keep_the_input_order_under_any_finishing_order(seed, concurrency):
    outcomes = [(True, f"price {i}") for i in range(7)]
    progress = MapProgress(total=7, concurrency=concurrency)
    decision, peak, starts = drive(progress, outcomes, seed)
    assert decision.status == "succeeded"
    assert decision.output == [f"price {i}" for i in range(7)]
    assert peak == min(concurrency, 7)  # never more at once, and the limit is used
    assert starts == list(range(7))  # items start in order, each once


def test_map_fail_policy_fails_on_the_first_failed_item_and_cancels_the_rest():
    progress = MapProgress(total=5, concurrency=3, policy="fail")
    for index in progress.begin().start:
        progress.started(index, 10 + index)
    progress.finished(0, ok=True, output="a")
    progress.started(3, 13)
    decision = progress.finished(1, ok=False, error={"code": "refusal", "message": "no"})
    assert decision.status == "failed" and decision.error_code == "refusal"
    assert decision.error_message == "Item 2 of 5 failed: no"
    assert decision.cancel == [2, 3] and decision.start == []
    assert progress.running == {} and progress.index_of(12) is None


def test_map_skip_policy_leaves_failed_items_out():
    outcomes = [(True, "a"), (False, "x"), (True, "c"), (False, "y")]
    decision, _, _ = drive(MapProgress(total=4, concurrency=2, policy="skip"), outcomes, 1)
    assert decision.status == "succeeded" and decision.output == ["a", "c"]


def test_map_collect_policy_gives_each_item_ok_with_output_or_error():
    outcomes = [(True, "a"), (False, "x"), (True, "c")]
    decision, _, _ = drive(MapProgress(total=3, concurrency=3, policy="collect"), outcomes, 2)
    assert decision.status == "succeeded"
    assert decision.output == [
        {"ok": True, "output": "a"},
        {"ok": False, "error": {"code": "boom", "message": "x"}},
        {"ok": True, "output": "c"},
    ]


def test_map_progress_survives_its_json_round_trip():
    progress = MapProgress(total=4, concurrency=2, policy="collect")
    for index in progress.begin().start:
        progress.started(index, 50 + index)
    progress.finished(1, ok=True, output={"p": 1})
    again = MapProgress.from_json(progress.to_json())
    assert again == progress and again.index_of(50) == 0


def test_map_abort_stops_everything_running():
    progress = MapProgress(total=4, concurrency=2)
    for index in progress.begin().start:
        progress.started(index, index + 1)
    decision = progress.abort("budget_exceeded", "spent")
    assert (decision.status, decision.cancel) == ("failed", [0, 1])
    assert progress.begin().start == []
