"""An agent's sub-steps over the run's websocket: streamed live while the step works, then the
stored `step.substep` events, in the order the step did them."""

# Fixtures come from .support by import; using them as parameters is not a redefinition.
# ruff: noqa: F811

import pytest
from channels.db import database_sync_to_async

from builder.services import flow_create
from runs.executor import InlineExecutor
from runs.services import run_start
from tests.llmserver import text, tool_call

from .support import fast_passwords, inline, memory_layer, token_for  # noqa: F401
from .test_ws_consumer import close_thread_connections, connect, receive_until  # noqa: F401

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def one_node_flow(node: dict, schema: dict, sample: dict | None = None) -> dict:
    """input → `node` → output."""
    middle = {**node, "position": {"x": 200, "y": 0}}
    return {
        "schema_version": 1,
        "nodes": [
            {"id": "ask", "type": "input", "position": {"x": 0, "y": 0},
             "config": {"schema": schema, **({"sample": sample} if sample else {})}},
            middle,
            {"id": "result", "type": "output", "position": {"x": 400, "y": 0}, "config": {}},
        ],
        "edges": [
            {"id": "e1", "source": "ask", "source_port": "out", "target": middle["id"],
             "target_port": "in"},
            {"id": "e2", "source": middle["id"], "source_port": "out", "target": "result",
             "target_port": "in"},
        ],
    }  # fmt: skip


def agent_flow() -> dict:
    schema = {"type": "object", "properties": {"question": {"type": "string"}}}
    goal = "Work out {{ inputs.question }}"
    agent = {"id": "agent", "type": "agent", "config": {"goal": goal, "tools": ["calculator"]}}
    return one_node_flow(agent, schema, {"question": "2 + 2?"})


@pytest.fixture
def queued_agent_run(demo, inline):
    flow = flow_create(
        user=demo["owner"], workspace_id=demo["workspace"].pk, name="Sums", graph=agent_flow()
    )
    inline.script(tool_call("calculator", {"expression": "2 + 2"}), text("4"))
    return run_start(user=demo["owner"], flow=flow, inputs=None)


async def streamed(run_id: int, user) -> list[dict]:
    """Everything a websocket on the run receives while it executes, up to run.succeeded."""
    token = await database_sync_to_async(token_for)(user)
    communicator = connect(f"/ws/runs/{run_id}/", token=token)
    assert (await communicator.connect())[0]
    await receive_until(communicator, lambda m: m["type"] == "ready")
    await database_sync_to_async(InlineExecutor().advance)(run_id)
    messages = await receive_until(communicator, lambda m: m.get("kind") == "run.succeeded")
    await communicator.disconnect()
    return messages


async def test_agent_substeps_stream_live_then_as_stored_events(queued_agent_run, demo):
    messages = await streamed(queued_agent_run.pk, demo["owner"])
    parts = [m for m in messages if m.get("kind") == "step.substep"]
    live = [m for m in parts if m["type"] == "delta"]
    stored = [m for m in parts if m["type"] == "event"]
    expected = ["tool_call", "tool_result", "answer"]
    assert [m["data"]["type"] for m in live] == expected
    assert [m["data"]["type"] for m in stored] == expected
    assert all(m["seq"] is None for m in live) and all(m["seq"] for m in stored)
    assert {m["data"]["step_id"] for m in parts} == {stored[0]["data"]["step_id"]}
    assert [m["data"]["index"] for m in live] == [m["data"]["index"] for m in stored]
    # Each live one arrives before the step's result is committed.
    first_stored = messages.index(stored[0])
    assert all(messages.index(m) < first_stored for m in live)


def prompt_flow() -> dict:
    write = {"id": "write", "type": "prompt", "config": {"prompt": "Write a long answer"}}
    return one_node_flow(write, {"type": "object", "properties": {}})


async def test_a_streamed_answer_goes_out_in_few_deltas_that_add_up_to_it(demo, inline):
    # The scripted server streams one chunk per word, all at once: 200 chunks. Broadcast one
    # by one, that was 200 websocket messages (and, with Redis, 200 group_sends); the deltas
    # go out at most every DELTA_INTERVAL instead, the first at once, the rest with the step.
    answer = " ".join(f"word{i}" for i in range(200))
    owner = demo["owner"]

    def start():
        flow = flow_create(
            user=owner, workspace_id=demo["workspace"].pk, name="Long", graph=prompt_flow()
        )
        inline.script(text(answer))
        return run_start(user=owner, flow=flow, inputs=None)

    run = await database_sync_to_async(start)()
    messages = await streamed(run.pk, owner)
    deltas = [m for m in messages if m.get("kind") == "step.delta"]
    assert "".join(m["data"]["text"] for m in deltas) == answer
    assert 1 <= len(deltas) < 200 // 4
    assert all(m["type"] == "delta" and m["node_id"] == "write" for m in deltas)
    done = next(i for i, m in enumerate(messages) if m.get("kind") == "step.succeeded"
                and m.get("node_id") == "write")  # fmt: skip
    assert all(messages.index(m) < done for m in deltas)  # all before the step's result
