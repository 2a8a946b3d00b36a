import pytest

from runs.tools import ToolContext, ToolError, call_tool

DATA = {"items": [{"name": "flour", "price": 2}, {"name": "saffron", "price": 12}]}


def query(data, expression: str):
    return call_tool("json_query", {"data": data, "expression": expression}, context=ToolContext())[
        "result"
    ]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("items[0].name", "flour"),
        ("items[?price < `10`].name", ["flour"]),
        ("length(items)", 2),
        ("items[*].{n: name}", [{"n": "flour"}, {"n": "saffron"}]),
        ("nothing.here", None),
    ],
)
def test_json_query_selects(expression, expected):
    assert query(DATA, expression) == expected


def test_json_query_accepts_any_json_data():
    assert query([1, 2, 3], "[-1]") == 3
    assert query("text", "@") == "text"


@pytest.mark.parametrize("expression", ["items[", "items[?price <", "abs(items)", "nope()"])
def test_json_query_bad_expression_is_invalid_arguments(expression):
    with pytest.raises(ToolError) as caught:
        query(DATA, expression)
    assert caught.value.code == "invalid_arguments"
    assert "JMESPath" in caught.value.message
    assert caught.value.details


def test_json_query_requires_both_arguments():
    with pytest.raises(ToolError) as caught:
        call_tool("json_query", {"expression": "a"}, context=ToolContext())
    assert caught.value.code == "invalid_arguments"
    assert "data" in caught.value.message
