"""The http_request tool: SSRF guard, redirects, size and time caps, result shape.

Only loopback addresses are ever contacted. The registered tool refuses loopback, so tests that
need a real server call the inner `fetch` with a policy admitting the one exact test address.
"""

import ipaddress
import socket

import jsonschema
import pytest

from runs.tools import ToolContext, ToolError, call_tool, registry
from runs.tools import http_request as http_request_module
from runs.tools.addresses import is_public_address
from runs.tools.fetch import FetchedResponse, fetch
from runs.tools.http_request import describe_response

CTX = ToolContext()
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def only_test_host(address) -> bool:
    return address == LOOPBACK


def call_http(**arguments):
    return call_tool("http_request", arguments, context=CTX)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://localhost:8000/admin",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://100.64.0.1/",
        "https://127.0.0.1:8443/",
        "HTTP://LOCALHOST/",
    ],
)
def test_http_request_refuses_internal_addresses(url):
    with pytest.raises(ToolError) as caught:
        call_http(url=url)
    assert caught.value.code == "blocked_address"
    assert "not allowed" in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_GET",
        "ftp://example.com/file",
        "dict://127.0.0.1:11211/",
        "javascript:alert(1)",
        "//example.com/",
        "http:///nohost",
        "http://user:pw@example.com/",
        "http://example.com/ bad",
        "http://example.com:99999/",
    ],
)
def test_http_request_refuses_other_schemes_and_malformed_urls(url):
    with pytest.raises(ToolError) as caught:
        call_http(url=url)
    assert caught.value.code == "invalid_arguments"


def test_http_request_registered_tool_never_reaches_the_test_server(server):
    with pytest.raises(ToolError) as caught:
        call_http(url=server.url("/json"))
    assert caught.value.code == "blocked_address"
    assert server.requests == []


def test_http_request_refuses_host_when_any_resolved_address_is_private(monkeypatch):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ToolError) as caught:
        call_http(url="http://mixed.example.test/")
    assert caught.value.code == "blocked_address"


def test_fetch_connects_to_the_checked_address_without_a_second_lookup(server, monkeypatch):
    lookups = []

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "10.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    response = fetch(f"http://api.example.test:{server.port}/echo", address_allowed=only_test_host)
    assert response.status == 200
    assert lookups == ["api.example.test"]
    assert server.requests[0]["headers"]["Host"] == f"api.example.test:{server.port}"


def test_fetch_returns_json_text_and_error_statuses(server):
    result = describe_response(fetch(server.url("/json"), address_allowed=only_test_host))
    assert result["status"] == 200
    assert result["json"] == {"hello": "world", "n": [1, 2]}
    assert result["headers"]["content-type"] == "application/json"
    assert "text" not in result

    text = describe_response(fetch(server.url("/text"), address_allowed=only_test_host))
    assert text["text"] == "héllo"

    missing = describe_response(fetch(server.url("/missing"), address_allowed=only_test_host))
    assert missing["status"] == 404
    assert missing["json"] == {"detail": "nope"}
    for described in (result, text, missing):
        jsonschema.validate(described, registry.get("http_request").result_schema)


def test_fetch_posts_json_body(server):
    response = fetch(
        server.url("/echo"),
        method="POST",
        headers={"Content-Type": "application/json", "X-Trace": "abc"},
        body=b'{"a": 1}',
        address_allowed=only_test_host,
    )
    echo = describe_response(response)["json"]
    assert echo["method"] == "POST"
    assert echo["body"] == '{"a": 1}'
    assert echo["headers"]["X-Trace"] == "abc"
    assert echo["headers"]["Accept-Encoding"] == "identity"


def test_fetch_follows_redirects_to_allowed_addresses(server):
    response = fetch(
        server.url("/redirect"),
        headers={"X-Redirect-To": "/json"},
        address_allowed=only_test_host,
    )
    assert response.status == 200
    assert response.redirects == 1
    assert [r["path"] for r in server.requests] == ["/redirect", "/json"]


def test_fetch_refuses_redirect_to_a_blocked_address(make_server):
    first_hop = make_server("127.0.0.1")
    secret = make_server("127.0.0.2")
    with pytest.raises(ToolError) as caught:
        fetch(
            first_hop.url("/redirect"),
            headers={"X-Redirect-To": secret.url("/secret")},
            address_allowed=only_test_host,
        )
    assert caught.value.code == "blocked_address"
    assert [r["path"] for r in first_hop.requests] == ["/redirect"]
    assert secret.requests == []


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "gopher://127.0.0.1/x", "http://169.254.169.254/"]
)
def test_fetch_refuses_redirect_to_other_schemes_and_metadata(server, target):
    with pytest.raises(ToolError) as caught:
        fetch(
            server.url("/redirect"),
            headers={"X-Redirect-To": target},
            address_allowed=only_test_host,
        )
    assert caught.value.code == "blocked_address"


def test_fetch_gives_up_after_five_redirects(server):
    with pytest.raises(ToolError) as caught:
        fetch(server.url("/loop"), address_allowed=only_test_host)
    assert caught.value.code == "http_error"
    assert len(server.requests) == 6


def test_fetch_post_redirected_with_303_becomes_get(server):
    response = fetch(
        server.url("/redirect"),
        method="POST",
        headers={"X-Redirect-To": "/echo", "X-Redirect-Status": "303"},
        body=b"{}",
        address_allowed=only_test_host,
    )
    assert describe_response(response)["json"]["method"] == "GET"


def test_fetch_drops_credentials_on_cross_origin_redirect(make_server):
    first, second = make_server(), make_server()
    fetch(
        first.url("/redirect"),
        headers={"X-Redirect-To": second.url("/echo"), "Authorization": "Bearer s3cret"},
        address_allowed=only_test_host,
    )
    assert first.requests[0]["headers"]["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in second.requests[0]["headers"]


@pytest.mark.parametrize("path", ["/big", "/big-no-length"])
def test_fetch_refuses_responses_over_the_size_cap(server, path):
    with pytest.raises(ToolError) as caught:
        fetch(server.url(path), address_allowed=only_test_host)
    assert caught.value.code == "too_large"


def test_fetch_size_cap_is_a_parameter(server):
    with pytest.raises(ToolError) as caught:
        fetch(server.url("/json"), max_bytes=10, address_allowed=only_test_host)
    assert caught.value.code == "too_large"


@pytest.mark.parametrize("path", ["/hang", "/drip"])
def test_fetch_enforces_total_time(server, path):
    with pytest.raises(ToolError) as caught:
        fetch(server.url(path), timeout=0.5, address_allowed=only_test_host)
    assert caught.value.code == "timeout"
    # The fetch gave up while the server was still hanging or dripping its 5 s answer.
    assert server.recorder.answered == []


def test_fetch_connection_refused_is_http_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ToolError) as caught:
        fetch(f"http://127.0.0.1:{port}/", timeout=2, address_allowed=only_test_host)
    assert caught.value.code == "http_error"


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "internal.example"},
        {"Transfer-Encoding": "chunked"},
        {"Accept-Encoding": "gzip"},
        {"X-Ok": "line\r\nInjected: 1"},
        {"Bad Name": "x"},
    ],
)
def test_http_request_refuses_unsafe_headers(headers):
    with pytest.raises(ToolError) as caught:
        call_http(url="http://example.test/", headers=headers)
    assert caught.value.code == "invalid_arguments"


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"url": "http://example.test/", "method": "PUT"}, "method"),
        ({"url": "http://example.test/", "timeout": 60}, "timeout"),
        ({"url": "http://example.test/", "verb": "GET"}, "verb"),
        ({}, "url"),
    ],
)
def test_http_request_argument_errors_are_readable(arguments, fragment):
    with pytest.raises(ToolError) as caught:
        call_tool("http_request", arguments, context=CTX)
    assert caught.value.code == "invalid_arguments"
    assert any(fragment in detail for detail in caught.value.details)
    assert fragment in caught.value.message


def test_http_request_json_body_needs_post():
    with pytest.raises(ToolError) as caught:
        call_http(url="http://example.test/", json={"a": 1})
    assert caught.value.code == "invalid_arguments"


def test_http_request_is_idempotent_only_for_get():
    tool = registry.get("http_request")
    assert tool.is_idempotent({"url": "http://x.test/"})
    assert tool.is_idempotent({"url": "http://x.test/", "method": "GET"})
    assert not tool.is_idempotent({"url": "http://x.test/", "method": "POST"})


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"],
)
def test_is_public_address_allows_public_ips(address):
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",
        "100.100.100.200",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
        "2002:a00:1::",
        "2001:db8::1",
    ],
)
def test_is_public_address_blocks_internal_ips(address):
    assert not is_public_address(ipaddress.ip_address(address))


def test_fetch_https_to_a_server_without_tls_is_http_error(server):
    with pytest.raises(ToolError) as caught:
        fetch(f"https://127.0.0.1:{server.port}/json", timeout=2, address_allowed=only_test_host)
    assert caught.value.code == "http_error"


def test_describe_response_hides_binary_bodies():
    response = FetchedResponse(
        200, [("Content-Type", "image/png"), ("Set-Cookie", "s=1")], b"\x89PNG" * 10, "u"
    )
    result = describe_response(response)
    assert result == {
        "status": 200,
        "headers": {"content-type": "image/png"},
        "text": "[binary content, 40 bytes, not shown]",
    }


def test_http_request_tool_builds_the_request_and_keeps_the_default_policy(monkeypatch):
    calls = []

    def fake_fetch(url, **kwargs):
        calls.append((url, kwargs))
        return FetchedResponse(201, [("Content-Type", "application/json")], b'{"id": 1}', url)

    monkeypatch.setattr(http_request_module, "fetch", fake_fetch)
    result = call_tool(
        "http_request",
        {"url": "https://api.example.test/items", "method": "POST", "json": {"a": 1}},
        context=ToolContext(timeout=4),
    )
    assert result == {
        "status": 201,
        "headers": {"content-type": "application/json"},
        "json": {"id": 1},
    }
    url, kwargs = calls[0]
    assert url == "https://api.example.test/items"
    assert kwargs["method"] == "POST"
    assert kwargs["body"] == b'{"a": 1}'
    assert kwargs["headers"] == {"Content-Type": "application/json"}
    assert kwargs["timeout"] == 4
    assert kwargs["address_allowed"] is is_public_address  # no loopback for a real tool
