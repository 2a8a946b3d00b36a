"""Which network addresses the HTTP tool may reach, and host resolution with a time limit.

The guard works on resolved IP addresses, never on host names: the resolver and `ipaddress`
normalise every spelling (decimal `2130706433`, hex `0x7f000001`, octal, `127.1`, IPv6 forms), so
there is nothing clever to parse and nothing to get wrong.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .base import ToolError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]

# Cloud metadata services. All of these already fall in a blocked range; they are listed so the
# intent survives any future change to the ranges below.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)

BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network", includes 0.0.0.0
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes broadcast
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local, includes fd00:ec2::254
        "fe80::/10",
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)

# IPv6 prefixes that carry an IPv4 address in their low 32 bits (NAT64 well-known prefix).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: IPAddress) -> bool:
    """Say whether the HTTP tool may connect to `address`: a globally routable unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(address.packed)  # drop any %scope
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        if address.sixtofour is not None and not is_public_address(address.sixtofour):
            return False
        if address.teredo is not None and not is_public_address(address.teredo[1]):
            return False
    if address in METADATA_ADDRESSES:
        return False
    if any(
        address in network for network in BLOCKED_NETWORKS if network.version == address.version
    ):
        return False
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv4-mapped, -compatible or NAT64 address really reaches."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(address.packed[-4:])
    # Deprecated IPv4-compatible form ::a.b.c.d (but not :: and ::1, which are checked as IPv6).
    if address.packed[:12] == bytes(12) and int(address) > 1:
        return ipaddress.IPv4Address(address.packed[-4:])
    return None


@dataclass(frozen=True)
class ResolvedAddress:
    """One place to connect to: the checked IP, and the socket address to connect with."""

    ip: IPAddress
    family: int
    sockaddr: tuple


def parse_ip(text: str) -> IPAddress:
    """Parse an IP as getaddrinfo prints it (an IPv6 link-local address may carry a %scope)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def resolve(host: str, port: int, *, timeout: float) -> list[ResolvedAddress]:
    """Resolve `host` to its addresses, giving up after `timeout` seconds.

    getaddrinfo has no timeout of its own, so it runs on a daemon thread that is abandoned if it
    takes too long.
    """
    outcome: dict[str, object] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name="tool-dns", daemon=True)
    worker.start()
    worker.join(max(timeout, 0.0))
    if worker.is_alive():
        raise ToolError("timeout", f"Looking up the address of {host} took too long.")
    if "error" in outcome:
        raise ToolError("http_error", f"Could not find the address of {host}.")
    infos = outcome.get("infos") or []
    addresses = []
    seen = set()
    for family, _type, _proto, _name, sockaddr in infos:  # type: ignore[attr-defined]
        if family not in (socket.AF_INET, socket.AF_INET6) or sockaddr in seen:
            continue
        seen.add(sockaddr)
        addresses.append(ResolvedAddress(parse_ip(sockaddr[0]), family, sockaddr))
    if not addresses:
        raise ToolError("http_error", f"Could not find the address of {host}.")
    return addresses


def check_addresses(
    host: str, addresses: list[ResolvedAddress], address_allowed: AddressPolicy
) -> None:
    """Refuse the host if ANY of its addresses is not allowed (an attacker may control DNS)."""
    for resolved in addresses:
        if not address_allowed(resolved.ip):
            raise ToolError(
                "blocked_address",
                f"The host “{host}” is not allowed: it points to a private, local or "
                "reserved network address, which tools may not reach.",
            )


LOOPBACK_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def is_public_or_loopback(address: IPAddress) -> bool:
    """Admit public addresses and loopback, nothing else (for tests and development only)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return is_public_address(address) or any(
        address in network for network in LOOPBACK_NETWORKS if network.version == address.version
    )


def address_policy(*, allow_loopback: bool) -> AddressPolicy:
    """Return the guard outbound requests use; loopback only where a setting explicitly allows
    it (SWITCHBOARD_ALLOW_LOOPBACK, for tests and development against local servers)."""
    return is_public_or_loopback if allow_loopback else is_public_address


def check_url(url: str, *, allow_loopback: bool = False, timeout: float = 5.0) -> None:
    """Refuse an http(s) URL whose host resolves to an address the guard does not allow.

    For endpoints called by a library rather than by `fetch` (a workspace's model provider):
    checked when it is saved and again before each call. Raises ToolError.
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ToolError("invalid_arguments", "The URL is not valid.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError("invalid_arguments", "The URL must start with http:// or https://.")
    if parts.username or parts.password:
        raise ToolError("invalid_arguments", "The URL must not contain a user name or password.")
    host = parts.hostname
    check_addresses(
        host, resolve(host, port, timeout=timeout), address_policy(allow_loopback=allow_loopback)
    )
