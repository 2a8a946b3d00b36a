"""Shared fixtures: users with roles in workspaces, and API clients (session and token)."""

import json
import os

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from workspaces.models import ApiToken, Membership, Role, Workspace

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_or_skip(available: bool, reason: str) -> None:
    """Skip a test whose service is missing on a laptop; in CI a missing service is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`--dist loadgroup`), a file's tests stay on one worker (its
    module-scoped servers and clusters start once), and the local model's on one worker of their
    own: the model server listens on a fixed port, and two of them on two cores would crawl."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        group = "local-model" if item.get_closest_marker("local_llm") else item.path.as_posix()
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _cache_of_its_own(settings, request):
    """Each test gets an empty cache of its own (rate-limit counters are keyed by user id, and
    ids repeat across tests), in memory whatever REDIS_URL says, and no embeddings or learned
    routers recalled by the process from an earlier test (their rows were rolled back, and a
    router kept for workspace 1 would route the next test's workspace 1 for 10 s), and no
    router refit started by an earlier test's sweep (it could hold the fitting lock into the
    next test, whose refit would then do nothing)."""
    from evals.router.loading import forget_routers
    from evals.router.refit import refits_settle
    from knowledge.embeddings import forget_recent

    forget_recent()
    forget_routers()
    refits_settle()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": request.node.nodeid,
        }
    }
    yield
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        return get_user_model().objects.create_user(
            username=username, password="pw-" + username, **extra
        )

    return make


@pytest.fixture
def workspace(db):
    return Workspace.objects.create(name="Acme", slug="acme")


@pytest.fixture
def other_workspace(db):
    return Workspace.objects.create(name="Other", slug="other")


@pytest.fixture
def member(make_user, workspace):
    """Return a function creating a user with the given role in `workspace`."""

    def make(role: str = Role.EDITOR, username: str | None = None, ws=None):
        user = make_user(username or f"{role}-user")
        Membership.objects.create(workspace=ws or workspace, user=user, role=role)
        return user

    return make


class Api:
    """A small JSON client over Django's test client; `token` switches to Bearer auth."""

    def __init__(self, user=None, token: str | None = None, csrf: bool = False):
        self.client = Client(enforce_csrf_checks=csrf)
        self.headers = {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif user is not None:
            self.client.force_login(user)

    def _call(self, method: str, path: str, body=None, **extra):
        kwargs = {"headers": {**self.headers, **extra.pop("headers", {})}}
        if body is not None:
            if isinstance(body, str):
                # As sent by a client that encodes whatever it is given: a lone surrogate (the
                # fuzzers draw them) goes out as the bytes it stands for, invalid UTF-8.
                body = body.encode("utf-8", "surrogatepass")
            kwargs["data"] = body if isinstance(body, bytes) else json.dumps(body)
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method)(path, **kwargs, **extra)

    def get(self, path, **kw):
        return self._call("get", path, **kw)

    def post(self, path, body=None, **kw):
        return self._call("post", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self._call("put", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self._call("patch", path, body, **kw)

    def delete(self, path, **kw):
        return self._call("delete", path, **kw)


@pytest.fixture
def api_for():
    def make(user=None, *, token: bool = False, csrf: bool = False):
        if token and user is not None:
            _, raw = ApiToken.issue(user=user, name="test")
            return Api(token=raw)
        return Api(user=user, csrf=csrf)

    return make


@pytest.fixture(scope="session")
def _llm_server():
    from tests.llmserver import ScriptedLLM

    server = ScriptedLLM().start()
    yield server
    server.stop()


@pytest.fixture
def llm_server(_llm_server, settings, monkeypatch):
    """The scripted OpenAI-compatible server, reset, with the `openai` provider pointed at it."""
    from runs.services.ports import reset_llm_client

    _llm_server.reset()
    providers = {name: dict(cfg) for name, cfg in settings.SWITCHBOARD_PROVIDERS.items()}
    providers["openai"]["base_url"] = _llm_server.base_url
    settings.SWITCHBOARD_PROVIDERS = providers
    settings.SWITCHBOARD_DEFAULT_MODEL = "openai/gpt-4o-mini"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-sentinel-key-0123456789abcdef")
    reset_llm_client()
    yield _llm_server
    reset_llm_client()


@pytest.fixture
def demo(db, make_user):
    """The demo workspace and flows, with an owner account."""
    from django.core.management import call_command

    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    owner = make_user("chef")
    demo_ws = Workspace.objects.get(slug="demo")
    Membership.objects.create(workspace=demo_ws, user=owner, role=Role.OWNER)
    return {"workspace": demo_ws, "owner": owner}


@pytest.fixture(scope="session", autouse=True)
def _pools_closed_before_teardown(django_db_setup, django_db_blocker, pytestconfig):
    """Close this process's PostgreSQL connection pools before the test database is dropped
    (their idle connections would otherwise keep it open: "being accessed by other users")."""
    yield
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        close_pool = getattr(conn, "close_pool", None)
        if close_pool is not None:
            close_pool()
    with django_db_blocker.unblock():
        leftover = _leftover_sessions_ended(connections["default"])
    if leftover:
        plugins = pytestconfig.pluginmanager
        terminal = plugins.get_plugin("terminalreporter")
        with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
            terminal.write_line("Sessions left on the test database (ended before the drop):")
            for pid, application, state, since, query in leftover:
                terminal.write_line(f"  pid {pid} {application!r} {state} since {since}: {query}")


def _leftover_sessions_ended(conn) -> list[tuple]:
    """The sessions still on the test database once the pools are closed (a thread or a process
    that kept a connection: the drop then warns "being accessed by other users"), ended so that
    the database can be dropped.

    Asked over a connection of its own: through Django's, the closed pool would be opened again
    and its new connections (`set_config('TimeZone')`) would be listed as left over."""
    if conn.vendor != "postgresql":
        return []
    import psycopg

    params = conn.settings_dict
    with psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        autocommit=True,
    ) as own:
        leftover = own.execute(
            "SELECT pid, application_name, state, backend_start, left(query, 120) "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        for pid, *_ in leftover:
            own.execute("SELECT pg_terminate_backend(%s)", [pid])
    return leftover
