"""Templates render under a budget of time, loop iterations and size, enforced while rendering."""

from __future__ import annotations

import threading

import pytest

from runs.engine.limits import Deadline, stop_when
from runs.engine.memory import MemoryRun
from runs.engine.sandbox import budget
from runs.engine.templates import TemplateRenderError, render, render_value

from .fakes import FakeLlm, FakeTools
from .graphs import edge, graph, node, prompt

DATA = {
    "inputs": {"q": "hi", "xs": [1, 2, 3], "big": "a" * 1_000_000},
    "nodes": {},
    "feedback": "",
    "iteration": 0,
}
NESTED_RANGES = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"

BOMBS = {
    "nested ranges": (NESTED_RANGES, "loops ran more than 250,000 times"),
    "huge power": ("{{ 9**(9**7) }}", "9 ** 4782969 would be a number of over 100,000 bits"),
    "big string multiply": ("{{ 'a'*10**8 }}", "repeating 1 characters 100,000,000 times"),
    "list multiply": ("{{ [inputs.big] * 100 }}", "would be over 16,000,000 characters"),
    "repeated squaring": (
        "{% set a = 9**10000 %}{% set b = a*a %}{% set c = b*b %}{% set d = c*c %}"
        "{% set e = d*d %}{{ e }}",
        "a product would be a number of over 100,000 bits",
    ),
    "doubling by ~": (
        "{% set a = inputs.big ~ inputs.big %}{% set b = a ~ a %}{% set c = b ~ b %}"
        "{% set d = c ~ c %}{% set e = d ~ d %}x",
        "the joined text would be over",
    ),
    "doubling by +": (
        "{% set a = inputs.big + inputs.big %}{% set b = a + a %}{% set c = b + b %}"
        "{% set d = c + c %}{% set e = d + d %}x",
        "joining the two would be over",
    ),
    "many slices kept": (
        "{% set s = inputs.big * 15 %}"
        + "".join(f"{{% set s{i} = s[{i}:] %}}" for i in range(6))
        + "x",
        "it built over 64,000,000 characters of values",
    ),
    "percent width": ("{{ '%999999999d' % 1 }}", "the formatted text would be over"),
    "format width": ("{{ '{:>999999999}'.format(1) }}", "the formatted text would be over"),
    "format filter width": ("{{ '%999999999s'|format(1) }}", "the formatted text would be over"),
    "center filter": ("{{ 'x'|center(10**9) }}", "the centred text would be over"),
    "indent filter": (
        "{{ ('\\n' * 1000000)|indent(100, blank=true) }}",
        "the indented text would be over",
    ),
    "rjust method": ("{{ 'x'.rjust(10**9) }}", "the result of rjust() would be over"),
    "replace filter": ("{{ inputs.big|replace('', inputs.big) }}", "would be over"),
    "replace method": ("{{ inputs.big.replace('a', inputs.big) }}", "the result of replace()"),
    "join refs": (
        "{{ [inputs.big, inputs.big, inputs.big, inputs.big, inputs.big, inputs.big, inputs.big,"
        " inputs.big, inputs.big, inputs.big, inputs.big, inputs.big, inputs.big, inputs.big,"
        " inputs.big, inputs.big, inputs.big]|join }}",
        "the joined text would be over",
    ),
    "join separator": ("{{ range(50000)|join(inputs.big) }}", "the joined text would be over"),
    "to_bytes": ("{{ (1).to_bytes(10**9, 'big') }}", "to_bytes(1,000,000,000) would be over"),
    "batch fill": ("{{ [1]|batch(10**9, 'x')|list }}", "a batch size of 1,000,000,000"),
    "slices": ("{{ [1]|slice(10**9)|list }}", "a number of slices of 1,000,000,000"),
    "sum of lists": ("{{ [[1]]*10|sum(start=[]) }}", "sum adds numbers only"),
    "output of refs": (
        "{% set l = [inputs.big] * 15 %}{{ [l, l, l, l, l] }}",
        "a value would be over 16,000,000 characters",
    ),
    "output in a loop": (
        "{% set x %}{% for i in range(100) %}{{ inputs.big }}{% endfor %}{% endset %}x",
        "produced over 10,000,000 characters of output",
    ),
    "nested loops over text": (
        "{% for a in inputs.big %}{% for b in inputs.big %}{% endfor %}{% endfor %}",
        "loops ran more than 250,000 times",
    ),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_template_bomb_is_refused_with_a_clear_reason(name, monkeypatch):
    text, reason = BOMBS[name]
    # Each bomb must hit its own bound, not the render clock: on a loaded machine a quarter of
    # a million loop turns can take longer than the 1 s a render normally gets.
    monkeypatch.setattr(budget, "RENDER_SECONDS", 120.0)
    with pytest.raises(TemplateRenderError) as caught:
        render(text, DATA)
    assert caught.value.args[0].startswith("Template stopped: ")
    assert reason in caught.value.args[0]


def test_template_bomb_as_a_value_is_refused_too():
    with pytest.raises(TemplateRenderError, match="repeating 1 characters"):
        render_value("{{ 'a' * 10**9 }}", DATA)
    with pytest.raises(TemplateRenderError, match="value is over 16,000,000"):
        render_value("{{ [" + ", ".join(["inputs.big"] * 17) + "] }}", DATA)


def test_template_output_cap_is_checked_as_it_streams():
    with pytest.raises(TemplateRenderError, match="larger than 1,000,000 characters"):
        render("{{ inputs.big }}{{ inputs.big }}", DATA)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello {{ inputs.q }}!", "Hello hi!"),
        ("{% for x in inputs.xs %}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", "1,2,3"),
        ("{% for x in inputs.xs %}{{ loop.index }}/{{ loop.length }} {% endfor %}", "1/3 2/3 3/3 "),
        ("{% for x in [] %}x{% else %}none{% endfor %}", "none"),
        ("{% for x in inputs.xs if x > 1 %}{{ x }}{% endfor %}", "23"),
        ("{{ inputs.q ~ '!' ~ 3 }}", "hi!3"),
        ("{{ inputs.xs|join('-') }} {{ inputs.xs|map('string')|join }}", "1-2-3 123"),
        ("{{ '%s=%d' % ('n', 3) }} {{ '{}!'.format(inputs.q) }}", "n=3 hi!"),
        ("{{ 2**10 }} {{ 'ab' * 3 }} {{ [0] * 2 }} {{ inputs.xs|sum }}", "1024 ababab [0, 0] 6"),
        ("{% macro m(a) %}<{{ a }}>{% endmacro %}{{ m(1) }}{{ m(inputs.q) }}", "<1><hi>"),
        ("{% set x %}in {{ inputs.q }}{% endset %}{{ x|upper }}", "IN HI"),
        ("{% filter upper %}a{{ inputs.q }}{% endfilter %}", "AHI"),
        ("{{ inputs.q|center(6) }}|{{ inputs.q[::-1] }}|{{ inputs.xs[1:] }}", "  hi  |ih|[2, 3]"),
        ("{{ inputs.xs|tojson }} {{ {'a': 1}|tojson }}", '[1, 2, 3] {"a": 1}'),
        ("{{ 'a b'.split()|join(',') }} {{ 'x'.join(['1', '2']) }}", "a,b 1x2"),
        ("{{ inputs.big|length }} {{ inputs.big[:3] }}", "1000000 aaa"),
        ("{% for i in range(100000) %}{% endfor %}done", "done"),
    ],
)
def test_template_ordinary_templates_render_as_before(text, expected):
    assert render(text, DATA) == expected


def test_template_value_keeps_its_type():
    assert render_value("{{ inputs.xs }}", DATA) == [1, 2, 3]
    assert render_value("{{ inputs.xs|length + 1 }}", DATA) == 4


def test_template_deadline_stops_a_spinning_render(monkeypatch):
    monkeypatch.setattr(budget, "MAX_LOOP_ITERATIONS", 10**12)
    monkeypatch.setattr(budget, "RENDER_SECONDS", 0.2)
    with pytest.raises(TemplateRenderError, match=r"it ran for more than 0\.2 s"):
        render(NESTED_RANGES, DATA)


def test_template_spinning_render_lets_others_run_and_stops_on_cancel(monkeypatch):
    """Another render completes while the bomb spins; setting the stop flag ends the bomb."""
    monkeypatch.setattr(budget, "MAX_LOOP_ITERATIONS", 10**12)
    monkeypatch.setattr(budget, "RENDER_SECONDS", 120)
    spinning, cancelled, done = threading.Event(), threading.Event(), threading.Event()
    outcome = {}

    def should_stop():
        spinning.set()  # polled from inside the render: it is under way
        return cancelled.is_set()

    def bomb():
        try:
            with stop_when(should_stop):
                render(NESTED_RANGES, DATA)
        except TemplateRenderError as exc:
            outcome["error"] = str(exc)
        finally:
            done.set()

    worker = threading.Thread(target=bomb)
    worker.start()
    assert spinning.wait(30)
    assert render("{{ inputs.q }} {{ inputs.xs|sum }}", DATA) == "hi 6"
    other_finished_first = not done.is_set()
    cancelled.set()
    worker.join(60)
    assert other_finished_first, "the other render waited for the bomb"
    assert not worker.is_alive()
    assert outcome["error"] == "Template stopped: its run was cancelled."


def _bomb_flow(text: str) -> dict:
    return graph(
        [node("in", "input"), prompt("p", text), node("out", "output")],
        [edge("in", "p"), edge("p", "out")],
    )


@pytest.mark.parametrize("name", ["nested ranges", "huge power", "big string multiply"])
def test_template_bomb_fails_its_step_with_a_clear_reason(name):
    text, reason = BOMBS[name]
    llm = FakeLlm()
    run = MemoryRun(_bomb_flow(text), {"question": "q"}, llm=llm, tools=FakeTools())
    run.run()
    assert run.status == "failed"
    assert run.outcome.error_code == "template_error"
    assert reason in run.outcome.error_message
    assert llm.calls == []


def test_template_cancelled_run_stops_its_spinning_step(monkeypatch):
    """The step's thread stops at its render deadline even though nothing else tells it to."""
    monkeypatch.setattr(budget, "MAX_LOOP_ITERATIONS", 10**12)
    spinning = threading.Event()
    check = Deadline.check

    def watched(self):
        spinning.set()
        check(self)

    monkeypatch.setattr(Deadline, "check", watched)
    run = MemoryRun(_bomb_flow(NESTED_RANGES), {"question": "q"}, llm=FakeLlm(), tools=FakeTools())
    worker = threading.Thread(target=run.run)
    worker.start()
    assert spinning.wait(30)
    run.cancel()
    worker.join(60)  # MemoryRun waits for its step threads: this returns once the render stopped
    assert not worker.is_alive()
    assert run.status == "cancelled"
