"""The validation's fast paths read exactly what the slow ones do.

Templates: `template_refs` (a pattern for plain ones, a tree walk for unscoped ones) against
`runs.engine.templates.references`. Documents: the plain reader against the pydantic models.
"""

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import TemplateError

from builder.graph import Graph, GraphEdge, GraphNode, ParsedGraph, validate_graph
from builder.graph.document import read_plain_graph
from builder.graph.templates import TemplateRefs, clear_template_cache, template_refs
from runs.engine.templates import references

from .graphs import base_graph, find


def _slow_refs(text: str) -> TemplateRefs:
    try:
        refs = references(text)
    except TemplateError as exc:
        return TemplateRefs(syntax_error=str(exc))
    return TemplateRefs(
        frozenset(refs.roots),
        frozenset(refs.nodes),
        frozenset(refs.inputs),
        refs.syntax_error,
        frozenset(refs.paths),
    )


def _outcome(read, text: str):
    try:
        return read(text)
    except RecursionError:
        return RecursionError


NAMES = ["inputs", "nodes", "feedback", "iteration", "loop", "self", "range", "x", "true", "if"]
KEYS = ["a", "b_1", "output", "if", "True", "none", "_x", "1", "é"]
FILTERS = ["upper", "trim", "default('d')", "nope", "tojson", "join(', ')"]
TESTS = ["defined", "none", "nope", "string"]


def _expressions() -> st.SearchStrategy[str]:
    name = st.sampled_from(NAMES)
    key = st.sampled_from(KEYS)
    dot = st.sampled_from([".", " . ", "."])
    path = st.builds(
        lambda n, parts: n + "".join(d + k for d, k in parts),
        name,
        st.lists(st.tuples(dot, key), max_size=3),
    )
    item = st.builds(lambda p, k: f"{p}[{k!r}]", path, st.sampled_from(["a", "output", 0]))
    atom = st.one_of(path, path, item, st.sampled_from(["1", "'s'", "none", "[1, 2]", "(1)"]))
    return st.recursive(
        atom,
        lambda inner: st.one_of(
            st.builds(lambda e, f: f"{e} | {f}", inner, st.sampled_from(FILTERS)),
            st.builds(lambda e, t: f"{e} is {t}", inner, st.sampled_from(TESTS)),
            st.builds(lambda a, b: f"{a} ~ {b}", inner, inner),
            st.builds(lambda a, b, c: f"{a} if {b} else {c}", inner, inner, inner),
            st.builds(lambda a: f"not {a}", inner),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(["range", "foo", "x.y"]), inner),
        ),
        max_leaves=4,
    )


def _plain_templates() -> st.SearchStrategy[str]:
    """Mostly what the pattern accepts, with near misses."""
    space = st.sampled_from(["", " ", " ", " ", "\n", "\t", " -", "+"])
    dot = st.sampled_from([".", ".", ".", ".", ".", " .", "[0]"])
    path = st.builds(
        lambda n, parts: n + "".join(d + k for d, k in parts),
        st.sampled_from(["inputs", "nodes", "feedback", "iteration", "nodesx", "x"]),
        st.lists(st.tuples(dot, st.sampled_from(KEYS)), max_size=3),
    )
    output = st.builds(lambda a, e, b: "{{" + a + e + b + "}}", space, path, space)
    text = st.sampled_from(["", "text ", "{", "}", "}}", "{ x }", "{{{", "%}", "\n", "é"])
    return st.lists(st.one_of(text, output, output), min_size=1, max_size=5).map("".join)


def _templates() -> st.SearchStrategy[str]:
    """Templates Jinja mostly accepts (so the tree walk is exercised), now and then not."""
    expression = _expressions()
    space = st.sampled_from(["", " ", " ", "\n"])
    output = st.builds(lambda a, e, b: "{{" + a + e + b + "}}", space, expression, space)
    trimmed = st.builds(lambda e: "{{- " + e + " -}}", expression)
    tag = st.one_of(
        st.builds(lambda e, body: f"{{% if {e} %}}{body}{{% endif %}}", expression, output),
        st.builds(
            lambda e, a, b: f"{{% if {e} %}}{a}{{% else %}}{b}{{% endif %}}",
            expression,
            output,
            output,
        ),
        st.builds(lambda e, body: f"{{% for x in {e} %}}{body}{{% endfor %}}", expression, output),
        st.builds(lambda e: f"{{% set x = {e} %}}", expression),
        st.builds(lambda e: f"{{% with x = {e} %}}{{{{ x }}}}{{% endwith %}}", expression),
        st.sampled_from(["{# note #}", "{% raw %}{{ x }}{% endraw %}"]),
    )
    text = st.sampled_from(["", "text ", "{", "}", "}}", "{ x }", "%}", "\n"])
    broken = st.sampled_from(["{{", "{{{", "{% exec %}", "{{ + }}", "{% if %}"])
    segment = st.one_of(text, output, output, output, trimmed, tag, tag, broken)
    general = st.lists(segment, min_size=1, max_size=3).map("".join)
    return st.one_of(_plain_templates(), general, general)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_templates())
def test_template_refs_read_what_jinja_reads(text):
    clear_template_cache()
    assert _outcome(template_refs, text) == _outcome(_slow_refs, text)


@pytest.mark.parametrize(
    "text",
    [
        "{{ nodes.a }}}}",
        "{{{ nodes.a }}",
        "{{nodes.a.b.c}}",
        "{{ nodes.a\n}}",
        "{{ inputs.question -}}",
        "{{- inputs.question }}",
        "{{ nodes.if.output }}",
        "x }} {{ inputs.a }}",
        "{{ nodes . a }}",
        "{{ nodesX.a }}",
        "{{ loop.index }}",
        "{{ self }}",
        "{{ range(3) }}",
        "{% if x is nope %}{{ y | nope }}{% endif %}",
        "{{ y | nope }}",
        "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
    ],
)
def test_template_refs_edge_cases(text):
    clear_template_cache()
    assert _outcome(template_refs, text) == _outcome(_slow_refs, text)
    assert _outcome(template_refs, text) == _outcome(template_refs, text)  # cached


def test_validate_graph_unknown_filter_is_a_template_error():
    graph = base_graph()
    find(graph["nodes"], "polish")["config"]["prompt"] = "{{ nodes.draft.output | nope }}"
    errors = validate_graph(graph)
    assert [(e.code, e.node_id, e.field) for e in errors] == [("graph.E020", "polish", "prompt")]
    assert "nope" in errors[0].message


# --- The plain document reader ----------------------------------------------------------------

ODD_VALUES = [
    "shopping_list",
    "Shopping",
    "n_2",
    "a" * 64,
    "a" * 128,
    {"x": 1, "y": -2},
    {"x": 2**53},
    {"x": 2**60},
    {"y": -(2**53) - 1},
    {"model": "m", "nested": {"a": [1]}},
    None,
    0,
    1,
    True,
    1.5,
    10**400,
    "",
    "x",
    "x" * 65,
    "x" * 129,
    "x" * 201,
    "a-b",
    "ab\n",
    "é",
    [],
    {},
    {"x": 1},
    {"x": True},
    {"z": 1},
    {"x": 1, "y": 2.5},
]


def _as_read(graph: Graph) -> ParsedGraph:
    return ParsedGraph(
        [GraphNode(n.id, n.type, n.label, n.config, n.key, n.parent) for n in graph.nodes],
        [GraphEdge(e.id, e.source, e.source_port, e.target, e.target_port) for e in graph.edges],
    )


@st.composite
def _documents(draw):
    document = base_graph()
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["nodes", "edges", "top"]))
        if kind == "top":
            key = draw(st.sampled_from(["nodes", "edges", "owner"]))
            document[key] = draw(st.sampled_from([[], {}, "x", ()]))
            continue
        items = document[kind]
        if not isinstance(items, list) or not items:
            continue
        item = items[draw(st.integers(0, len(items) - 1))]
        fields = list(Graph.model_fields[kind].annotation.__args__[0].model_fields)
        key = draw(st.sampled_from([*fields, "extra"]))
        if draw(st.booleans()) and key in item:
            del item[key]
        else:
            item[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
    return document


@settings(max_examples=500, deadline=None)
@given(_documents())
def test_plain_reader_accepts_only_what_the_models_accept(document):
    read = read_plain_graph(document)
    try:
        graph = Graph.model_validate(document)
    except ValueError:
        assert read is None
        return
    assert read is None or read == _as_read(graph)


def test_plain_reader_reads_the_base_graph():
    document = base_graph()
    assert read_plain_graph(document) == _as_read(Graph.model_validate(document))


class Text(str):
    pass


@pytest.mark.parametrize(
    "change",
    [
        lambda g: find(g["nodes"], "draft").update(position={"x": 2**60, "y": 0}),
        lambda g: find(g["nodes"], "draft").update(label=Text("Draft")),
        lambda g: find(g["edges"], "e_retry").update(source_port=Text("fail")),
    ],
)
def test_documents_the_plain_reader_declines_are_read_by_the_models(change):
    document = base_graph()
    change(document)
    assert read_plain_graph(document) is None
    assert validate_graph(document) == []
