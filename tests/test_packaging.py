"""The installed product: every app of the project is packaged, and no runtime module imports a
dev-only dependency (the simulator's --url mode imported requests, which only the dev extras
bring)."""

from __future__ import annotations

import ast
import fnmatch
import tomllib

from django.conf import settings

from tests.conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
# Import names of what only `pip install .[dev]` brings: the dev extras and what they pull in.
DEV_ONLY = {
    "pytest", "pytest_django", "factory", "hypothesis", "schemathesis", "playwright",
    "pytest_playwright", "ruff", "importlinter", "requests",
}  # fmt: skip


def _project_apps() -> list[str]:
    tops = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    return sorted(top for top in tops if (REPO_ROOT / top / "__init__.py").exists())


def test_every_app_of_the_project_is_in_the_installed_packages():
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]

    missing = [app for app in _project_apps() if not any(fnmatch.fnmatch(app, p) for p in patterns)]

    assert missing == []


def test_no_runtime_module_imports_a_dev_only_dependency():
    found = []
    for app in _project_apps():
        for path in sorted((REPO_ROOT / app).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                else:
                    continue
                found += [
                    f"{path.relative_to(REPO_ROOT)}:{node.lineno} {name}"
                    for name in names
                    if name.split(".")[0] in DEV_ONLY
                ]

    assert found == []
