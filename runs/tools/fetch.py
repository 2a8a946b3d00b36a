"""HTTP requests that only reach public addresses, pinned to the address that was checked.

Each hop resolves the host once, checks every address, then connects to a checked address while
sending the original host name (Host header, TLS SNI and certificate check). There is no second DNS
lookup, so a rebinding DNS server can't swap in a private address after the check. Redirects are
followed here, one hop at a time, with the same checks. Size and total time are capped.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit

from .addresses import (
    AddressPolicy,
    ResolvedAddress,
    check_addresses,
    is_public_address,
    resolve,
)
from .base import ToolError

MAX_RESPONSE_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
MAX_URL_LENGTH = 2048
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024

# Headers the tool manages itself: letting a flow set them would allow request smuggling, break
# the size cap (compressed bodies) or make the Host disagree with the checked address.
MANAGED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "accept-encoding",
        "proxy-authorization",
        "proxy-connection",
    }
)
# Dropped when a redirect leaves the original scheme, host and port.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "api-key"})
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
DEFAULT_HEADERS = {
    "User-Agent": "Switchboard-http_request/1.0",
    "Accept": "application/json, text/*;q=0.9, */*;q=0.5",
}


@dataclass
class FetchedResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    url: str
    redirects: int = 0

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass
class _Target:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


@dataclass
class _Deadline:
    """The time left for the whole request, across hops."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self, host: str) -> float:
        left = self.seconds - (time.monotonic() - self.started)
        if left <= 0:
            raise ToolError("timeout", f"The request to {host} took longer than {self.seconds:g}s.")
        return left


def _display(host: str) -> str:
    return host if len(host) <= 80 else host[:79] + "…"


def parse_target(url: str, *, redirected: bool = False) -> _Target:
    """Split an http(s) URL; anything else (file:, gopher:, credentials in the URL) is refused."""
    # A bad URL typed into a flow is an argument error; one a server redirects to is its fault.
    malformed = "http_error" if redirected else "invalid_arguments"
    refused = "blocked_address" if redirected else "invalid_arguments"
    where = "The site redirected to a URL that" if redirected else "The URL"
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise ToolError(malformed, f"{where} is longer than {MAX_URL_LENGTH} characters.")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise ToolError(malformed, f"{where} contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ToolError(malformed, f"{where} is not well formed.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ToolError(refused, f"{where} is not http or https; only those can be fetched.")
    if not parts.hostname:
        raise ToolError(malformed, f"{where} has no host name.")
    if parts.username is not None or parts.password is not None:
        raise ToolError(refused, f"{where} contains credentials; put them in headers instead.")
    scheme = parts.scheme.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path = "".join(ch if ord(ch) < 128 else quote(ch) for ch in path)
    default_port = 443 if scheme == "https" else 80
    return _Target(scheme, parts.hostname, port or default_port, path)


def clean_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """Check a flow's request headers: valid names, no line breaks, none the tool manages."""
    cleaned = dict(DEFAULT_HEADERS)
    lowered = {k.lower(): k for k in cleaned}
    problems = []
    for name, value in (headers or {}).items():
        if not _HEADER_NAME_RE.match(name):
            problems.append(f"headers: {_display(name)!r} is not a valid header name")
        elif name.lower() in MANAGED_HEADERS or name.lower().startswith("proxy-"):
            problems.append(f"headers.{name}: set by the tool itself, it can't be changed")
        elif not _is_header_value(value):
            problems.append(f"headers.{name}: must be plain text on one line")
        else:
            cleaned.pop(lowered.pop(name.lower(), name), None)
            cleaned[name] = value
    if problems:
        raise ToolError(
            "invalid_arguments",
            "Some request headers are not allowed: " + "; ".join(problems),
            details=problems,
        )
    return cleaned


def _is_header_value(value: object) -> bool:
    if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an already checked address, named by its original host."""

    def __init__(self, host: str, port: int, *, address: ResolvedAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        sock = socket.socket(self._address.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._address.sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = 443

    def __init__(self, host: str, port: int, *, address: ResolvedAddress, timeout: float) -> None:
        super().__init__(host, port, address=address, timeout=timeout)
        self._tls = ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        # SNI and the certificate check use the host the user asked for, not the IP.
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self.host)


class _Watchdog:
    """Shut a connection's socket when the deadline passes, whatever call is blocked on it."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.fired = False
        self._connection = connection
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _connect(
    target: _Target, addresses: list[ResolvedAddress], deadline: _Deadline
) -> http.client.HTTPConnection:
    """Open a connection to the first checked address that answers."""
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    host = _display(target.host)
    for address in addresses:
        connection = cls(
            target.host, target.port, address=address, timeout=deadline.remaining(host)
        )
        try:
            connection.connect()
            return connection
        except ssl.SSLError:
            connection.close()
            raise ToolError(
                "http_error", f"Could not make a secure (https) connection to {host}."
            ) from None
        except TimeoutError:
            connection.close()
            deadline.remaining(host)
        except OSError:
            connection.close()
    deadline.remaining(host)
    raise ToolError("http_error", f"Could not connect to {host}.")


def _read_body(
    response: http.client.HTTPResponse, host: str, max_bytes: int, deadline: _Deadline
) -> bytes:
    length = response.getheader("Content-Length")
    if length and length.strip().isdigit() and int(length) > max_bytes:
        raise ToolError("too_large", f"The response from {host} is larger than {max_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        deadline.remaining(host)
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ToolError(
                "too_large", f"The response from {host} is larger than {max_bytes} bytes."
            )
        chunks.append(chunk)


def _failure(exc: Exception, host: str, deadline: _Deadline, timed_out: bool) -> ToolError:
    """Translate a network exception into a ToolError a flow's author can read."""
    if timed_out or isinstance(exc, TimeoutError):
        return ToolError(
            "timeout", f"The request to {host} took longer than {deadline.seconds:g}s."
        )
    if isinstance(exc, http.client.InvalidURL):
        return ToolError("invalid_arguments", "The URL is not well formed.")
    if isinstance(exc, ssl.SSLError):
        return ToolError("http_error", f"The secure connection to {host} failed.")
    if isinstance(exc, http.client.HTTPException):
        return ToolError("http_error", f"{host} sent a response that isn't valid HTTP.")
    if isinstance(exc, ValueError):
        return ToolError("invalid_arguments", "The request could not be sent as given.")
    return ToolError("http_error", f"The connection to {host} failed.")


def _one_hop(
    target: _Target,
    *,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    deadline: _Deadline,
    max_bytes: int,
    address_allowed: AddressPolicy,
) -> FetchedResponse:
    host = _display(target.host)
    addresses = resolve(target.host, target.port, timeout=deadline.remaining(host))
    check_addresses(host, addresses, address_allowed)
    connection = _connect(target, addresses, deadline)
    watchdog = _Watchdog(connection, deadline.remaining(host))
    try:
        with watchdog:
            connection.request(method, target.path, body=body, headers=headers)
            response = connection.getresponse()
            location = response.getheader("Location")
            is_redirect = response.status in REDIRECT_STATUSES and location
            data = b"" if is_redirect else _read_body(response, host, max_bytes, deadline)
    except ToolError:
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise _failure(exc, host, deadline, watchdog.fired) from None
    finally:
        connection.close()
    if watchdog.fired:
        # The watchdog's shutdown can look like a clean end of the body: never return it.
        raise _failure(TimeoutError(), host, deadline, True)
    return FetchedResponse(response.status, response.getheaders(), data, target.url)


def _redirected_request(
    status: int, method: str, body: bytes | None, headers: dict[str, str], *, same_origin: bool
) -> tuple[str, bytes | None, dict[str, str]]:
    """Return the method, body and headers to send to a redirect's target."""
    if status in (301, 302, 303) and method != "GET":
        # What browsers do: the redirected request becomes a GET without the body.
        method, body = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if not same_origin:
        headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
    return method, body, headers


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
    max_bytes: int = MAX_RESPONSE_BYTES,
    max_redirects: int = MAX_REDIRECTS,
    address_allowed: AddressPolicy = is_public_address,
) -> FetchedResponse:
    """Make one HTTP request, following redirects, refusing addresses `address_allowed` rejects.

    `address_allowed` exists so tests can admit one exact loopback test address; the registered
    tool always uses `is_public_address`.
    """
    deadline = _Deadline(timeout)
    target = parse_target(url)
    request_headers = clean_headers(headers)
    for redirects in range(max_redirects + 1):
        response = _one_hop(
            target,
            method=method,
            headers=request_headers,
            body=body,
            deadline=deadline,
            max_bytes=max_bytes,
            address_allowed=address_allowed,
        )
        location = response.header("Location")
        if response.status not in REDIRECT_STATUSES or not location:
            response.redirects = redirects
            return response
        next_target = parse_target(urljoin(response.url, location.strip()), redirected=True)
        method, body, request_headers = _redirected_request(
            response.status,
            method,
            body,
            request_headers,
            same_origin=next_target.origin == target.origin,
        )
        target = next_target
    raise ToolError(
        "http_error", f"The site redirected more than {max_redirects} times; giving up."
    )
