"""Every integer an endpoint takes is bounded: an id past what the database holds (2**63-1) is a
422 that names the field on the API, a 404 on a page, never a 500.

Driven by the OpenAPI document and the URL resolver, so an endpoint or a page added later is
covered without touching this file.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from config.converters import DbIdConverter
from config.schemas import MAX_DB_ID
from workspaces.models import Role

HUGE = 2**70  # 1180591620717411303424: the value of the original report
HUGE_VALUES = [HUGE, MAX_DB_ID + 1, -1, 0]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner_api(api_for, member):
    return api_for(member(Role.OWNER))


def _schema(client) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _is_integer(document: dict, schema: dict) -> bool:
    schema = _resolve(document, schema)
    if schema.get("type") == "integer":
        return True
    return any(_is_integer(document, s) for s in schema.get("anyOf", []) + schema.get("allOf", []))


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def integer_inputs(document: dict) -> list[tuple[str, str, str, str]]:
    """(method, path, where, name) for every integer parameter and top-level body field."""
    found = []
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if _is_integer(document, parameter.get("schema", {})):
                found.append((method, path, parameter["in"], parameter["name"]))
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            schema = _resolve(document, body["schema"])
            for name, field in schema.get("properties", {}).items():
                if _is_integer(document, field):
                    found.append((method, path, "body", name))
    return found


def _url(path: str, params: dict[str, Any]) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(params.get(m.group(1), 1)), path)


def test_the_schema_has_integer_inputs_of_every_kind(owner_api):
    """The parametrized test below is not vacuous: ids in paths, queries and bodies are seen."""
    kinds = {where for _, _, where, _ in integer_inputs(_schema(owner_api))}
    assert {"path", "query", "body"} <= kinds


def test_every_integer_input_of_the_api_refuses_out_of_range_values(owner_api):
    document = _schema(owner_api)
    checked = 0
    for method, path, where, name in integer_inputs(document):
        for value in HUGE_VALUES:
            query, body = "", ({} if method in {"post", "put", "patch"} else None)
            if where == "path":
                url = _url(path, {name: value})
            else:
                url = _url(path, {})
                if where == "query":
                    query = f"?{name}={value}"
                else:
                    body = {name: value}
            if where == "path" and value < 0:
                continue  # "-1" does not match a path's digits: a routing 404, checked below
            response = getattr(owner_api, method)(
                url + query, **({} if body is None else {"body": body})
            )
            where_what = f"{method.upper()} {url}{query} {body or ''}"
            assert response.status_code < 500, (where_what, response.content[:300])
            if where == "query" and name == "after" and value == 0:
                continue  # 0 is a valid cursor: "from the start"
            if where == "query" and name == "offset" and value == 0:
                continue
            if response.status_code == 404 and where == "path":
                continue  # 0 is within range for a path's digits but is nobody's id
            assert response.status_code == 422, (where_what, response.content[:300])
            problems = response.json()["detail"]
            assert any(name in p["loc"] for p in problems), (where_what, problems)
            checked += 1
    print(f"\n{checked} out-of-range integer inputs refused with 422")
    assert checked > 20


def test_the_reported_request_is_a_clear_422(owner_api):
    response = owner_api.get("/api/runs?workspace=1180591620717411303424")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["detail"][0]["loc"][-1] == "workspace"
    assert "less than or equal to 9223372036854775807" in body["detail"][0]["msg"]


def test_offsets_are_bounded(owner_api):
    assert owner_api.get(f"/api/runs?offset={10**12}").status_code == 422
    assert owner_api.get("/api/runs?offset=1000").status_code == 200


def _page_patterns(resolvers=None, prefix: str = ""):
    """Every page route with an id converter, as a path template with `{name}` holes."""
    for entry in (resolvers or get_resolver()).url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("api/"):
                continue
            yield from _page_patterns(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            converters = entry.pattern.converters
            if any(isinstance(c, DbIdConverter) for c in converters.values()):
                yield prefix + re.sub(r"<\w+:(\w+)>", r"{\1}", route), sorted(converters)


def test_every_page_with_an_id_uses_the_bounded_converter():
    """No page route takes a bare `<int:...>` (it would pass an overflowing id to the ORM)."""

    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry, prefix + str(entry.pattern))
            else:
                yield prefix + str(entry.pattern)

    # The API checks its ids itself (422, the test above); admin/ is Django's own.
    routes = [r for r in walk(get_resolver()) if not r.startswith(("admin/", "api/"))]
    assert not [r for r in routes if "<int:" in r], routes
    assert len(list(_page_patterns())) >= 5


@pytest.mark.parametrize("value", [str(HUGE), str(MAX_DB_ID + 1), "9" * 30, "0"])
def test_every_page_with_an_id_answers_404_for_out_of_range_ids(client, member, value):
    client.force_login(member(Role.OWNER))
    for template, names in _page_patterns():
        for name in names:
            url = "/" + template.format(**{n: (value if n == name else "1") for n in names})
            response = client.get(url)
            assert response.status_code == 404, (url, response.status_code)


def test_a_websocket_for_an_out_of_range_run_id_is_not_routed():
    from runs.routing import websocket_urlpatterns

    def routed(path: str) -> bool:
        return any(p.pattern.match(path) for p in websocket_urlpatterns)

    assert routed(f"ws/runs/{MAX_DB_ID}/")
    assert not routed(f"ws/runs/{MAX_DB_ID + 1}/")
    assert not routed(f"ws/runs/{HUGE}/")
