"""The sub-flow node without a database: its configuration, and the wait it asks for."""

import pytest
from pydantic import ValidationError

from builder.graph import validate_graph
from runs.engine.memory import MemoryRun
from runs.engine.nodes import NODE_TYPES
from runs.engine.nodes.flow import FlowConfig

from .fakes import FakeLlm, FakeTools
from .graphs import edge, graph, node


def subflow_graph(**config):
    return graph(
        [
            node("in", "input"),
            node("call", "flow", **config),
            node("out", "output", value="{{ nodes.call.output }}"),
        ],
        [edge("in", "call"), edge("call", "out")],
    )


def test_flow_node_is_registered_with_its_capability():
    node_type = NODE_TYPES["flow"]
    assert node_type.starts_child_run
    assert node_type.output_ports(None) == ["out", "error"]
    assert not NODE_TYPES["approval"].starts_child_run


@pytest.mark.parametrize(
    "config",
    [{}, {"flow": 0}, {"flow": "x"}, {"flow": 3, "version": 0}, {"flow": 3, "inputs": {"a": 1}}],
)
def test_flow_config_refuses_bad_values(config):
    with pytest.raises(ValidationError):
        FlowConfig.model_validate(config)


def test_flow_config_schema_drives_the_inspector():
    schema = FlowConfig.model_json_schema()
    assert schema["required"] == ["flow"]
    assert schema["properties"]["flow"]["title"] == "Flow id"
    assert "published" in schema["properties"]["flow"]["description"]


def test_flow_node_waits_for_a_child_run_with_rendered_inputs():
    doc = subflow_graph(
        flow=7, inputs={"topic": "{{ inputs.question }}", "words": "{{ inputs.question | length }}"}
    )
    assert validate_graph(doc) == []
    run = MemoryRun(doc, {"question": "why?"}, llm=FakeLlm(), tools=FakeTools())
    run.run()
    assert run.status == "waiting"
    inputs = {"topic": "why?", "words": 4}
    assert run.waits["call"] == {"flow": 7, "version": None, "inputs": inputs}
    step = next(s for s in run.steps if s.node_id == "call")
    assert step.status == "waiting"


def test_flow_node_template_reference_to_unknown_data_is_a_validation_error():
    errors = validate_graph(subflow_graph(flow=7, inputs={"topic": "{{ nodes.nope.output }}"}))
    assert [e.code for e in errors] == ["graph.E014"]


def test_flow_node_bad_template_at_run_time_fails_the_step():
    doc = subflow_graph(flow=7, inputs={"topic": "{{ inputs.question.missing.deeper }}"})
    run = MemoryRun(doc, {"question": "why?"}, llm=FakeLlm(), tools=FakeTools())
    run.run()
    assert run.status == "failed"
    step = next(s for s in run.steps if s.node_id == "call")
    assert step.status == "failed" and step.error_code == "template_error"
