import pytest

from runs.tools import ToolContext, ToolError, call_tool


def calculate(expression: str):
    return call_tool("calculator", {"expression": expression}, context=ToolContext())["result"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("7 % 3", 1),
        ("2 ** 10", 1024),
        ("-3 + +5", 2),
        ("--4", 4),
        ("2 ** -1", 0.5),
        ("abs(-4.5)", 4.5),
        ("round(2.345, 2)", 2.35),
        ("round(7.6)", 8),
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2)", 3),
        ("sqrt(16)", 4.0),
        ("1e3 + 0.5", 1000.5),
        ("12 × 3 ÷ 4", 9.0),
        ("round(19.99 * 3 * 1.2, 2)", 71.96),
    ],
)
def test_calculator_evaluates_arithmetic(expression, expected):
    assert calculate(expression) == pytest.approx(expected)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os')",
        "__import__('os').system('echo pwned')",
        "(1).__class__",
        "().__class__.__bases__[0].__subclasses__()",
        "x",
        "x + 1",
        "lambda: 1",
        "eval('1')",
        "exec('x=1')",
        "open('/etc/passwd')",
        "pow(2, 3)",
        "'a' * 3",
        "True + 1",
        "[1, 2]",
        "1 if 1 else 2",
        "1 < 2",
        "1 << 100",
        "2 & 3",
        "round(1.5, ndigits=1)",
        "max(*[1, 2])",
        "a := 1",
        "9**9**9",
        "10 ** 400",
        "2.0 ** 5000",
        "1e308 * 10",
        "9" * 400,
        "1 / 0",
        "5 % 0",
        "sqrt(-1)",
        "(-8) ** (1/3)",
        "0 ** -1",
        "1 +",
        "",
        "   ",
        "(" * 250 + "1" + ")" * 250,
        "1 + " * 150 + "1",
    ],
)
def test_calculator_refuses_anything_but_arithmetic(expression):
    with pytest.raises(ToolError) as caught:
        calculate(expression)
    assert caught.value.code == "invalid_arguments"
    assert caught.value.message


def test_calculator_refuses_long_input():
    with pytest.raises(ToolError) as caught:
        calculate("1+" * 300 + "1")
    assert caught.value.code == "invalid_arguments"
    assert "500" in caught.value.message


def test_calculator_never_executes_code(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ToolError):
        calculate(f"__import__('pathlib').Path('{marker}').touch()")
    assert not marker.exists()
