import jsonschema
import pytest

from runs.models import PantryItem
from runs.tools import ToolContext, ToolError, call_tool, registry
from runs.tools.pantry import name_forms

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked(workspace, other_workspace):
    for name, quantity, unit in [
        ("Eggs", 6, ""),
        ("flour", 1, "kg"),
        ("Tomato", 3, ""),
        ("milk", 500, "ml"),
        ("cherries", 200, "g"),
        ("butter", 0, "g"),
        ("olive oil", 2, "cups"),
    ]:
        PantryItem.objects.create(workspace=workspace, name=name, quantity=quantity, unit=unit)
    PantryItem.objects.create(workspace=other_workspace, name="saffron", quantity=1, unit="g")
    return workspace


def check(workspace, ingredients):
    return call_tool(
        "pantry", {"ingredients": ingredients}, context=ToolContext(workspace_id=workspace.id)
    )


def test_pantry_matches_case_insensitively_and_tolerates_plurals(stocked):
    result = check(stocked, ["egg", "FLOUR", "tomatoes", "cherry", "  Olive  Oil ", "sugar"])
    assert result["available"] == ["egg", "FLOUR", "tomatoes", "cherry", "Olive  Oil"]
    assert result["missing"] == ["sugar"]
    assert result["missing_count"] == 1
    assert result["all_available"] is False


def test_pantry_all_available(stocked):
    result = check(stocked, ["eggs", "milk"])
    assert result["missing"] == []
    assert result["missing_count"] == 0
    assert result["all_available"] is True


def test_pantry_checks_quantities_and_converts_simple_units(stocked):
    result = check(
        stocked,
        [
            {"name": "eggs", "quantity": 4},
            {"name": "egg yolk", "quantity": 1},
            {"name": "flour", "quantity": 800, "unit": "grams"},
            {"name": "milk", "quantity": 1, "unit": "l"},
            {"name": "tomato", "quantity": 5},
            {"name": "olive oil", "quantity": 1, "unit": "cup"},
            {"name": "cherries", "quantity": 2, "unit": "tbsp"},
        ],
    )
    assert result["available"] == ["eggs", "flour", "olive oil", "cherries"]
    assert result["missing"] == ["egg yolk", "milk", "tomato"]
    details = {item["name"]: item for item in result["items"]}
    assert details["milk"]["reason"] == "not enough: have 500 ml, need 1 l"
    # What the tool declares about its result is what validation checks references against.
    jsonschema.validate(result, registry.get("pantry").result_schema)
    assert details["egg yolk"]["reason"] == "not in the pantry"
    assert details["flour"]["pantry"] == {"name": "flour", "quantity": 1.0, "unit": "kg"}


def test_pantry_out_of_stock_is_missing(stocked):
    result = check(stocked, ["butter"])
    assert result["missing"] == ["butter"]
    assert result["items"][0]["reason"] == "out of stock"


def test_pantry_is_scoped_to_the_workspace(stocked, other_workspace):
    assert check(stocked, ["saffron"])["missing"] == ["saffron"]
    assert check(other_workspace, ["saffron", "eggs"])["missing"] == ["eggs"]


def test_pantry_ignores_repeated_ingredients(stocked):
    result = check(stocked, ["eggs", "Eggs", "sugar", "SUGAR"])
    assert result["available"] == ["eggs"]
    assert result["missing"] == ["sugar"]


def test_pantry_needs_a_workspace():
    with pytest.raises(ToolError) as caught:
        call_tool("pantry", {"ingredients": ["eggs"]}, context=ToolContext())
    assert caught.value.code == "tool_failed"
    assert "workspace" in caught.value.message


def test_pantry_argument_errors_are_readable():
    with pytest.raises(ToolError) as caught:
        call_tool("pantry", {"ingredients": ["eggs", {"qty": 2}, 5]}, context=ToolContext())
    assert caught.value.code == "invalid_arguments"
    assert caught.value.details[0].startswith("ingredients[1]: should be an ingredient name")


def test_pantry_is_idempotent():
    from runs.tools import registry

    assert registry.get("pantry").is_idempotent({"ingredients": []})


@pytest.mark.parametrize(
    ("plural", "singular"),
    [("eggs", "egg"), ("tomatoes", "tomato"), ("berries", "berry"), ("cheeses", "cheese")],
)
def test_name_forms_relate_plurals(plural, singular):
    assert name_forms(plural) & name_forms(singular)
    assert "glass" in name_forms("glass")
