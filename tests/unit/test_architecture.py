"""The domain layer never imports a door (reflex, fastapi, starlette, click)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "meshkeys"
DOORS = {"reflex", "fastapi", "starlette", "click", "meshkeys.api", "meshkeys.ui", "meshkeys.cli"}
DOMAIN = [
    "models.py",
    "db.py",
    "config.py",
    "clock.py",
    "migrations.py",
    "logs.py",
    "web_session.py",
    "forwarding.py",
    "crypto",
    "services",
]


def _files():
    for entry in DOMAIN:
        path = PACKAGE / entry
        yield from (sorted(path.rglob("*.py")) if path.is_dir() else [path])


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("path", list(_files()), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_modules_import_no_door(path):
    bad = [m for m in _imports(path) if any(m == d or m.startswith(d + ".") for d in DOORS)]
    assert not bad, f"{path.name} imports {bad}: keep the domain layer free of UI/API/CLI"


def test_crypto_imports_no_database():
    for path in (PACKAGE / "crypto").rglob("*.py"):
        bad = [m for m in _imports(path) if m.startswith(("sqlalchemy", "sqlmodel", "meshkeys.db"))]
        assert not bad, f"{path.name} imports {bad}"


DOOR_PACKAGES = {"api": "meshkeys.api", "ui": "meshkeys.ui", "cli": "meshkeys.cli"}


def _door_files():
    for name, module in DOOR_PACKAGES.items():
        path = PACKAGE / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [PACKAGE / f"{name}.py"]
        for file in files:
            yield module, file


@pytest.mark.parametrize(
    ("door", "path"), list(_door_files()), ids=lambda v: v if isinstance(v, str) else v.name
)
def test_doors_import_no_other_door(door, path):
    """The UI does not reach into the API, nor the CLI into either: shared helpers live in a
    neutral module (meshkeys.web_session, meshkeys.logs). Only meshkeys/meshkeys.py, the app
    module, composes the UI and the API."""
    others = [m for m in DOOR_PACKAGES.values() if m != door]
    bad = [m for m in _imports(path) if any(m == o or m.startswith(o + ".") for o in others)]
    assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}: doors talk only to services"


def test_the_door_rule_can_fail(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from meshkeys.api.routes.session import SESSION_COOKIE\n")
    assert list(_imports(sample)) == ["meshkeys.api.routes.session"]
