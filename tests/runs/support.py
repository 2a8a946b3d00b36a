"""Helpers for the runs API, websocket, recovery and Celery tests: executors, waiting, and the
real processes (daphne, Celery worker and beat) some tests start against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from builder.models import Flow
from runs.executor import EmbeddedExecutor, InlineExecutor, set_executor
from runs.models import FINISHED_RUN_STATUSES, Run, RunEvent
from workspaces.models import ApiToken, Membership, Role

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
TEST_KEY = "sk-test-sentinel-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def memory_layer(settings):
    """The in-memory channel layer, whatever REDIS_URL says (the test talks to itself)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    yield
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.fixture
def inline(settings, memory_layer, llm_server):
    """Runs execute inside the call that starts or resumes them."""
    settings.SWITCHBOARD_EXECUTOR = "inline"
    set_executor(InlineExecutor())
    yield llm_server
    set_executor(None)


@pytest.fixture
def embedded(settings, memory_layer, llm_server):
    """Runs execute on a thread pool in this process (needs committed data)."""
    settings.SWITCHBOARD_EXECUTOR = "embedded"
    executor = EmbeddedExecutor(threads=8)
    set_executor(executor)
    yield executor
    executor.wait_idle(timeout=30)
    executor.stop()
    set_executor(None)


def flow_named(name: str) -> Flow:
    return Flow.objects.get(workspace__slug="demo", name=name)


def wait_until(predicate: Callable[[], Any], timeout: float = 20, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; return its value or fail with the last one."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)
        value = predicate()
    return value


def run_status(run_id: int) -> str:
    return Run.objects.values_list("status", flat=True).get(pk=run_id)


def wait_status(run_id: int, *statuses: str, timeout: float = 30) -> str:
    """Wait for the run to reach one of `statuses`; fail at once if it ends another way."""

    def reached() -> str | None:
        status = run_status(run_id)
        if status in statuses:
            return status
        if status in FINISHED_RUN_STATUSES:
            events = list(
                RunEvent.objects.filter(run_id=run_id).values_list("kind", "node_id", "data")
            )
            pytest.fail(f"run {run_id} ended {status}, not {statuses}: {events}")
        return None

    return wait_until(reached, timeout=timeout)


def wait_settled(timeout: float = 30) -> None:
    """Wait until no run is queued or running (another process may still be executing one):
    flushing the test database under a writer risks a deadlock."""
    wait_until(
        lambda: not Run.objects.filter(status__in=["queued", "running"]).exists(),
        timeout=timeout,
        interval=0.1,
    )


def kinds_by_node(run_id: int) -> dict[str, list[str]]:
    """The run's event kinds grouped by node ("" for run-level events), in log order."""
    grouped: dict[str, list[str]] = {}
    for node_id, kind in (
        RunEvent.objects.filter(run_id=run_id).order_by("seq").values_list("node_id", "kind")
    ):
        grouped.setdefault(node_id, []).append(kind)
    return grouped


def token_for(user) -> str:
    return ApiToken.issue(user=user, name="test")[1]


def join(user, workspace, role: str = Role.EDITOR) -> None:
    Membership.objects.create(user=user, workspace=workspace, role=role)


# ---- real processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_env() -> dict[str, str]:
    """Point a subprocess at the database this test session uses (the test database)."""
    db = connection.settings_dict
    if "sqlite" in db["ENGINE"]:
        return {"DATABASE_URL": "", "SQLITE_PATH": str(db["NAME"])}
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    return {"DATABASE_URL": f"postgres://{auth}@{host}:{port}/{db['NAME']}"}


def service_env(llm_base_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    env.update(database_env())
    env.update(
        OPENAI_BASE_URL=llm_base_url,
        OPENAI_API_KEY=TEST_KEY,
        SWITCHBOARD_DEFAULT_MODEL="openai/gpt-4o-mini",
        SWITCHBOARD_NO_LOCAL_LLM="1",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


class Service:
    """A subprocess with its output in a file (shown when a test fails)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        self.name, self.argv, self.env = name, argv, env
        self.log = Path(tempfile.mkstemp(prefix=f"switchboard-{name}-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acks, no goodbye."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if not self.alive():
                pytest.fail(f"{self.name} exited early:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not say {text!r} within {timeout}s:\n{self.output()}")
            time.sleep(0.1)


class Daphne(Service):
    """The ASGI server, serving HTTP and websockets, on a free port."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        argv = [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port)]
        super().__init__("daphne", [*argv, "config.asgi:application"], env)

    def start(self) -> Daphne:
        super().start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            if not self.alive():
                break
            time.sleep(0.1)
        pytest.fail(f"daphne did not start:\n{self.output()}")

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def embedded_env(llm_base_url: str, **extra: str) -> dict[str, str]:
    """A one-process deployment: embedded executor, in-memory channel layer."""
    return service_env(llm_base_url, REDIS_URL="", SWITCHBOARD_EXECUTOR="embedded", **extra)


class CeleryCluster:
    """Celery workers (threads pool) and a beat-driven sweeper on a queue of their own."""

    def __init__(self, llm_base_url: str, redis_url: str, **extra: str):
        self.queue = f"switchboard-test-{uuid.uuid4().hex[:8]}"
        self.redis_url = redis_url
        self.env = service_env(
            llm_base_url,
            REDIS_URL=redis_url,
            SWITCHBOARD_EXECUTOR="celery",
            SWITCHBOARD_CELERY_QUEUE=self.queue,
            **extra,
        )
        self.workers: list[Service] = []
        self.beat: Service | None = None
        self.schedule_dir = tempfile.mkdtemp(prefix="switchboard-beat-")

    def start_worker(self, concurrency: int = 16, prefetch: int | None = None) -> Service:
        """Start a worker and wait until it consumes. `prefetch` (a multiplier of `concurrency`)
        above 1 makes it reserve kicks it has no free thread for yet."""
        argv = [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            *(["--prefetch-multiplier", str(prefetch)] if prefetch else []),
            "-Q",
            self.queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"w{len(self.workers)}-{self.queue}@%h",
            "-l",
            "info",
        ]
        worker = Service("celery-worker", argv, self.env).start()
        worker.wait_for_output("ready.", timeout=45)
        self.workers.append(worker)
        return worker

    def start_beat(self) -> Service:
        argv = [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "beat",
            "--schedule",
            os.path.join(self.schedule_dir, "schedule"),
            "-l",
            "info",
        ]
        self.beat = Service("celery-beat", argv, self.env).start()
        return self.beat

    def stop(self) -> None:
        for service in [*self.workers, *([self.beat] if self.beat else [])]:
            service.stop()
        self.purge()

    def purge(self) -> None:
        """Delete this cluster's queue (the broker keeps no unacknowledged copies: no ack
        emulation, config/settings.py)."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        for key in client.scan_iter(f"{self.queue}*"):
            client.delete(key)

    def queue_length(self) -> int:
        """How many kicks wait in the broker, not yet taken by any worker."""
        import redis

        return int(redis.Redis.from_url(self.redis_url).llen(self.queue))

    def logs(self) -> str:
        return "\n".join(
            f"--- {s.name} {s.pid} ---\n{s.output()}"
            for s in [*self.workers, *([self.beat] if self.beat else [])]
        )


@contextlib.contextmanager
def services_logged(*services: Any) -> Iterator[None]:
    """Print the services' logs if the block fails (pytest shows captured output)."""
    try:
        yield
    except BaseException:
        for service in services:
            text = service.logs() if hasattr(service, "logs") else service.output()
            print(f"===== {getattr(service, 'name', 'services')} =====\n{text}")
        raise


def model_calls(requests: list[dict]) -> dict[str, int]:
    """Count the scripted server's requests by what asked: a forced function (router, judge)
    or the prompt's opening words."""
    from tests.llmserver import last_user_message

    counts: dict[str, int] = {}
    for request in requests:
        choice = request.get("tool_choice")
        if isinstance(choice, dict):
            key = choice.get("function", {}).get("name", "?")
        else:
            key = " ".join(last_user_message(request).split()[:3])
        counts[key] = counts.get(key, 0) + 1
    return counts


def finish_inline(run: Run, user) -> Run:
    """Execute a run in this thread, approving every approval as `user`, until it ends."""
    from runs.models import Approval
    from runs.services import approval_decide

    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    while run.status == "waiting":
        for approval in Approval.objects.filter(run=run, status="pending"):
            approval_decide(user=user, approval_id=approval.pk, decision="approved")
        InlineExecutor().advance(run.pk)
        run.refresh_from_db()
    return run
