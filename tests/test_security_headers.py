"""Hardening: the Content-Security-Policy and templates it can hold to, X-Forwarded-Proto only
behind a proxy, HSTS preload opt-in, and the API schema and docs behind a login."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import REPO_ROOT, api_client

# The site-wide templates and the dashboard app's pages.
TEMPLATE_DIRS = (REPO_ROOT / "templates", REPO_ROOT / "dashboard" / "templates")
STRICT_DIRECTIVES = ("default-src 'self'", "script-src 'self'", "style-src 'self'")


@pytest.fixture
def staff_client(client, staff_user) -> Client:
    client.force_login(staff_user)
    return client


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


# --- Content-Security-Policy ---------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/shoppers/", "/products/", "/models/", "/promotions/"])
def test_dashboard_pages_carry_a_policy_without_inline_script_or_style(staff_client, url):
    response = staff_client.get(url)

    assert response.status_code == 200
    policy = _policy(response)
    assert [policy[d.split()[0]] for d in STRICT_DIRECTIVES] == list(STRICT_DIRECTIVES)
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert policy["object-src"] == "object-src 'none'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"


@pytest.mark.django_db
def test_the_login_page_and_the_admin_carry_the_policy_too(client):
    for url in ("/accounts/login/", "/admin/login/"):
        assert "script-src 'self'" in client.get(url)["Content-Security-Policy"]


def _template_sources() -> list[tuple[str, str]]:
    """Each template's text without its comments (which may name what they avoid)."""
    comments = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", re.DOTALL)
    return [
        (str(path.relative_to(REPO_ROOT)), comments.sub("", path.read_text()))
        for templates in TEMPLATE_DIRS
        for path in templates.rglob("*.html")
    ]


def test_no_template_holds_an_inline_script_event_handler_or_style():
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    style = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
    sources = _template_sources()

    offenders = [
        (name, match.group(0).strip())
        for name, text in sources
        for pattern in (inline_script, handler, style, re.compile(r"javascript:", re.I))
        for match in pattern.finditer(text)
    ]

    assert len(sources) > 20  # the scan found the templates
    assert offenders == []


@pytest.mark.django_db
def test_the_swagger_page_loads_its_start_up_code_as_a_script_file(staff_client):
    page = staff_client.get("/api/docs/")
    script = staff_client.get("/api/docs/?script=")

    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"<style\b", html)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


# --- API schema and docs need a login ------------------------------------------------------------
@pytest.mark.django_db
def test_the_schema_and_docs_need_a_login_by_default():
    anonymous = APIClient()

    schema = anonymous.get("/api/schema/")
    docs = anonymous.get("/api/docs/")

    assert schema.status_code == 401
    assert docs.status_code == 302 and docs["Location"] == "/accounts/login/?next=/api/docs/"


@pytest.mark.django_db
def test_a_token_or_a_session_reads_the_schema(staff_client):
    by_token = api_client("feed", role="reader").get("/api/schema/")
    by_session = staff_client.get("/api/schema/")

    assert by_token.status_code == by_session.status_code == 200
    assert b"/api/v1/events" in by_token.content


@pytest.mark.django_db
def test_public_docs_can_be_switched_on(settings):
    settings.SHELFWISE_API_DOCS_PUBLIC = True
    anonymous = APIClient()

    assert anonymous.get("/api/schema/").status_code == 200
    assert anonymous.get("/api/docs/").status_code == 200


# --- X-Forwarded-Proto and HSTS ------------------------------------------------------------------
def _settings_with(**env: str) -> dict:
    """A few security settings as config.settings reads them from this environment."""
    code = (
        "import json, config.settings as s; print(json.dumps({k: getattr(s, k, None) for k in "
        "['SECURE_PROXY_SSL_HEADER', 'SECURE_HSTS_PRELOAD', 'SECURE_HSTS_SECONDS', "
        "'SILENCED_SYSTEM_CHECKS']}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_x_forwarded_proto_is_trusted_only_behind_a_declared_proxy():
    assert _settings_with(DJANGO_DEBUG="false")["SECURE_PROXY_SSL_HEADER"] is None
    behind = _settings_with(DJANGO_DEBUG="false", DJANGO_BEHIND_PROXY="true")
    assert behind["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_hsts_preload_is_opt_in_and_its_seconds_come_from_the_environment():
    default = _settings_with(DJANGO_DEBUG="false")
    opted = _settings_with(
        DJANGO_DEBUG="false", DJANGO_SECURE_HSTS_PRELOAD="true", DJANGO_SECURE_HSTS_SECONDS="600"
    )

    assert (default["SECURE_HSTS_PRELOAD"], default["SECURE_HSTS_SECONDS"]) == (False, 31536000)
    assert (opted["SECURE_HSTS_PRELOAD"], opted["SECURE_HSTS_SECONDS"]) == (True, 600)
    assert opted["SILENCED_SYSTEM_CHECKS"] is None


@pytest.mark.django_db
def test_a_direct_client_claiming_https_is_still_redirected(settings):
    settings.SECURE_SSL_REDIRECT = True  # production; the test settings keep the default header

    response = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")

    assert settings.SECURE_PROXY_SSL_HEADER is None
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


@pytest.mark.django_db
def test_behind_a_proxy_its_https_header_is_honoured(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    forwarded = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    plain = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="http")

    assert forwarded.status_code == 200
    assert plain.status_code == 301
