"""Fuzz every operation of the API, as the OpenAPI document lists it, with a workspace owner:
random, huge, negative, unicode and malformed path, query and body values. Nothing answers 5xx,
and every error is the API's JSON shape.

Driven by `/api/openapi.json`, so an endpoint added later is fuzzed without touching this file.
`FUZZ_EXAMPLES_PER_OPERATION=50` explores further, by hand; the default keeps the suite quick.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.models import Flow
from runs.executor import InlineExecutor
from runs.models import Run
from runs.services import run_start
from tests.burst import BURST_GRAPH
from tests.runs.support import inline, memory_layer  # noqa: F401
from workspaces.models import ApiToken, Role

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES_PER_OPERATION", 10))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "\ud800",
    "🦜" * 30,
    "e\u0301",
    "\u202eevil",
    "{{ ''.__class__ }}",
    "../../etc/passwd",
    "%00",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "x" * 5000,
    "me",
    "running,waiting",
    "2026-01-01",
    "2026-13-45T99:99",
    "NaN",
    "١٢٣",  # Arabic-Indic digits: isdigit() but not an id
    "1e400",
    "0x10",
    "-0",
    "true",
]
HUGE_INTEGERS = [0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, 2**70, -(2**63) - 1, 10**30]
text = st.one_of(st.text(max_size=30), st.sampled_from(NASTY_TEXT))
# Boundary values twice as often as the rest: they are where databases overflow.
integers = st.one_of(
    st.sampled_from(HUGE_INTEGERS),
    st.sampled_from(HUGE_INTEGERS),
    st.integers(min_value=-(2**80), max_value=2**80),
)
scalars = st.one_of(
    st.none(), st.booleans(), integers, st.floats(allow_nan=True, allow_infinity=True), text
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=12,
)
MALFORMED_BODIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b'"text"',
    b"\xff\xfe\x00",
    b'{"a": NaN}',
    b'{"a": 1e99999}',
    b"[" * 5000 + b"]" * 5000,
    b'{"inputs": ' + b'{"k": ' * 300 + b"1" + b"}" * 300 + b"}",
]


def _resolve(document: dict, schema: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def from_schema(document: dict, schema: dict, depth: int = 0) -> st.SearchStrategy:
    """Values shaped like `schema` (often valid), mixed with anything at all."""
    schema = _resolve(document, schema)
    wild = json_values if depth < 2 else scalars
    if "anyOf" in schema:
        shaped = st.one_of([from_schema(document, s, depth) for s in schema["anyOf"]])
    elif "enum" in schema:
        shaped = st.sampled_from(schema["enum"])
    elif schema.get("type") == "integer":
        shaped = integers
    elif schema.get("type") == "number":
        shaped = st.one_of(integers, st.floats(allow_nan=False, allow_infinity=False))
    elif schema.get("type") == "boolean":
        shaped = st.booleans()
    elif schema.get("type") == "string":
        shaped = text
    elif schema.get("type") == "array":
        shaped = st.lists(from_schema(document, schema.get("items", {}), depth + 1), max_size=3)
    elif schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = [n for n in schema.get("required", []) if n in properties]
        optional = [n for n in properties if n not in required]
        shaped = st.fixed_dictionaries(
            {n: from_schema(document, properties[n], depth + 1) for n in required},
            optional={n: from_schema(document, properties[n], depth + 1) for n in optional},
        )
        if not properties:
            shaped = st.dictionaries(text, wild, max_size=4)
    else:
        shaped = wild
    return st.one_of(shaped, shaped, shaped, wild)


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    found = [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    # Deleting last, so the other operations still find the flows and runs to work on.
    return sorted(found, key=lambda op: (op[0] == "delete", op[1], op[0]))


@pytest.fixture
def world(member, workspace, inline):  # noqa: F811
    """A workspace owner with a flow, a published version, a finished run and a token."""
    owner = member(Role.OWNER)
    flow = Flow.objects.create(workspace=workspace, name="Double", graph=BURST_GRAPH)
    run = run_start(user=owner, flow=flow, inputs={"n": 2}, use_draft=True)
    InlineExecutor().advance(run.pk)
    ApiToken.issue(user=owner, name="fuzzed")
    return owner


@pytest.fixture
def no_rate_limits(settings):
    """The fuzz is about input, not volume: it must reach the handlers."""
    for name in ("SWITCHBOARD_RATE_WRITES", "SWITCHBOARD_RATE_RUN_STARTS"):
        settings.__setattr__(name, "100000/m")


def _ids() -> list[int]:
    """Ids that exist now (flows, runs, steps, versions…): a fuzzed path often hits real rows."""
    ids = set(Flow.objects.values_list("pk", flat=True)) | set(
        Run.objects.values_list("pk", flat=True)
    )
    return sorted(ids | {1, 2})


def _path_value(data, document: dict, parameter: dict) -> str:
    schema = _resolve(document, parameter.get("schema", {}))
    # An index into the ids of the moment, not the ids themselves: the strategy stays the same
    # while the fuzz creates and deletes rows.
    value = data.draw(
        st.one_of(
            st.integers(min_value=0, max_value=63).map(lambda i: _ids()[i % len(_ids())]),
            from_schema(document, schema),
            st.sampled_from(["abc", "-1", "1.5", " 1", "١", "%2F", "..", "9" * 40]),
        ),
        label=f"path {parameter['name']}",
    )
    rendered = json.dumps(value) if not isinstance(value, str) else value
    # Lone surrogates (drawn by st.text) go out as the bytes they stand for, as in `_query`.
    return quote((rendered.strip('"') or "x").encode("utf-8", "surrogatepass"), safe="")


def _query(data, document: dict, parameters: list[dict]) -> str:
    """Either one parameter alone (so a bad value is the only thing wrong and reaches as far
    as it can), or any of them at once."""
    names = [p["name"] for p in parameters if p["in"] == "query"]
    focus = data.draw(st.sampled_from([*names, None]), label="focus") if names else None
    pairs = []
    for parameter in parameters:
        if parameter["in"] != "query":
            continue
        if focus is not None and parameter["name"] != focus:
            continue
        if focus is None and not data.draw(st.booleans(), label="send"):
            continue
        value = data.draw(from_schema(document, parameter.get("schema", {})), label="query")
        rendered = value if isinstance(value, str) else json.dumps(value)
        pairs.append((parameter["name"], rendered.encode("utf-8", "surrogatepass")))
    if data.draw(st.booleans(), label="unknown query"):
        pairs.append((data.draw(st.sampled_from(["x", "limit", "__proto__"])), b"1"))
    return "?" + urlencode(pairs) if pairs else ""


def _body(data, document: dict, operation: dict) -> bytes | None:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    kind = data.draw(st.sampled_from(["shaped", "shaped", "random", "malformed", "none"]))
    if kind == "none" or (content is None and kind == "shaped"):
        return None
    if kind == "malformed":
        return data.draw(st.sampled_from(MALFORMED_BODIES))
    value = data.draw(
        from_schema(document, content["schema"]) if kind == "shaped" else json_values,
        label="body",
    )
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def test_every_operation_of_the_api_survives_fuzzing(world, client, no_rate_limits):
    client.force_login(world)
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operations = _operations(document)
    assert len(operations) >= 30
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    covered: set[str] = set()

    def fuzzer(method: str, path: str, operation: dict):
        parameters = operation.get("parameters", [])
        by_name = {p["name"]: p for p in parameters if p["in"] == "path"}

        @FUZZ
        @given(data=st.data())
        def fuzz(data):
            url = re.sub(
                r"{(\w+)}", lambda m: _path_value(data, document, by_name[m.group(1)]), path
            )
            url += _query(data, document, parameters)
            body = _body(data, document, operation)
            # generic(): a body on any method, sent as bytes exactly as drawn.
            answer = client.generic(
                method.upper(), url, data=body or b"", content_type="application/json"
            )
            statuses[answer.status_code] += 1
            covered.add(f"{method.upper()} {path}")
            where = f"{method.upper()} {url[:200]} body={(body or b'')[:200]!r}"
            if answer.status_code >= 500:
                failures.append(f"{answer.status_code} {where}: {answer.content[:300]!r}")
            assert answer.status_code < 500, failures[-1]
            if answer.status_code >= 400:
                assert answer["Content-Type"].startswith("application/json"), where
                shaped = answer.json()
                assert {"detail", "code"} <= set(shaped), (where, shaped)

        return fuzz

    for method, path, operation in operations:
        fuzzer(method, path, operation)()

    total = sum(statuses.values())
    fivexx = sum(n for code, n in statuses.items() if code >= 500)
    print(
        f"\nfuzzed {total} requests over {len(covered)} operations; statuses "
        f"{dict(sorted(statuses.items()))}; 5xx: {fivexx}"
    )
    assert covered == {f"{m.upper()} {p}" for m, p, _ in operations}
    assert fivexx == 0, failures
    # Not only refusals: the fuzz also reached the handlers and got answers.
    assert sum(n for code, n in statuses.items() if code < 300) > 0
