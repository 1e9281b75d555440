"""Production settings pass Django's deploy check, and .env.example documents every variable."""

from __future__ import annotations

import ast
import os
import re
import secrets
import subprocess
import sys

from tests.conftest import REPO_ROOT

# config.settings and the modules it imports its long blocks from (config/settings_*.py).
SETTINGS = [
    path
    for path in sorted((REPO_ROOT / "config").glob("settings*.py"))
    if path.name != "settings_test.py"
]
ENV_EXAMPLE = REPO_ROOT / ".env.example"


def _deploy_check(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _variables_read_by_settings() -> set[str]:
    """Names passed to env.<cast>("NAME", ...) anywhere in the settings modules."""
    names = set()
    for node in (n for path in SETTINGS for n in ast.walk(ast.parse(path.read_text()))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(node.args[0].value)
    return names


def test_production_values_pass_the_deploy_check_at_warning_level():
    production = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    }

    result = _deploy_check(**production)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_defaults_fail_the_deploy_check():
    development = {"DJANGO_DEBUG": "true"}

    result = _deploy_check(**development)

    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on


def test_every_variable_settings_reads_is_listed_in_env_example():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))

    read = _variables_read_by_settings()

    assert len(read) > 20  # the parser found the env.<cast>(...) calls
    assert read - listed == set()


def test_every_listed_variable_sits_under_a_comment():
    lines = ENV_EXAMPLE.read_text().splitlines()
    variable = re.compile(r"^#?\s*[A-Z][A-Z0-9_]*=")

    # A variable follows its explanatory comment, or another variable of the same group.
    orphans = [
        line
        for i, line in enumerate(lines)
        if variable.match(line) and (i == 0 or not lines[i - 1].startswith("#"))
    ]

    assert orphans == []
