"""Output shapes in validation: what each node type declares, followed along the graph.

The property test builds random valid flows, computes every node's real output by running the
real node types (and real tools) over real upstream values, and reads only paths those values
have: validation must not report any of them.
"""

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.graph import validate_graph
from runs.engine.context import NodeContext
from runs.engine.nodes import NODE_TYPES
from runs.engine.templates import render
from runs.tools import ToolContext, call_tool

from .graphs import base_graph, edge, find, node

RECIPE_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "ingredients": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "quantity": {"type": "number"}},
            },
        },
    },
    "required": ["title", "ingredients"],
}


def _recipe_flow(output_format: str) -> dict[str, Any]:
    """Input → recipe prompt → pantry tool reading its ingredients → output."""
    recipe = {"prompt": "A recipe for {{ inputs.question }}", "output_format": output_format}
    if output_format == "json":
        recipe["json_schema"] = RECIPE_SCHEMA
    return {
        "schema_version": 1,
        "nodes": [
            node("start", "input", {"schema": {"type": "object", "properties": {"question": {}}}}),
            {**node("prompt_1", "prompt", recipe), "label": "Recipe", "key": "recipe"},
            {
                **node(
                    "tool_1",
                    "tool",
                    {
                        "tool": "pantry",
                        "arguments": {"ingredients": "{{ nodes.recipe.output.ingredients }}"},
                    },
                ),
                "label": "Pantry check",
                "key": "pantry_check",
            },
            node(
                "result",
                "output",
                {"value": "Buy: {{ nodes.pantry_check.output.missing | join(', ') }}"},
            ),
        ],
        "edges": [
            edge("e1", "start", "prompt_1"),
            edge("e2", "prompt_1", "tool_1"),
            edge("e3", "tool_1", "result"),
        ],
    }


def test_recipe_flow_with_json_output_validates():
    assert validate_graph(_recipe_flow("json")) == []


def test_recipe_flow_switched_to_text_output_is_caught_on_the_reading_node():
    errors = validate_graph(_recipe_flow("text"))
    assert [(e.code, e.node_id, e.field) for e in errors] == [
        ("graph.E022", "tool_1", "arguments.ingredients")
    ]
    assert errors[0].message == (
        'arguments.ingredients: nodes.recipe.output is text, so it has no field "ingredients". '
        'Check the output format of "Recipe".'
    )


def test_a_missing_field_names_the_fields_there_are():
    graph = _recipe_flow("json")
    find(graph["nodes"], "result")["config"]["value"] = "{{ nodes.recipe.output.steps }}"
    (error,) = validate_graph(graph)
    assert (error.code, error.node_id, error.field) == ("graph.E022", "result", "value")
    assert 'no field "steps"' in error.message and "title, ingredients" in error.message


def test_shapes_follow_the_graph_through_approvals_and_tool_results():
    graph = base_graph()
    find(graph["nodes"], "draft")["config"].update(output_format="json", json_schema=RECIPE_SCHEMA)
    find(graph["nodes"], "polish")["config"]["prompt"] = (
        "{{ nodes.draft.output.ingredients[0].name }} {{ nodes.draft.output.title | upper }}"
        "{% for k, v in nodes.draft.output.items() %}{{ k }}{% endfor %}"
        "{{ nodes.draft.output.title.upper() }} {{ nodes.draft.status }}"
    )
    find(graph["nodes"], "check")["config"]["target"] = (
        "{{ nodes.search.output.json.anything.at.all }} {{ nodes.search.output.error.message }}"
    )
    find(graph["nodes"], "review")["config"]["show"] = ["nodes.draft.output", "nodes.check.output"]
    # The approval shows the draft as "draft": its output has that field, and the draft's own.
    find(graph["nodes"], "result")["config"]["value"] = (
        "{{ nodes.review.output.draft.title }} {{ nodes.review.output.check.score }}"
    )
    assert validate_graph(graph) == []
    find(graph["nodes"], "result")["config"]["value"] = "{{ nodes.review.output.draft.author }}"
    assert [(e.code, e.node_id) for e in validate_graph(graph)] == [("graph.E022", "result")]


def test_templates_may_name_a_node_by_its_key():
    graph = base_graph()
    find(graph["nodes"], "polish")["key"] = "polished_answer"
    find(graph["nodes"], "check")["config"]["target"] = "{{ nodes.polished_answer.output }}"
    assert validate_graph(graph) == []
    find(graph["nodes"], "draft")["config"]["system"] = "{{ nodes.polished_answer.output }}"
    (error,) = validate_graph(graph)
    assert (error.code, error.node_id) == ("graph.E014", "draft")
    assert error.message == 'system: "Polish" does not run before this node.'


def test_unknown_shapes_accept_every_path():
    graph = base_graph()
    find(graph["nodes"], "draft")["config"].update(output_format="json")  # no schema: any JSON
    find(graph["nodes"], "polish")["config"]["prompt"] = "{{ nodes.draft.output.a.b[3].c }}"
    find(graph["nodes"], "search")["config"]["tool"] = "no_such_tool"
    find(graph["nodes"], "check")["config"]["target"] = "{{ nodes.search.output.whatever }}"
    assert validate_graph(graph) == []


# --- Random valid flows never get a false reference error ----------------------------------

FIELD_SCHEMAS = st.recursive(
    st.sampled_from([{"type": "string"}, {"type": "number"}, {"type": "boolean"}]),
    lambda inner: st.one_of(
        st.builds(lambda items: {"type": "array", "items": items}, inner),
        st.dictionaries(
            st.sampled_from(["a", "b", "name", "list", "count"]), inner, min_size=1
        ).map(lambda props: {"type": "object", "properties": props, "required": list(props)}),
    ),
    max_leaves=6,
)


def _instance(draw, schema: dict) -> Any:
    """A value of the schema, every listed field present, lists of one or two items."""
    kind = schema["type"]
    if kind == "object":
        return {key: _instance(draw, sub) for key, sub in schema["properties"].items()}
    if kind == "array":
        return [_instance(draw, schema["items"]) for _ in range(draw(st.integers(1, 2)))]
    return {"string": "text", "number": 2.5, "boolean": True}[kind]


def _path_in(draw, value: Any) -> str:
    """A path that exists in the value, written as a template would read it."""
    path = ""
    while draw(st.booleans()):
        names = sorted(k for k in value if k.isidentifier()) if isinstance(value, dict) else []
        if names:
            key = draw(st.sampled_from(names))
            path, value = path + f".{key}", value[key]
        elif isinstance(value, list) and value:
            index = draw(st.integers(0, len(value) - 1))
            path, value = path + f"[{index}]", value[index]
        else:
            break
    return path


TOOL_CALLS = [
    ("calculator", {"expression": "1 + 2"}),
    ("current_time", {"timezone": "UTC"}),
    ("json_query", {"data": {"a": [1, 2]}, "expression": "a"}),
]


def _run_node(node_type: str, config: dict, variables: dict, incoming: Any) -> Any:
    """The output the real node type gives (rules and data only: no model, no tool)."""
    kind = NODE_TYPES[node_type]
    ctx = NodeContext(
        node_id="n",
        node_type=node_type,
        config=kind.Config.model_validate(config),
        iteration=0,
        run_inputs=variables["inputs"],
        variables=variables,
        llm=None,
        tools=None,
        names={nid: f"k_{nid}" for nid in ("start", *(f"n{i}" for i in range(8)))},
    )
    return kind().run(ctx, {"in": incoming}).output


@st.composite
def valid_flows(draw):
    """A tree of nodes fed from the Input; each reads a real path of one of its ancestors."""
    input_schema = draw(FIELD_SCHEMAS.filter(lambda s: s["type"] == "object"))
    inputs = _instance(draw, input_schema)
    nodes = [node("start", "input", {"schema": input_schema})]
    edges: list[dict] = []
    outputs: dict[str, Any] = {"start": inputs}
    parents: dict[str, str | None] = {"start": None}
    port_of = {"start": "out"}
    for i in range(draw(st.integers(1, 7))):
        node_id = f"n{i}"
        parent = draw(st.sampled_from(sorted(outputs)))
        ancestors, up = [], parent
        while up is not None:
            ancestors.append(up)
            up = parents[up]
        source = draw(st.sampled_from(ancestors))
        key = draw(st.sampled_from([source, f"k_{source}"]))
        reference = f"nodes.{key}.output" + _path_in(draw, outputs[source])
        if draw(st.booleans()):
            reference = "inputs" + _path_in(draw, inputs)
        variables = {
            "inputs": inputs,
            "nodes": {
                name: {"output": value, "status": "succeeded"}
                for nid, value in outputs.items()
                for name in (nid, f"k_{nid}")
            },
            "feedback": "",
            "iteration": 0,
        }
        template = "{{ " + reference + " }}"
        render(template, variables)  # the oracle: the engine reads this path at run time
        kind = draw(
            st.sampled_from(["prompt_text", "prompt_json", "tool", "evaluator", "approval"])
        )
        if kind == "prompt_text":
            config = {"prompt": template}
            value = "Some text"
        elif kind == "prompt_json":
            schema = draw(FIELD_SCHEMAS)
            config = {"prompt": template, "output_format": "json", "json_schema": schema}
            value = _instance(draw, schema)
        elif kind == "tool":
            tool, arguments = draw(st.sampled_from(TOOL_CALLS))
            config = {"tool": tool, "arguments": arguments}
            value = call_tool(tool, arguments, context=ToolContext())
        elif kind == "evaluator":
            config = {"target": template, "rules": [{"kind": "min_length", "value": 1}]}
            value = _run_node("evaluator", config, variables, outputs[parent])
        else:
            # A shown path is dotted data (no [index]) under inputs.<name> or nodes.<name>.
            shown = "[" not in reference and reference.count(".") >= 1
            config = {"instructions": template, "show": [reference] if shown else []}
            value = _run_node("approval", config, variables, outputs[parent])
        node_type = "prompt" if kind.startswith("prompt") else kind
        nodes.append({**node(node_id, node_type, config), "key": f"k_{node_id}"})
        port = {"evaluator": "pass", "approval": "approved"}.get(node_type, "out")
        edges.append(edge(f"e{i}", parent, node_id, port_of[parent]))
        outputs[node_id], parents[node_id], port_of[node_id] = value, parent, port
    last = f"n{len(nodes) - 2}"
    nodes.append(node("result", "output", {}))
    edges.append(edge("e_result", last, "result", port_of[last]))
    nodes[0]["key"] = "k_start"
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_flows())
def test_random_valid_flows_get_no_reference_errors(document):
    errors = validate_graph(copy.deepcopy(document))
    assert errors == [], [(e.code, e.node_id, e.message) for e in errors]
