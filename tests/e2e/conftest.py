"""Browser tests: the app served by daphne against the test database, driven by Chromium.

Fixtures for every browser test (the editor's now, the run pages' later):
- `live_url`: the base URL of a daphne subprocess serving `config.asgi` on the test database
  (SQLite's file test DB, or Postgres' test_<name> with DATABASE_URL), started once a session.
- `browser` / `context` / `page`: Debian's Chromium through Playwright; `page` has `live_url` as
  its base URL, so `page.goto("/")` works. `new_page()` opens a page in a separate context
  (another person, another session).
- `login(page, user)`: log in through the real login form (users made by `make_user` have the
  password "pw-<username>").
- `artifacts`: test-artifacts/, for screenshots.

The server runs flows itself (embedded executor) against the session's scripted model server
(`tests/llmserver.py`): a test scripts replies through the `llm_server` fixture.

Every e2e test uses `transactional_db`, so what a test writes is committed and the server sees it.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import require_or_skip

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
VIEWPORT = {"width": 1440, "height": 900}
LLM_TEST_KEY = "sk-test-sentinel-key-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(llm_base_url: str | None = None) -> dict[str, str]:
    """The environment of the test process, pointed at the test database (and, given one, at
    the scripted model server)."""
    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["SQLITE_PATH"] = str(db["NAME"])
        env.pop("DATABASE_URL", None)
    else:
        url = urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{db['NAME']}"))
    env["SWITCHBOARD_DATA_DIR"] = str(settings.DATA_DIR)
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    env["SWITCHBOARD_NO_LOCAL_LLM"] = "1"
    # The browser tests' server runs flows itself, also in CI where REDIS_URL is set (the
    # Celery path has its own integration tests with a real worker).
    env["SWITCHBOARD_EXECUTOR"] = "embedded"
    # Its broadcasts and rate-limit counters in Redis apart from another session's server
    # (pytest-xdist runs one per worker, each with its own database and the same run ids).
    env["SWITCHBOARD_CELERY_QUEUE"] = f"switchboard-e2e-{os.getpid()}"
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.setdefault("LOG_LEVEL", "WARNING")
    # Model providers added in the settings pages point at the scripted server on 127.0.0.1.
    env["SWITCHBOARD_ALLOW_LOOPBACK"] = "1"
    if llm_base_url:
        # Flows the server runs talk to the scripted model server, never to a real provider.
        env["OPENAI_BASE_URL"] = llm_base_url
        env["OPENAI_API_KEY"] = LLM_TEST_KEY
        env["SWITCHBOARD_DEFAULT_MODEL"] = "openai/gpt-4o-mini"
    return env


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen on {port} in {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="package")
def live_url(django_db_setup, tmp_path_factory, _llm_server) -> Iterator[str]:
    """Serve the ASGI app (HTTP and websockets) on the test database from a daphne subprocess.

    Package-scoped: the server's embedded executor sweeps the test database every few seconds,
    so it must be gone before the tests after this package run (it took a step a killed Celery
    worker had reserved in tests/runs/test_recovery_celery.py, and held the database open at
    teardown)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            cwd=settings.BASE_DIR,
            env=_server_env(_llm_server.base_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(port, process, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(autouse=True)
def _committed_data(transactional_db) -> None:
    """Commit what the test writes so the server process can read it."""


@pytest.fixture(scope="package")
def browser():
    """Chromium for the browser tests of this package; stopped when the package is done.

    Playwright's sync API keeps an event loop running in this thread while it is open. The ORM
    calls tests make between browser steps are plain synchronous code, so Django's async guard
    is lifted meanwhile; closing at the end of the package leaves later tests a thread without
    a running loop, as they expect.
    """
    available = Path(CHROMIUM).exists() or shutil.which("chromium") is not None
    require_or_skip(available, f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _chromium(sync_playwright)
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _chromium(sync_playwright):
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=CHROMIUM_ARGS,
        )
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser, live_url):
    """Open pages in fresh browser contexts (separate cookies: separate people or sessions)."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_url, viewport=VIEWPORT)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def login(page, user, password: str | None = None) -> None:
    """Log in through the login form and land on the flows list."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password or f"pw-{user.get_username()}")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def eventually(check, timeout: float = 10.0, interval: float = 0.2):
    """Retry `check` (an assertion or a truthy callable) until it passes or `timeout` ends."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result is None or result:
                return result
            raise AssertionError(f"{check} returned {result!r}")
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
