"""Providers: which endpoint, key and price table a "provider/model" name means."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import openai

from .response import LlmError

logger = logging.getLogger(__name__)

DEFAULT_PROVIDER = "openai"
# Local servers (llama.cpp, Ollama, vLLM) take any key, and the SDK refuses to start without one.
PLACEHOLDER_KEY = "not-needed"

_clients: dict[tuple[str, str, str, float], openai.OpenAI] = {}
_clients_lock = threading.Lock()
_unpriced_noted: set[str] = set()


@dataclass(frozen=True, eq=False)
class Target:
    """One model on one provider, as a call will address it."""

    provider: str
    model: str
    config: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def price(self) -> dict[str, float] | None:
        return (self.config.get("models") or {}).get(self.model)

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """Return the USD cost of the tokens from the provider's price table (0 if unpriced)."""
        price = self.price
        if price is None:
            if self.label not in _unpriced_noted:
                _unpriced_noted.add(self.label)
                logger.warning("No price for %s in SWITCHBOARD_PROVIDERS; cost counted as 0", self)
            return 0.0
        return (
            tokens_in * float(price.get("input", 0)) + tokens_out * float(price.get("output", 0))
        ) / 1_000_000

    def __str__(self) -> str:
        return self.label


def configured_providers() -> dict[str, dict[str, Any]]:
    """Return settings.SWITCHBOARD_PROVIDERS."""
    from django.conf import settings

    return settings.SWITCHBOARD_PROVIDERS


def default_model() -> str:
    """Return settings.SWITCHBOARD_DEFAULT_MODEL."""
    from django.conf import settings

    return settings.SWITCHBOARD_DEFAULT_MODEL


class WorkspaceProviders(Mapping[str, dict[str, Any]]):
    """The providers a workspace's prompts address: the server's (settings), then its own.

    `lookup(name)` returns a workspace provider's config (the shape of a SWITCHBOARD_PROVIDERS
    entry) or None; it is asked only for a name the server does not configure, once per name,
    so a prompt on a configured model costs no query. `names()` lists the workspace's own, for
    the message about an unknown provider.
    """

    def __init__(
        self,
        configured: Mapping[str, dict[str, Any]],
        lookup: Callable[[str], dict[str, Any] | None],
        names: Callable[[], list[str]],
    ) -> None:
        self._configured = configured
        self._lookup = lookup
        self._names = names
        self._found: dict[str, dict[str, Any] | None] = {}

    def __getitem__(self, name: str) -> dict[str, Any]:
        config = self.get(name)
        if config is None:
            raise KeyError(name)
        return config

    def get(self, name: str, default: Any = None) -> Any:
        if name in self._configured:
            return self._configured[name]
        if name not in self._found:
            self._found[name] = self._lookup(name)
        found = self._found[name]
        return default if found is None else found

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._configured, *self._names()]))

    def __len__(self) -> int:
        return len(list(iter(self)))


def resolve(name: str, providers: Mapping[str, dict[str, Any]]) -> Target:
    """Resolve "provider/model" (a bare name means the openai provider) to a Target.

    An unknown model on a known provider is allowed (unpriced); an unknown provider is not.
    """
    name = (name or "").strip()
    provider, _, model = name.partition("/") if "/" in name else (DEFAULT_PROVIDER, "", name)
    if not model:
        raise LlmError("no_provider", f"“{name}” is not a model name (expected provider/model).")
    config = providers.get(provider)
    if config is None:
        known = ", ".join(sorted(providers)) or "none"
        raise LlmError(
            "no_provider",
            f"No provider called “{provider}” is configured (known: {known}).",
        )
    return Target(provider=provider, model=model, config=config)


def api_key(target: Target) -> str:
    """Return the provider's key: from its `key_source` (a workspace provider's credential,
    decrypted now), else from the environment variable named in its settings."""
    source = target.config.get("key_source")
    if source is not None:
        return source() or PLACEHOLDER_KEY
    variable = target.config.get("api_key_env") or ""
    return (os.environ.get(variable) if variable else None) or PLACEHOLDER_KEY


def secrets_of(target: Target) -> list[str]:
    """Return the values that must never appear in messages or logs for this target."""
    try:
        key = api_key(target)
    except LlmError:
        return []
    return [key] if key != PLACEHOLDER_KEY else []


def sdk_client(target: Target, base_url: str, timeout: float) -> openai.OpenAI:
    """Return the shared SDK client for this provider, endpoint, key and timeout.

    SDK retries are off: `LlmClient` retries itself, honouring Retry-After and falling back.
    A workspace provider's client (`guarded`) connects only where the SSRF guard allows.
    """
    key = api_key(target)
    guarded = _loopback_allowed() if target.config.get("guarded") else None
    cache_key = (target.provider, base_url, key, float(timeout), guarded)
    # Lock-free on a hit (a dict read is atomic): 50 branches starting at once would otherwise
    # queue on the lock, each hand-off costing a GIL switch while the holder is preempted.
    client = _clients.get(cache_key)
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            options: dict[str, Any] = {}
            if guarded is not None:
                options["http_client"] = _guarded_http_client(float(timeout), guarded)
            client = openai.OpenAI(
                base_url=base_url, api_key=key, max_retries=0, timeout=float(timeout), **options
            )
            _clients[cache_key] = client
        return client


def _loopback_allowed() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "SWITCHBOARD_ALLOW_LOOPBACK", False))


def _guarded_http_client(timeout: float, allow_loopback: bool) -> openai.DefaultHttpxClient:
    from .guard import GuardedTransport

    transport = GuardedTransport(
        allow_loopback=allow_loopback, limits=openai.DEFAULT_CONNECTION_LIMITS
    )
    return openai.DefaultHttpxClient(timeout=timeout, transport=transport)
