"""Workspace providers connect only to addresses the SSRF guard allows, pinned at connect time.

A provider added in the UI names its own base URL, so the SDK client built for it gets a
transport whose network backend resolves each host once, refuses it if any address is private,
local or reserved (`runs.tools.addresses`), and connects to the address it checked: a rebinding
DNS server cannot swap in another address between the check and the connection, and redirects
are checked the same way, since each one is a new connection. TLS still verifies the host name
(httpcore sends the URL's host as SNI and checks the certificate against it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

from runs.tools.addresses import address_policy, check_addresses, resolve

DNS_TIMEOUT = 10.0


class GuardedBackend(httpcore2.SyncBackend):
    """Connect only to checked addresses."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self.policy = address_policy(allow_loopback=allow_loopback)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        addresses = resolve(host, port, timeout=timeout or DNS_TIMEOUT)
        check_addresses(host, addresses, self.policy)  # raises ToolError("blocked_address")
        return super().connect_tcp(
            str(addresses[0].ip), port, timeout, local_address, socket_options
        )


class GuardedTransport(httpx2.HTTPTransport):
    """httpx's transport over a connection pool that uses `GuardedBackend`. No proxy from the
    environment: a proxy would make the checked address the proxy's, not the provider's."""

    def __init__(self, *, allow_loopback: bool, limits: httpx2.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore2.ConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_loopback=allow_loopback),
        )


def blocked_cause(exc: BaseException) -> Any:
    """The guard's refusal behind a connection error the SDK raised, if that is what it was."""
    seen = 0
    cause = exc.__cause__ or exc.__context__
    while cause is not None and seen < 10:
        if getattr(cause, "code", None) == "blocked_address":
            return cause
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return None
