"""A map's region without a database: the graph an item runs, the item as the region's input,
the region's last node (or its Output) as the item's result, order and the failure policies."""

import pytest

from builder.graph import validate_graph
from runs.engine.graph import compile_graph
from runs.engine.memory import MemoryRun
from runs.engine.regions import ITEM_EDGE

from .fakes import FakeLlm, FakeLlmError, FakeTools
from .graphs import edge, graph, node

SCHEMA = {
    "type": "object",
    "properties": {"things": {"type": "array", "items": {"type": "string"}}, "city": {}},
}


def inside(node_id, type_, **config):
    return {**node(node_id, type_, **config), "parent": "each"}


def region_map(*extra_inside, extra_edges=(), **config):
    """Input -> map over inputs.things with price -> tidy inside -> Output of the results."""
    config.setdefault("items", "{{ inputs.things }}")
    return graph(
        [
            node("in", "input", schema=SCHEMA),
            node("each", "map", **config),
            inside("price", "prompt", prompt="Price {{ inputs.item }} in {{ inputs.city }}"),
            inside("tidy", "prompt", prompt="Tidy {{ nodes.price.output }}"),
            *extra_inside,
            node("out", "output", value="{{ nodes.each.output | join(',') }}"),
        ],
        [edge("in", "each"), edge("price", "tidy"), edge("each", "out"), *extra_edges],
    )


def echo(messages, kwargs):
    """Answer with the user message's last word, failing on "bad" items."""
    text = messages[-1]["content"]
    if "bad" in text.split()[1]:
        return FakeLlmError("provider_error", "the provider is down")
    return text.split()[1]


def run(document, things, **kwargs):
    llm = FakeLlm(echo)
    memory = MemoryRun(document, {"things": things, "city": "Oslo"}, llm=llm, tools=FakeTools())
    memory.run()
    return memory, llm


def test_the_flow_leaves_the_region_out_and_the_region_runs_alone():
    document = region_map()
    outer = compile_graph(document)
    assert set(outer.nodes) == {"in", "each", "out"}
    region = compile_graph(document, "each")
    assert set(region.nodes) == {"each", "price", "tidy"}
    assert region.nodes["each"].node_type.provides_inputs  # the map stands for the item's input
    assert [e.id for e in region.incoming["price"]] == [ITEM_EDGE.format(map="each")]
    assert region.result_node == "tidy"


def test_region_runs_each_item_with_the_item_as_input_and_keeps_the_order():
    memory, llm = run(region_map(), ["eggs", "flour", "milk"])
    assert memory.status == "succeeded", memory.outcome
    assert memory.outcome.result == {"result": "eggs,flour,milk"}
    prompts = [c["messages"][-1]["content"] for c in llm.calls]
    assert prompts[:2] == ["Price eggs in Oslo", "Tidy eggs"]
    assert len(memory.item_runs) == 3
    first = memory.item_runs[0]
    assert first.inputs == {"things": ["eggs", "flour", "milk"], "city": "Oslo", "item": "eggs"}
    assert [s.node_id for s in first.steps] == ["each", "price", "tidy"]


def test_map_inputs_and_item_input_name_reach_the_region():
    document = region_map(item_input="thing", inputs={"city": "{{ inputs.city | upper }}"})
    document["nodes"][2]["config"]["prompt"] = "Price {{ inputs.thing }} in {{ inputs.city }}"
    assert validate_graph(document) == []
    memory, llm = run(document, ["eggs"])
    assert memory.status == "succeeded"
    assert llm.calls[0]["messages"][-1]["content"] == "Price eggs in OSLO"


def test_region_output_node_names_the_item_result():
    document = region_map(
        inside("named", "output", name="price"), extra_edges=[edge("tidy", "named")]
    )
    document["nodes"][-1]["config"]["value"] = (
        "{{ nodes.each.output | map(attribute='price') | join(',') }}"
    )
    assert validate_graph(document) == []
    memory, _ = run(document, ["a", "b"])
    assert memory.outcome.result == {"result": "a,b"}


@pytest.mark.parametrize(
    ("policy", "status", "result"),
    [("fail", "failed", None), ("skip", "succeeded", {"result": "eggs,milk"})],
)
def test_a_failing_item_under_fail_and_skip(policy, status, result):
    memory, _ = run(region_map(on_item_failure=policy), ["eggs", "bad", "milk"])
    assert memory.status == status
    if result is not None:
        assert memory.outcome.result == result
    else:
        assert "Item 2 of 3 failed" in memory.outcome.error_message


def test_a_failing_item_under_collect_keeps_its_error_in_place():
    document = region_map(on_item_failure="collect")
    document["nodes"][-1]["config"]["value"] = (
        "{{ nodes.each.output | map(attribute='ok') | list }}"
    )
    memory, _ = run(document, ["eggs", "bad", "milk"])
    assert memory.outcome.result == {"result": "[True, False, True]"}


def test_fail_policy_starts_no_item_after_the_failure_when_one_at_a_time():
    memory, llm = run(region_map(concurrency=1), ["bad", "eggs", "milk"])
    assert memory.status == "failed"
    assert len(memory.item_runs) == 1
    assert len(llm.calls) == 1


def test_a_failed_map_takes_its_error_port_when_connected():
    document = region_map()
    document["nodes"].append(node("sorry", "output", name="problem"))
    document["edges"].append(edge("each", "sorry", "error"))
    assert validate_graph(document) == []
    memory, _ = run(document, ["bad"])
    assert memory.status == "succeeded"
    assert memory.outcome.result["problem"]["error"]["code"] == "provider_error"


def test_a_map_inside_a_map_runs_its_own_region_per_inner_item():
    inner = {**node("inner", "map", items="{{ inputs.item }}", item_input="word"), "parent": "each"}
    say = {**node("say", "prompt", prompt="Say {{ inputs.word }} now"), "parent": "inner"}
    document = graph(
        [
            node("in", "input", schema=SCHEMA),
            node("each", "map", items="{{ inputs.things }}"),
            inner,
            say,
            node("out", "output", name="words"),
        ],
        [edge("in", "each"), edge("each", "out")],
    )
    assert validate_graph(document) == []
    llm = FakeLlm(echo)
    memory = MemoryRun(document, {"things": [["a", "b"], ["c"]]}, llm=llm, tools=FakeTools())
    memory.run()
    assert memory.status == "succeeded", memory.outcome
    assert memory.outcome.result == {"words": [["a", "b"], ["c"]]}
    assert [c.graph.region for c in memory.item_runs] == ["each", "each"]
    assert [c.graph.region for c in memory.item_runs[0].item_runs] == ["inner", "inner"]
