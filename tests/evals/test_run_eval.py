# ruff: noqa: F811
"""`manage.py run_eval`: exit 0 when the gate holds, 1 on a regression against the last
evaluation or a pass rate under --min-pass-rate, 2 on bad arguments; and the comparison it
rests on (regressions first)."""

import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from builder.services import flow_publish
from evals.compare import evaluations_compare
from evals.models import Evaluation
from tests.llmserver import text
from tests.runs.support import ROOT, database_env, fast_passwords, inline, memory_layer  # noqa: F401
from workspaces.models import Role

from .support import capitals_dataset, qa_flow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def setup(workspace, member):
    owner = member(Role.OWNER, "ci-owner")
    flow = qa_flow(workspace, owner, name="CI answers")
    # A published version: draft snapshots have no number to ask for with --version.
    version = flow_publish(flow=flow, user=owner)
    dataset = capitals_dataset(workspace, owner, count=4)
    return owner, flow, version, dataset


def run_eval(owner, flow, dataset, *extra):
    out = []

    class Out:
        def write(self, value):
            out.append(value)

        def flush(self):
            pass

    try:
        call_command(
            "run_eval",
            str(flow.pk),
            dataset.name,
            "--user",
            owner.username,
            "--scorers",
            '[{"type": "contains"}]',
            *extra,
            stdout=Out(),
        )
    except CommandError as exc:
        return exc.returncode, "".join(out) + str(exc)
    return 0, "".join(out)


def test_run_eval_passes_then_fails_on_a_regression(inline, setup):
    owner, flow, version, dataset = setup
    code, out = run_eval(owner, flow, dataset, "--version", str(version.number))
    assert code == 0, out
    assert "4/4 passed (100.0%)" in out and "OK" in out

    inline.on("Rome", text("No idea."))  # the model now gets one item wrong
    code, out = run_eval(owner, flow, dataset, "--version", str(version.number))
    assert code == 1
    assert "1 regression(s)" in out and "1 item(s) regressed" in out
    assert "regression: item 3" in out

    code, out = run_eval(
        owner,
        flow,
        dataset,
        "--version",
        str(version.number),
        "--allow-regressions",
        "--min-pass-rate",
        "70",
    )
    assert code == 0, out  # 75% ≥ 70%, regressions allowed

    code, out = run_eval(owner, flow, dataset, "--allow-regressions", "--min-pass-rate", "0.8")
    assert code == 1 and "pass rate 75.0% is below 80.0%" in out
    assert Evaluation.objects.filter(flow=flow).count() == 4


def test_run_eval_compare_puts_regressions_first(inline, setup):
    owner, flow, _, dataset = setup
    assert run_eval(owner, flow, dataset)[0] == 0
    inline.on("Lima", text("Unknown."))
    run_eval(owner, flow, dataset, "--allow-regressions")
    first, second = Evaluation.objects.filter(flow=flow).order_by("pk")
    comparison = evaluations_compare(first, second)
    assert [d.change for d in comparison.items][:1] == ["regression"]
    assert comparison.items[0].inputs == {"question": "capital 3 Lima"}
    assert comparison.counts["regression"] == 1 and comparison.counts["same"] == 3
    assert comparison.delta("passed") == -1


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-flow", "Capitals"],
        ["CI answers", "no-such-dataset"],
        ["CI answers", "Capitals", "--min-pass-rate", "250"],
        ["CI answers", "Capitals", "--scorers", "[oops"],
        ["CI answers", "Capitals", "--scorers", '[{"type": "nope"}]'],
        ["CI answers", "Capitals", "--version", "99"],
    ],
)
def test_run_eval_bad_arguments_exit_2(inline, setup, args):
    owner = setup[0]
    with pytest.raises(CommandError) as failed:
        call_command("run_eval", *args, "--user", owner.username)
    assert failed.value.returncode == 2


def test_run_eval_exit_code_of_the_process(setup):
    owner = setup[0]
    import os

    env = {**os.environ, **database_env()}
    done = subprocess.run(
        [sys.executable, "manage.py", "run_eval", "CI answers", "nope", "--user", owner.username],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert 'No dataset "nope"' in done.stderr
