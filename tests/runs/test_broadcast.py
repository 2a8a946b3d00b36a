"""The broadcast loop sends one message per group for what was committed together."""

from runs.services.events import coalesced


def event(seq, kind="step.succeeded"):
    return {"run_id": 7, "seq": seq, "kind": kind}


def test_one_message_per_group_keeps_each_group_s_order():
    messages = [
        ("run_7", {"type": "run.event", "event": event(1)}),
        ("workspace_1", {"type": "workspace.event", "event": event(1, "run.started")}),
        ("run_7", {"type": "run.event", "event": event(2)}),
        ("run_7", {"type": "run.event", "event": event(3)}),
        ("workspace_1", {"type": "workspace.event", "event": event(3, "run.succeeded")}),
    ]
    assert coalesced(messages) == [
        ("run_7", {"type": "run.events", "events": [event(1), event(2), event(3)]}),
        ("workspace_1", {"type": "workspace.events",
                         "events": [event(1, "run.started"), event(3, "run.succeeded")]}),
    ]  # fmt: skip


def test_a_lone_message_goes_as_it_is():
    message = {"type": "run.event", "event": event(4)}
    assert coalesced([("run_7", message)]) == [("run_7", message)]
    assert coalesced([]) == []
