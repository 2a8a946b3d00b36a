"""A contract every registered node type must keep."""

import json

import jsonschema
import pytest
from pydantic import ValidationError

from runs.engine.context import NodeContext
from runs.engine.nodes import NODE_TYPES, NodeResult
from runs.engine.nodes.base import NodeConfig, NodeError
from runs.engine.shapes import ToolShape

from .fakes import FakeLlm, FakeResponse, FakeTools, tool_call

# A minimal valid config per type: the contract test fails when a type is added without one.
MINIMAL = {
    "input": {"schema": {"type": "object", "properties": {"name": {"type": "string"}}}},
    "prompt": {"prompt": "Say hi to {{ inputs.name }}"},
    "tool": {"tool": "echo", "arguments": {"text": "{{ inputs.name }}"}},
    "router": {
        "routes": [
            {
                "name": "yes",
                "conditions": [{"field": "inputs.name", "operator": "equals", "value": "Ada"}],
            }
        ]
    },
    "evaluator": {"rules": [{"kind": "min_length", "value": 1}]},
    "approval": {"show": ["inputs.name"]},
    "flow": {"flow": 1, "inputs": {"name": "{{ inputs.name }}"}},
    "map": {"flow": 1, "items": "{{ [inputs.name] }}", "item_input": "name"},
    "output": {},
    "retrieve": {"query": "{{ inputs.name }}", "knowledge_bases": ["Handbook"]},
    "memory": {"query": "{{ inputs.name }}", "token_budget": 500},
    "agent": {"goal": "Greet {{ inputs.name }}"},
}


def reply(messages, kwargs):
    choice = kwargs.get("tool_choice")
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        return tool_call(name, route="otherwise", reason="r", score=1, feedback="f")
    return FakeResponse(content="hello")


@pytest.fixture(params=sorted(NODE_TYPES))
def node_type(request):
    return NODE_TYPES[request.param]


def test_contract_every_type_has_a_minimal_config(node_type):
    assert node_type.type in MINIMAL, f"add a minimal config for {node_type.type}"


def test_contract_metadata(node_type):
    assert node_type.type.isidentifier() and node_type.type == node_type.type.lower()
    assert node_type.label and node_type.category
    assert len(node_type.help()) > 20, "the docstring is the palette help"
    assert issubclass(node_type.Config, NodeConfig)
    names = [p.name for p in node_type.inputs] + node_type.output_ports(None)
    assert len(names) == len(set(names))


def test_contract_config_schema_round_trip(node_type):
    config = node_type.Config.model_validate(MINIMAL[node_type.type])
    dumped = json.loads(config.model_dump_json(by_alias=True))
    assert node_type.Config.model_validate(dumped) == config
    schema = node_type.Config.model_json_schema()
    assert schema["type"] == "object"
    assert set(dumped) <= set(schema["properties"])


def test_contract_config_refuses_unknown_fields(node_type):
    with pytest.raises(ValidationError):
        node_type.Config.model_validate({**MINIMAL[node_type.type], "surprise": 1})


def test_contract_run_with_fake_context(node_type):
    config = node_type.Config.model_validate(MINIMAL[node_type.type])
    ctx = NodeContext(
        node_id="n",
        node_type=node_type.type,
        config=config,
        iteration=0,
        run_inputs={"name": "Ada"},
        variables={"inputs": {"name": "Ada"}, "nodes": {}, "feedback": "", "iteration": 0},
        llm=FakeLlm(reply),
        tools=FakeTools(echo=lambda args: {"echo": args["text"]}),
    )
    try:
        result = node_type().run(ctx, {"in": "upstream value"})
    except NodeError as exc:  # allowed, but only as a typed, readable failure
        assert exc.code and exc.message
        return
    assert isinstance(result, NodeResult)
    json.dumps(result.output)  # outputs are JSON data
    ports = node_type.output_ports(config)
    assert result.ports is None or set(result.ports) <= set(ports) | {"retry"}
    if result.wait is not None:
        # Only a person's decision or a child run may pause a run; the wait is stored as JSON.
        assert node_type.type == "approval" or node_type.starts_child_run
        json.dumps(result.wait)
        return  # a waiting step's output comes when it resumes
    # What the type declares about its output is what it produces (validation relies on it).
    jsonschema.validate(result.output, node_type.output_schema(config, ContractScope()))


class ContractScope:
    """The design scope of the contract run: the incoming text, the echo tool, any path."""

    def incoming(self, port):
        return {"type": "string"}

    def value(self, template):
        return {}

    def path(self, path):
        return {"type": "string"} if path == "inputs.name" else {}

    def names(self):
        return {}

    def tool(self, name):
        echo = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
        return ToolShape(parameters={"type": "object"}, result=echo) if name == "echo" else None


@pytest.mark.parametrize(
    ("type_", "config"),
    [
        ("evaluator", {"rules": [{"kind": "regex", "value": "(unclosed"}]}),
        ("evaluator", {"rules": [{"kind": "json_schema", "value": {"type": "nonsense"}}]}),
        ("evaluator", {"rules": [{"kind": "min_length", "value": "ten"}]}),
        (
            "router",
            {
                "routes": [
                    {
                        "name": "a",
                        "conditions": [
                            {"field": "inputs.x", "operator": "matches", "value": "[z-a]"}
                        ],
                    }
                ]
            },
        ),
        (
            "router",
            {
                "routes": [
                    {
                        "name": "a",
                        "conditions": [
                            {"field": "inputs.x", "operator": "in", "value": "not a list"}
                        ],
                    }
                ]
            },
        ),
        ("prompt", {"prompt": "hi", "output_format": "json", "json_schema": {"type": 12}}),
    ],
)
def test_contract_bad_patterns_and_schemas_are_config_errors(type_, config):
    with pytest.raises(ValidationError):
        NODE_TYPES[type_].Config.model_validate(config)


@pytest.mark.parametrize("slug", sorted(NODE_TYPES))
def test_node_type_declares_its_capabilities(slug):
    node_type = NODE_TYPES[slug]
    config = node_type.Config.model_validate(MINIMAL[slug])
    assert node_type.retry_port is None or node_type.retry_port in node_type.output_ports(config)
    assert isinstance(node_type.produces_result, bool)
    assert isinstance(node_type.provides_inputs, bool)
    assert isinstance(node_type.dynamic_outputs, bool)
    for name, arguments in node_type.tool_calls(config, None):
        assert isinstance(name, str) and name
        assert arguments is None or isinstance(arguments, dict)


def test_tool_calls_name_what_a_lost_step_may_have_called():
    tool = NODE_TYPES["tool"].Config.model_validate(MINIMAL["tool"])
    assert NODE_TYPES["tool"].tool_calls(tool, None) == [("echo", {"text": "{{ inputs.name }}"})]
    assert NODE_TYPES["tool"].tool_calls(tool, {"text": "Ada"}) == [("echo", {"text": "Ada"})]
    prompt = NODE_TYPES["prompt"].Config.model_validate({"prompt": "p", "tools": ["a", "b"]})
    assert NODE_TYPES["prompt"].tool_calls(prompt, None) == [("a", None), ("b", None)]
    assert (
        NODE_TYPES["router"].tool_calls(
            NODE_TYPES["router"].Config.model_validate(MINIMAL["router"]), None
        )
        == []
    )
    # Exactly one type each holds the inputs and loops back; results come from outputs only.
    assert [s for s, t in NODE_TYPES.items() if t.provides_inputs] == ["input"]
    assert [s for s, t in NODE_TYPES.items() if t.retry_port] == ["evaluator"]
    assert [s for s, t in NODE_TYPES.items() if t.produces_result] == ["output"]
