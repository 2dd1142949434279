"""What may import what (README, Development): the folders are the architecture.

- the pipeline is pure: it imports no adapter, no lifecycle, no application wiring, no network;
- the lifecycle knows ports, not vendors: no database, HTTP or Supabase library, no adapter;
- the domain stands on its own.
Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "daemon"
VENDORS = frozenset(
    {
        "supabase",
        "postgrest",
        "storage3",
        "realtime",
        "gotrue",
        "supabase_auth",
        "psycopg",
        "psycopg_pool",
        "httpx",
        "aiohttp",
        "websockets",
        "pyvips",
    }
)


def _imports(folder: str) -> dict[str, set[str]]:
    """Every module imported by each file under daemon/<folder> (or daemon/<folder>.py); for
    `from X import a`, X.a (a module or a name in X: the rules below accept either)."""
    root = PACKAGE / folder
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    found: dict[str, set[str]] = {}
    for file in files:
        names: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(file.relative_to(PACKAGE.parent))] = names
    assert found, f"nothing found under {root}"
    return found


def _violations(folder: str, allowed: tuple[str, ...], banned: frozenset[str]) -> list[str]:
    bad = []
    for file, names in _imports(folder).items():
        for name in sorted(names):
            top = name.split(".")[0]
            inside = name.startswith("daemon")
            if (inside and not name.startswith(allowed)) or top in banned:
                bad.append(f"{file} imports {name}")
    return bad


def test_the_pipeline_imports_no_adapter_and_nothing_outside_the_domain() -> None:
    assert _violations("pipeline", ("daemon.pipeline", "daemon.domain"), VENDORS | {"anyio"}) == []


def test_the_lifecycle_imports_no_vendor_library_and_no_adapter() -> None:
    allowed = (
        "daemon.lifecycle",
        "daemon.pipeline",
        "daemon.domain",
        "daemon.ports",
        "daemon.app.metrics",
        "daemon.app.settings",
    )
    assert _violations("lifecycle", allowed, VENDORS) == []


def test_the_domain_stands_on_its_own() -> None:
    assert _violations("domain", ("daemon.domain",), VENDORS) == []


def test_the_ports_know_the_domain_and_the_pipeline_only() -> None:
    assert _violations("ports", ("daemon.ports", "daemon.domain", "daemon.pipeline"), VENDORS) == []


@pytest.mark.parametrize("folder", ["pipeline", "lifecycle", "domain"])
def test_the_check_sees_imports(folder: str) -> None:
    """The rules above are only as good as what they read: each folder imports something."""
    assert any(names for names in _imports(folder).values())
