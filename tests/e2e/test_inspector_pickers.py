"""The inspector's remaining pickers in a real browser: a prompt's fallback models (with prices),
the values an approval shows (by node label), the sub-flow node's flow, version and inputs; the
editor's Triggers and Chat links; palette entries for the newer node types, and a node type the
bundle has never heard of."""

import itertools
import json
import re

import pytest
from playwright.sync_api import Page, expect

from builder.models import Flow
from builder.services import flow_publish
from workspaces.models import Role

from .conftest import eventually, login
from .test_editor import select

pytestmark = pytest.mark.e2e

TOPIC = {
    "type": "object",
    "properties": {
        "topic": {"type": "string", "title": "Topic"},
        "depth": {"type": "integer", "title": "Depth"},
    },
    "required": ["topic"],
}


MESSAGE = {"type": "object", "properties": {"message": {"type": "string"}}}


def _node(node_id, node_type, label, x, config):
    return {
        "id": node_id,
        "type": node_type,
        "label": label,
        "position": {"x": x, "y": 80},
        "config": config,
    }


def _edge(source, target, port="out"):
    return {
        "id": f"{source}-{target}",
        "source": source,
        "source_port": port,
        "target": target,
        "target_port": "in",
    }


def _chain(*nodes, port_of=None):
    port_of = port_of or {}
    edges = [
        _edge(a["id"], b["id"], port_of.get(a["id"], "out")) for a, b in itertools.pairwise(nodes)
    ]
    return {"schema_version": 1, "nodes": list(nodes), "edges": edges}


def approval_graph():
    return _chain(
        _node("start", "input", "Question", 0, {"schema": TOPIC, "sample": {"topic": "tea"}}),
        _node("draft", "prompt", "Draft answer", 320, {"prompt": "Explain {{ inputs.topic }}"}),
        _node("review", "approval", "Editor review", 640, {}),
        _node("done", "output", "Answer", 960, {"name": "a", "value": "{{ nodes.draft.output }}"}),
        port_of={"review": "approved"},
    )


def saved_config(flow, node_id):
    """The node's config as last autosaved ({} for fields not saved yet)."""
    flow.refresh_from_db()
    config = next(n for n in flow.graph["nodes"] if n["id"] == node_id)["config"]
    return _Saved(config)


class _Saved(dict):
    def __missing__(self, key):
        return None


def inspector(page: Page):
    return page.locator("[data-inspector-node]")


def test_fallback_models_and_review_values_are_picked_not_typed(page, member, workspace, artifacts):
    designer = member(Role.EDITOR, username="dana")
    flow = Flow.objects.create(workspace=workspace, name="Answer", graph=approval_graph())
    login(page, designer)
    page.goto(f"/flows/{flow.pk}/")

    select(page, "draft")
    add = inspector(page).locator("[data-add-fallback]")
    price = "openai/gpt-4o · $2.50 in / $10 out per 1M tokens"
    expect(add.locator("option", has_text=price)).to_have_count(1)
    add.select_option("openai/gpt-4o")
    add.select_option("openai/gpt-4.1-mini")
    chosen = inspector(page).locator(".sb-ordered-item")
    expect(chosen).to_have_count(2)
    expect(chosen.first).to_contain_text("openai/gpt-4o")
    expect(chosen.first).to_contain_text("$2.50 in / $10 out per 1M tokens")
    # A chosen model leaves the list; order is the order they are tried, and can change.
    expect(add.locator("option", has_text="openai/gpt-4o ·")).to_have_count(0)
    page.get_by_role("button", name="Move openai/gpt-4.1-mini up").click()
    expect(chosen.first).to_contain_text("openai/gpt-4.1-mini")
    page.screenshot(path=str(artifacts / "inspector-fallback-models.png"))
    eventually(
        lambda: (
            saved_config(flow, "draft")["fallback_models"]
            == ["openai/gpt-4.1-mini", "openai/gpt-4o"]
        )
    )
    page.get_by_role("button", name="Remove openai/gpt-4o", exact=True).click()
    eventually(lambda: saved_config(flow, "draft")["fallback_models"] == ["openai/gpt-4.1-mini"])

    select(page, "review")
    values = inspector(page).locator("[data-add-review-value]")
    expect(values.locator("optgroup[label='Draft answer']")).to_have_count(1)
    expect(values.locator("optgroup[label='Question'] option", has_text="Topic")).to_have_count(1)
    values.select_option("nodes.draft.output")
    values.select_option("inputs.topic")
    shown = inspector(page).locator(".sb-ordered-item")
    expect(shown.first).to_contain_text("Draft answer › the whole output")
    expect(shown.nth(1)).to_contain_text("Question › Topic")
    page.screenshot(path=str(artifacts / "inspector-review-values.png"))
    eventually(
        lambda: saved_config(flow, "review")["show"] == ["nodes.draft.output", "inputs.topic"]
    )
    expect(page.locator("[data-problem-total]")).to_have_attribute("data-problem-total", "0")


def test_sub_flow_node_picks_a_published_flow_its_version_and_inputs(
    page, member, workspace, artifacts
):
    designer = member(Role.EDITOR, username="dana")
    called_graph = _chain(
        _node("start", "input", "Topic", 0, {"schema": TOPIC, "sample": {"topic": "tea"}}),
        _node("mid", "prompt", "Explain", 320, {"prompt": "Explain {{ inputs.topic }}"}),
        _node("out", "output", "Answer", 640, {"name": "a", "value": "{{ nodes.mid.output }}"}),
    )
    called = Flow.objects.create(
        workspace=workspace, name="Explain a topic", description="One prompt.", graph=called_graph
    )
    flow_publish(flow=called, user=designer)
    flow_publish(flow=called, user=designer)
    Flow.objects.create(workspace=workspace, name="Unpublished draft", graph=called_graph)
    caller = Flow.objects.create(
        workspace=workspace,
        name="Tea guide",
        graph=_chain(
            _node("start", "input", "Question", 0, {"schema": TOPIC, "sample": {"topic": "tea"}}),
            _node("call", "flow", "Ask the explainer", 320, {"flow": called.pk}),
            _node(
                "done", "output", "Result", 640, {"name": "r", "value": "{{ nodes.call.output }}"}
            ),
        ),
    )
    flow_publish(flow=caller, user=designer)  # the flow being edited is never offered
    login(page, designer)
    page.goto(f"/flows/{caller.pk}/")

    select(page, "call")
    picker = inspector(page).get_by_role("combobox", name="Flow", exact=True)
    expect(picker).to_have_value(str(called.pk))
    options = picker.locator("option")
    expect(options).to_have_text(["Choose a flow…", "Explain a topic · v2"])
    expect(inspector(page).locator("[data-flow-description]")).to_contain_text("One prompt.")
    version = inspector(page).get_by_label("Version", exact=True)
    expect(version.locator("option")).to_have_text(
        ["Latest published when the step runs (now v2)", "v2", "v1"]
    )
    version.select_option(label="v1")
    # The called flow's inputs are template fields; a variable of this flow goes in by label.
    topic = inspector(page).locator('[data-argument="topic"]')
    expect(topic).to_contain_text("Topic")
    expect(inspector(page).locator('[data-argument="depth"]')).to_be_visible()
    page.get_by_role("button", name="Variables for Topic", exact=False).click()
    group = page.get_by_role("group", name="Variables available in Topic")
    group.locator(".sb-var", has_text="Topic").first.click()
    page.screenshot(path=str(artifacts / "inspector-flow-picker.png"))

    def saved() -> None:
        config = saved_config(caller, "call")
        assert config["version"] == 1
        assert config["inputs"] == {"topic": "{{ inputs.topic }}"}

    eventually(saved)
    expect(page.locator("[data-problem-total]")).to_have_attribute("data-problem-total", "0")

    # Choosing no flow says what is missing; choosing it again restores the inputs form.
    picker.select_option("")
    expect(page.locator("[data-problem-total]")).not_to_have_attribute("data-problem-total", "0")
    picker.select_option(label="Explain a topic · v2")
    expect(page.locator("[data-problem-total]")).to_have_attribute("data-problem-total", "0")


def test_editor_opens_the_flows_triggers_and_links_to_its_chat(page, member, workspace):
    designer = member(Role.EDITOR, username="dana")
    flow = Flow.objects.create(workspace=workspace, name="Answer", graph=approval_graph())
    login(page, designer)
    page.goto(f"/flows/{flow.pk}/")
    bar = page.get_by_role("toolbar", name="Flow editor")
    expect(bar.get_by_role("link", name="Chat")).to_have_attribute(
        "href", f"/flows/{flow.pk}/chat/"
    )
    bar.get_by_role("button", name="Triggers").click()
    panel = page.locator("[data-slot=triggers]")
    expect(panel.get_by_role("link", name="Open the Triggers page")).to_have_attribute(
        "href", f"/flows/{flow.pk}/triggers/"
    )


def test_palette_finds_newer_types_by_synonym_and_tolerates_unknown_ones(
    page, member, workspace, artifacts
):
    designer = member(Role.EDITOR, username="dana")
    flow = Flow.objects.create(workspace=workspace, name="Answer", graph=approval_graph())

    # The server may know node types this bundle does not (another release's): they still show.
    def more_types(route):
        types = json.loads(route.fetch().text())
        types.append({**types[0], "type": "quantum", "label": "Quantum", "category": "",
                      "help": ""})  # fmt: skip
        route.fulfill(json=types)

    page.route("**/api/node-types", more_types)
    login(page, designer)
    page.goto(f"/flows/{flow.pk}/")
    search = page.get_by_label("Search node types")
    expect(search).to_be_visible()
    items = page.locator(".sb-palette-item")
    for query, found in [
        ("knowledge", "retrieve"),
        ("rag", "retrieve"),
        ("conversation history", "memory"),
        ("subflow", "flow"),
        ("for each", "map"),
        ("iterate", "map"),
    ]:
        search.fill(query)
        expect(items.locator(f'xpath=self::*[@data-node-type="{found}"]')).to_have_count(1)
    search.fill("")
    unknown = page.locator('.sb-palette-item[data-node-type="quantum"]')
    expect(unknown).to_be_visible()
    expect(unknown.locator(".sb-node-icon svg")).to_have_attribute("data-icon", "node")
    mapped = page.locator('.sb-palette-item[data-node-type="map"] .sb-node-icon svg')
    expect(mapped).to_have_attribute("data-icon", "map")
    expect(page.locator(".sb-palette-group[aria-label='Other']")).to_contain_text("Quantum")
    unknown.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "palette-new-types.png"))


def test_map_and_agent_nodes_get_the_same_pickers(page, member, workspace, artifacts):
    designer = member(Role.EDITOR, username="dana")
    called = Flow.objects.create(
        workspace=workspace,
        name="Price one",
        graph=_chain(
            _node("start", "input", "Item", 0, {"schema": TOPIC, "sample": {"topic": "tea"}}),
            _node("out", "output", "Price", 320, {"name": "p", "value": "{{ inputs.topic }}"}),
        ),
    )
    flow_publish(flow=called, user=designer)
    caller = Flow.objects.create(
        workspace=workspace,
        name="Price all",
        graph=_chain(
            _node("start", "input", "Question", 0, {"schema": TOPIC, "sample": {"topic": "tea"}}),
            _node(
                "each",
                "map",
                "Price each",
                320,
                {"items": "{{ [inputs.topic] }}", "flow": called.pk, "item_input": "topic"},
            ),
            _node("think", "agent", "Shop", 640, {"goal": "Buy {{ inputs.topic }}"}),
            _node(
                "done", "output", "Result", 960, {"name": "r", "value": "{{ nodes.think.output }}"}
            ),
        ),
    )
    login(page, designer)
    page.goto(f"/flows/{caller.pk}/")

    select(page, "each")
    picker = inspector(page).get_by_role("combobox", name="Flow", exact=True)
    expect(picker).to_have_value(str(called.pk))
    # A map's flow may be left out (it then runs the region inside it): the empty choice says so.
    expect(picker.locator("option")).to_have_text(
        ["None: run the steps inside it", "Price one · v1"]
    )
    expect(inspector(page).get_by_label("Version", exact=True)).to_be_visible()

    select(page, "think")
    expect(inspector(page).get_by_text("Fallback models", exact=True)).to_be_visible()
    expect(inspector(page).get_by_role("checkbox", name="calculator")).to_be_visible()
    add = inspector(page).get_by_role("combobox", name="Add a flow as a tool")
    add.select_option(label="Price one · v1")
    expect(inspector(page).locator('[data-flow-tool="0"]').get_by_label("Tool name")).to_have_value(
        "price_one"
    )
    eventually(
        lambda: (
            saved_config(caller, "think")["flow_tools"]
            == [{"flow": called.pk, "version": "latest", "name": "price_one"}]
        )
    )
    page.screenshot(path=str(artifacts / "inspector-agent.png"))


def test_prompt_picks_flows_as_tools_and_names_them_apart(page, member, workspace, artifacts):
    designer = member(Role.EDITOR, username="dana")
    called = Flow.objects.create(
        workspace=workspace,
        name="Price an ingredient",
        description="Estimates what one ingredient costs.",
        graph=_chain(
            _node("start", "input", "Item", 0, {"schema": TOPIC, "sample": {"topic": "tea"}}),
            _node("out", "output", "Price", 320, {"name": "p", "value": "{{ inputs.topic }}"}),
        ),
    )
    flow_publish(flow=called, user=designer)
    flow_publish(flow=called, user=designer)
    caller = Flow.objects.create(
        workspace=workspace,
        name="Plan dinner",
        graph=_chain(
            _node("start", "input", "Question", 0, {"schema": TOPIC, "sample": {"topic": "tea"}}),
            _node("draft", "prompt", "Plan", 320, {"prompt": "Plan", "tools": ["calculator"]}),
            _node(
                "done", "output", "Result", 640, {"name": "r", "value": "{{ nodes.draft.output }}"}
            ),
        ),
    )
    login(page, designer)
    page.goto(f"/flows/{caller.pk}/")

    select(page, "draft")
    add = inspector(page).get_by_role("combobox", name="Add a flow as a tool")
    expect(add.locator("option")).to_have_text(
        ["Add a flow as a tool…", "Price an ingredient · v2"]
    )
    add.select_option(label="Price an ingredient · v2")
    tool = inspector(page).locator('[data-flow-tool="0"]')
    expect(tool.get_by_role("combobox", name="Flow", exact=True)).to_have_value(str(called.pk))
    expect(tool.get_by_label("Tool name")).to_have_value("price_an_ingredient")
    expect(tool.get_by_label("What it does (for the model)")).to_have_attribute(
        "placeholder", "Estimates what one ingredient costs."
    )
    # PostgreSQL's jsonb keeps an object's keys in its own order, not the schema's.
    expect(tool.locator("[data-flow-tool-arguments]")).to_contain_text(
        re.compile(r"inputs: (topic, depth|depth, topic)\.")
    )
    tool.get_by_label("Version", exact=True).select_option(label="v1")
    tool.get_by_label("What it does (for the model)").fill("Look up the price of one ingredient.")

    def saved() -> None:
        assert saved_config(caller, "draft")["flow_tools"] == [
            {
                "flow": called.pk,
                "version": 1,
                "name": "price_an_ingredient",
                "description": "Look up the price of one ingredient.",
            }
        ]

    eventually(saved)
    expect(page.locator("[data-problem-total]")).to_have_attribute("data-problem-total", "0")

    # A name the model could not tell apart from a built-in tool is a problem on that entry.
    tool.get_by_label("Tool name").fill("calculator")
    problem = tool.get_by_role("alert")
    expect(problem).to_contain_text('"calculator" is already the name of one of this node')
    expect(page.locator("[data-problem-total]")).to_have_attribute("data-problem-total", "1")
    page.screenshot(path=str(artifacts / "inspector-flow-tools.png"))
    tool.get_by_label("Tool name").fill("price")
    expect(page.locator("[data-problem-total]")).to_have_attribute("data-problem-total", "0")
    eventually(lambda: saved_config(caller, "draft")["flow_tools"][0]["name"] == "price")

    tool.get_by_role("button", name="Remove flow tool 1").click()
    eventually(lambda: saved_config(caller, "draft")["flow_tools"] == [])


def _retrieve_flow(workspace, name, knowledge_bases):
    """Input → a Retrieve node ("find") searching `knowledge_bases` → output."""
    graph = _chain(
        _node("ask", "input", "Question", 0, {"schema": MESSAGE}),
        _node(
            "find",
            "retrieve",
            "Find passages",
            260,
            {"query": "{{ inputs.message }}", "knowledge_bases": knowledge_bases},
        ),
        _node("result", "output", "Answer", 520, {}),
    )
    return Flow.objects.create(workspace=workspace, name=name, graph=graph)


def test_retrieve_node_picks_the_workspace_knowledge_bases(page, member, workspace, artifacts):
    from knowledge.models import KnowledgeBase

    designer = member(Role.EDITOR, username="kim")
    KnowledgeBase.objects.create(workspace=workspace, name="Handbook")
    KnowledgeBase.objects.create(workspace=workspace, name="Policies")
    flow = _retrieve_flow(workspace, "Answer from docs", ["Handbok"])
    login(page, designer)
    page.goto(f"/flows/{flow.pk}/")

    select(page, "find")
    picker = inspector(page).locator("[data-knowledge-picker]")
    expect(picker.get_by_label("Handbook")).not_to_be_checked()
    expect(picker.get_by_label("Policies")).not_to_be_checked()
    # The typo no knowledge base has is shown as such, not silently kept.
    missing = picker.locator('[data-missing-base="Handbok"]')
    expect(missing).to_contain_text("not in this workspace")
    page.screenshot(path=str(artifacts / "inspector-knowledge-bases.png"))
    missing.locator("input").click()  # unticked, the name leaves the node (and the list)
    picker.get_by_label("Handbook").check()
    expect(missing).to_have_count(0)
    eventually(lambda: saved_config(flow, "find")["knowledge_bases"] == ["Handbook"])
    picker.get_by_label("Policies").check()
    eventually(lambda: saved_config(flow, "find")["knowledge_bases"] == ["Handbook", "Policies"])


def test_a_missing_knowledge_base_warns_and_still_publishes(
    page, member, workspace, other_workspace, artifacts
):
    from knowledge.models import KnowledgeBase

    designer = member(Role.EDITOR, username="lee")
    KnowledgeBase.objects.create(workspace=workspace, name="Handbook")
    KnowledgeBase.objects.create(workspace=other_workspace, name="Policies")  # not this one's
    flow = _retrieve_flow(workspace, "Answer from policies", ["Policies"])
    login(page, designer)
    page.goto(f"/flows/{flow.pk}/")

    warning = (
        "Knowledge base “Policies” does not exist in this workspace (yet); the step will fail "
        "when it runs."
    )
    # A warning, not a problem: the toolbar, the node and the field say so.
    bar = page.locator("[data-problem-total]")
    expect(bar).to_have_attribute("data-warning-total", "1")
    expect(bar).to_have_attribute("data-problem-total", "0")
    expect(bar).to_have_text("1 warning")
    node = page.locator('.sb-node[data-node-id="find"]')
    expect(node.locator("[data-warning-count]")).to_have_text("1")
    expect(node).to_contain_text(warning)
    select(page, "find")
    expect(inspector(page).locator(".sb-field-warning")).to_have_text(warning)
    page.screenshot(path=str(artifacts / "inspector-knowledge-warning.png"))
    page.get_by_role("tab", name="Problems (1 warning)").click()
    listed = page.locator('[data-severity="warning"]')
    expect(listed).to_contain_text(warning)
    expect(page.locator("[data-warnings-only]")).to_contain_text("the flow can be published")
    page.screenshot(path=str(artifacts / "editor-knowledge-warning.png"))

    # Publishing says so and goes ahead.
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator("[data-publish-warnings]")).to_contain_text(warning)
    page.screenshot(path=str(artifacts / "editor-knowledge-warning-publish.png"))
    page.get_by_role("dialog").get_by_role("button", name="Publish").click()
    expect(page.get_by_text(f"Published v1. Warning: {warning}")).to_be_visible()
    assert flow.versions.filter(published=True, number=1).exists()

    # Picking the workspace's base instead: no warning left.
    page.get_by_role("tab", name="Inspector").click()
    picker = inspector(page).locator("[data-knowledge-picker]")
    picker.locator('[data-missing-base="Policies"] input').click()
    picker.get_by_label("Handbook").check()
    expect(bar).to_have_attribute("data-warning-total", "0")
    expect(bar).to_have_text("No problems")
    expect(node.locator("[data-warning-count]")).to_have_count(0)
