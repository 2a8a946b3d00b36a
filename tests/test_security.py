"""Security headers: a Content-Security-Policy on every page and API response with no inline
script, and the HTTPS settings (HSTS, secure cookies, the proxy header) from the environment."""

import json
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings

from builder.models import Flow
from runs.executor import InlineExecutor
from runs.services import run_start
from tests.llmserver import json_reply, text
from tests.runs.support import inline, memory_layer  # noqa: F401

INGREDIENTS = {"ingredients": ["lasagne sheets", "tomato", "ricotta"], "summary": "A bake."}
STEPS_TEXT = (
    "1. Heat the oven to 190 C. 2. Layer sheets, tomato sauce and ricotta three times. "
    "3. Bake for forty minutes until golden and bubbling."
)


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_strict(response) -> None:
    policy = directives(response)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert "'self'" in policy["connect-src"]
    assert "ws://127.0.0.1:*" in policy["connect-src"]


@pytest.fixture
def waiting_run(demo, inline):  # noqa: F811
    """A demo run that stopped at its approval: steps with bars, and an item in the inbox."""
    inline.on("ingredients", json_reply(INGREDIENTS))
    inline.on("cooking instructions", text(STEPS_TEXT))
    flow = Flow.objects.get(workspace=demo["workspace"], name="Recipe assistant")
    run = run_start(user=demo["owner"], flow=flow, inputs=None)
    InlineExecutor().advance(run.pk)
    run.refresh_from_db()
    assert run.status == "waiting", run.error
    return run


def test_every_page_carries_the_csp_without_inline_script(client, demo, waiting_run):
    assert_strict(client.get("/login/"))
    client.force_login(demo["owner"])
    flow = waiting_run.flow
    pages = [
        "/",
        f"/flows/{flow.pk}/",
        f"/runs/{waiting_run.pk}/",
        "/runs/",
        "/approvals/",
        "/api/docs",
        *(
            f"/settings/{flow.workspace_id}/{section}/"
            for section in ("members", "tokens", "defaults", "audit")
        ),
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict(response)
        html = response.content.decode()
        # No inline script and no inline handler: every <script> has a src or holds data.
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        outside_scripts = re.sub(r"<script.*?</script>", "", html, flags=re.S)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", outside_scripts), path
        # No style attributes either: the policy refuses them.
        assert not re.search(r"<[^>]+\sstyle=", html), path


def test_the_run_page_draws_its_bars_with_a_nonced_stylesheet(client, demo, waiting_run):
    client.force_login(demo["owner"])
    response = client.get(f"/runs/{waiting_run.pk}/")
    nonce = re.search(r"'nonce-([^']+)'", " ".join(directives(response)["style-src"])).group(1)
    html = response.content.decode()
    assert f'<style nonce="{nonce}">' in html
    assert re.search(r'\[data-bar="e\d+"\] \{ left: [\d.]+%; width: [\d.]+%; \}', html)


def test_api_docs_load_swagger_from_our_own_static_files(client, demo):
    client.force_login(demo["owner"])
    html = client.get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    # Every script and stylesheet comes from this server (a CSRF token may contain "cdn").
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith("/") for source in sources), sources


def test_api_responses_and_static_files_carry_the_csp(client, demo, api_for):
    api = api_for(demo["owner"], token=True)
    assert_strict(api.get("/api/flows"))
    assert_strict(api.get("/api/runs/999999999"))  # an error answer too
    assert_strict(client.get("/static/css/switchboard.css"))


HTTPS_SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
]


def settings_under(**env: str) -> dict:
    """The HTTPS settings as a fresh process reads them with `env` (settings load at import)."""
    clean = {k: v for k, v in os.environ.items() if k not in HTTPS_SETTINGS}
    clean.pop("SWITCHBOARD_HTTPS", None)
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {HTTPS_SETTINGS!r}}} | "
        "{'connect-src': s.CONTENT_SECURITY_POLICY['DIRECTIVES']['connect-src']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_https_settings_are_off_by_default_for_the_embedded_http_server():
    values = settings_under()
    assert values["SECURE_HSTS_SECONDS"] == 0 and values["SECURE_PROXY_SSL_HEADER"] is None
    assert not any(
        values[name]
        for name in ["SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"]
    )
    assert "ws://127.0.0.1:*" in values["connect-src"]


def test_switchboard_https_turns_on_the_sensible_set():
    values = settings_under(SWITCHBOARD_HTTPS="1", ALLOWED_HOSTS="flows.example.com")
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    # Subdomains and preload commit other hosts: still opt-in.
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["connect-src"] == ["'self'", "wss://flows.example.com:*"]


def test_each_https_setting_has_its_own_variable():
    values = settings_under(
        SWITCHBOARD_HTTPS="1",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="true",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Scheme",
    )
    assert values["SECURE_SSL_REDIRECT"] is False and values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SCHEME", "https"]
    alone = settings_under(SESSION_COOKIE_SECURE="1", SECURE_PROXY_SSL_HEADER="1")
    assert alone["SESSION_COOKIE_SECURE"] is True and alone["CSRF_COOKIE_SECURE"] is False
    assert alone["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_hsts_and_the_proxy_header_reach_responses(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert response["Strict-Transport-Security"] == "max-age=600"
    assert "Strict-Transport-Security" not in client.get("/login/")  # plain http: none
