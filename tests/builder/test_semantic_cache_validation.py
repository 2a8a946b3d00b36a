"""graph.E075: a prompt with the semantic cache on may not call a tool with side effects (a hit
would skip the call); read-only tools are fine, and so is the same tool without the cache."""

import pytest

from builder.graph import ERROR_CODES, validate_graph

from .graphs import base_graph, find

E075 = "graph.E075"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            {"semantic_cache": True, "tools": ["http_request"]}, {E075}, id="side-effects"
        ),
        pytest.param({"semantic_cache": True, "tools": ["calculator"]}, set(), id="read-only"),
        pytest.param({"semantic_cache": False, "tools": ["http_request"]}, set(), id="no-cache"),
    ],
)
def test_a_cached_prompt_may_not_skip_a_tool_with_side_effects(config, expected):
    graph = base_graph()
    find(graph["nodes"], "draft")["config"].update(config)
    errors = validate_graph(graph)
    assert {e.code for e in errors} == expected, [e.message for e in errors]
    for error in errors:
        assert error.code in ERROR_CODES
        assert error.node_id == "draft" and error.field == "semantic_cache"
        assert "http_request" in error.message
