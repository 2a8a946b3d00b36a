"""Re-running from a step after an agent reuses the agent's output and brings its recorded
sub-steps along, so the new run's timeline shows how that output was reached."""

# Fixtures come from .test_agent_runs by import; using them is not a redefinition.
# ruff: noqa: F811

import pytest

from runs.executor import InlineExecutor
from runs.models import Step
from runs.services.reruns import run_rerun
from runs.views.live import _substeps

from .test_agent_runs import agent_run, editor, handbook, substeps  # noqa: F401

pytestmark = pytest.mark.django_db


def test_rerun_after_the_agent_copies_its_substeps(agent_run, llm_server, editor):
    original = substeps(agent_run)
    assert len(original) == 6
    llm_server.reset()

    again = run_rerun(user=editor, run=agent_run, from_node="result")
    InlineExecutor().advance(again.pk)
    again.refresh_from_db()

    assert again.status == "succeeded", (again.error_code, again.error_message)
    assert llm_server.call_count == 0 and llm_server.embedding_requests == []
    agent = Step.objects.get(run=again, node_id="agent")
    assert agent.reused and agent.output == Step.objects.get(run=agent_run, node_id="agent").output
    copied = substeps(again)
    assert [d["step_id"] for d in copied] == [agent.pk] * 6
    strip = [{k: v for k, v in d.items() if k != "step_id"} for d in original]
    assert [{k: v for k, v in d.items() if k != "step_id"} for d in copied] == strip
    # The run page's timeline nests them under the reused agent step.
    assert [entry["index"] for entry in _substeps(again)[agent.pk]] == [
        d["index"] for d in original
    ]
    # Each sub-step comes before the reused step's own event, as in a run that executed it.
    kinds = list(again.events.filter(node_id="agent").values_list("kind", flat=True))
    assert kinds == ["step.substep"] * 6 + ["step.succeeded"]
