"""The compare page: a run against its re-run or reproduction, node by node and in total."""

import re

import pytest

from builder.models import Flow, FlowVersion
from builder.services import flow_save_draft
from runs.executor import InlineExecutor
from runs.models import Run, Step
from runs.services import run_start
from runs.services.reruns import run_reproduce, run_rerun
from tests.builder.graphs import base_graph
from tests.llmserver import text
from workspaces.models import Membership, Role, Workspace

from .support import fast_passwords  # noqa: F401
from .support import finish_inline as finish


@pytest.fixture
def recipe_run(demo, llm_server):
    flow = Flow.objects.get(workspace=demo["workspace"], name="Recipe assistant")
    run = finish(run_start(user=demo["owner"], flow=flow, inputs=None), demo["owner"])
    assert run.status == "succeeded"
    return run


@pytest.fixture
def rerun_from_instructions(recipe_run, demo, llm_server):
    """Re-run from the instructions step after editing its prompt on the draft."""
    flow = recipe_run.flow
    graph = flow.graph
    for node in graph["nodes"]:
        if node["id"] == "instructions":
            node["config"]["prompt"] = "NEW: steps for {{ inputs.dish }}, please."
    flow_save_draft(flow=flow, graph=graph, revision=flow.revision)
    llm_server.on(
        "NEW:", text("1. Heat the oven.\n2. <script>alert(1)</script> Layer it.\n3. Bake.")
    )
    rerun = run_rerun(user=demo["owner"], run=recipe_run, from_node="instructions", use_draft=True)
    return finish(rerun, demo["owner"])


def url(left, right):
    return f"/runs/{left.pk}/compare/{right.pk}/"


def node_row(content: str, node_id: str) -> str:
    """The node's row in the node-by-node table."""
    match = re.search(rf'<tr class="[^"]*" data-compare-node="{node_id}".*?</tr>', content, re.S)
    assert match, f"no row for {node_id}"
    return match.group(0)


def diff_card(content: str, node_id: str) -> str:
    """The node's card in "What changed"."""
    match = re.search(rf'<article [^>]*data-diff-node="{node_id}".*?</article>', content, re.S)
    assert match, f"no diff for {node_id}"
    return match.group(0)


def test_compare_requires_login(client, db):
    response = client.get("/runs/1/compare/2/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_compare_run_and_rerun_from_step(client, demo, recipe_run, rerun_from_instructions):
    client.force_login(demo["owner"])
    response = client.get(url(recipe_run, rerun_from_instructions))
    assert response.status_code == 200
    content = response.content.decode()
    assert "re-runs" in content and "from the step “Cooking instructions”" in content
    changed = node_row(content, "instructions")
    assert "is-changed" in changed and 'data-changed="true"' in changed
    assert 'href="#diff-instructions"' in changed
    diff = diff_card(content, "instructions")
    assert 'data-testid="output-diff"' in diff and "<ins>" in diff and "<del>" in diff
    research = node_row(content, "research")
    assert 'data-changed="false"' in research and 'data-reused="true"' in research
    assert ">Reused<" in research
    assert re.search(r'data-testid="cost-delta">\s*Saved \$', content)
    assert "reused from #" in content
    # The edit is shown next to the output change: the prompt setting and the prompt sent.
    assert 'data-testid="config-diff"' in diff and "NEW:" in diff
    assert 'data-testid="input-diff"' in diff


def test_compare_marks_an_edited_node_whose_output_stayed_the_same(
    client, demo, recipe_run, llm_server
):
    """A prompt edited and re-run that happens to answer the same is "Edited", never "Same"."""
    flow = recipe_run.flow
    graph = flow.graph
    for node in graph["nodes"]:
        if node["id"] == "shopping":
            node["config"]["prompt"] += " Keep it short."
    flow_save_draft(flow=flow, graph=graph, revision=flow.revision)
    rerun = finish(
        run_rerun(user=demo["owner"], run=recipe_run, from_node="shopping", use_draft=True),
        demo["owner"],
    )
    client.force_login(demo["owner"])
    content = client.get(url(recipe_run, rerun)).content.decode()
    shopping = node_row(content, "shopping")
    if 'data-changed="false"' in shopping:  # the scripted model gave the same answer
        assert ">Same<" not in shopping and 'data-testid="node-edited"' in shopping
    card = diff_card(content, "shopping")
    assert 'data-testid="config-diff"' in card and "Keep it short." in card
    research = node_row(content, "research")  # untouched and reused: still the same
    assert ">Same<" in research


def test_compare_claims_no_saving_while_a_run_is_unfinished(client, demo, recipe_run):
    unfinished = run_rerun(user=demo["owner"], run=recipe_run, from_node="instructions")
    client.force_login(demo["owner"])
    content = client.get(url(recipe_run, unfinished)).content.decode()
    delta = re.search(r'data-testid="cost-delta">(.*?)</span>', content, re.S).group(1)
    assert "Saved" not in delta and "the total is known when both runs end" in delta


def test_compare_escapes_llm_output(client, demo, recipe_run, rerun_from_instructions):
    client.force_login(demo["owner"])
    content = client.get(url(recipe_run, rerun_from_instructions)).content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_compare_reproduction_says_every_output_matched(client, demo, recipe_run, llm_server):
    copy = run_reproduce(user=demo["owner"], run=recipe_run)
    InlineExecutor().advance(copy.pk)
    client.force_login(demo["owner"])
    content = client.get(url(recipe_run, copy)).content.decode()
    assert 'data-match="true"' in content
    assert "Reproduced exactly: every output matched." in content
    assert 'data-changed="true"' not in content


def test_compare_reproduction_that_diverged_says_so(client, demo, recipe_run):
    copy = run_reproduce(user=demo["owner"], run=recipe_run)
    InlineExecutor().advance(copy.pk)
    Step.objects.filter(run=copy, node_id="shopping").update(output="Something else entirely")
    client.force_login(demo["owner"])
    content = client.get(url(recipe_run, copy)).content.decode()
    assert 'data-match="false"' in content
    assert "Not reproduced: 1 of" in content
    assert 'data-changed="true"' in node_row(content, "shopping")
    assert "Something else entirely" in diff_card(content, "shopping")


def test_compare_unfinished_reproduction_is_pending(client, demo, recipe_run):
    copy = run_reproduce(user=demo["owner"], run=recipe_run)
    client.force_login(demo["owner"])
    content = client.get(url(recipe_run, copy)).content.decode()
    assert 'data-match="pending"' in content
    assert f"[{copy.pk}]" in content.replace(" ", "")  # watched by compare.js


def test_compare_foreign_and_impossible_runs_are_404(client, demo, recipe_run, make_user):
    other = Workspace.objects.create(name="Elsewhere", slug="elsewhere")
    stranger = make_user("stranger")
    Membership.objects.create(workspace=other, user=stranger, role=Role.OWNER)
    flow = Flow.objects.create(workspace=other, name="Theirs", graph=base_graph())
    version = FlowVersion.objects.create(flow=flow, number=1, graph=base_graph(), published=True)
    theirs = Run.objects.create(flow=flow, version=version, workspace=other, status="succeeded")
    client.force_login(demo["owner"])
    assert client.get(url(recipe_run, theirs)).status_code == 404
    assert client.get(url(theirs, recipe_run)).status_code == 404
    assert client.get(f"/runs/{recipe_run.pk}/compare/99999999/").status_code == 404
    huge = "/runs/99999999999999999999999/compare/1/"
    assert client.get(huge).status_code == 404
    client.force_login(stranger)
    assert client.get(url(recipe_run, recipe_run)).status_code == 404


def test_compare_unrelated_runs_and_query_strings(client, demo, recipe_run, llm_server):
    second = finish(
        run_start(user=demo["owner"], flow=recipe_run.flow, inputs=None),
        demo["owner"],
    )
    client.force_login(demo["owner"])
    response = client.get(url(recipe_run, second) + "?x=%00&page=-1")
    assert response.status_code == 200
    assert "compared node by node" in response.content.decode()
    assert client.get(url(recipe_run, recipe_run)).status_code == 200
