"""The numeric core must not know about Django: it is importable and testable on its own."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "recommender" / "core"
# The frameworks, plus every project app: the named ones and any package added at the root later.
PROJECT_APPS = {p.name for p in REPO.iterdir() if (p / "__init__.py").exists()} - {"recommender"}
FORBIDDEN_ROOTS = {"django", "rest_framework", "celery", "catalog", "behavior", "config"}
FORBIDDEN_ROOTS |= PROJECT_APPS


def imported_modules(path: Path, source: str | None = None) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    text = path.read_text() if source is None else source
    tree = ast.parse(text, filename=str(path))
    package = ["recommender", "core", *path.relative_to(CORE).parent.parts]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def forbidden(module: str) -> bool:
    parts = module.split(".")
    if parts[0] in FORBIDDEN_ROOTS:
        return True
    return parts[0] == "recommender" and parts[1:2] != ["core"]


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_the_core_has_python_files_to_check():
    assert {"base.py", "matrix.py", "knn.py"} <= {path.name for path in core_files()}


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_no_core_module_imports_django_or_project_apps(path):
    offending = [module for module in imported_modules(path) if forbidden(module)]

    assert offending == [], f"{path.name} imports {offending}"


@pytest.mark.parametrize(
    "source",
    [
        "import django",
        "from django.db import models",
        "import rest_framework.serializers",
        "from celery import shared_task",
        "from catalog.models import Product",
        "import behavior",
        "from config import settings",
        "from recommender.models import ModelVersion",
        "from recommender import tasks",
        "from .. import services",
        "from demo.views import home",
    ],
)
def test_the_checker_catches_each_kind_of_forbidden_import(source):
    modules = imported_modules(CORE / "_probe.py", source)

    assert any(forbidden(module) for module in modules)


def test_the_checker_allows_numpy_scipy_and_the_core_itself():
    source = "\n".join(
        [
            "import numpy as np",
            "from scipy import sparse",
            "from recommender.core.base import FLOAT",
            "from . import ranking",
        ]
    )

    modules = imported_modules(CORE / "_probe.py", source)

    assert not any(forbidden(module) for module in modules)
