"""The layers of the design, checked on the import graph of every module.

- the protocol core (`keyturn.oauth`, `keyturn.operations`) imports no HTTP code and
  no database driver: it works on records and the Store protocol;
- the HTTP layer imports no database driver: the store turns driver errors into
  its own;
- the store imports nothing of HTTP or the core;
- the client SDK imports nothing of the server, so it can be split off.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "keyturn"
DRIVERS = ("asyncpg", "sqlite3", "redis", "psycopg", "sqlalchemy")


def imports_of(package: str) -> dict[str, set[str]]:
    """Module path -> every module it imports (absolute names)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package.replace("keyturn.", "").replace(".", "/")).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT.parent))] = names
    return found


def crossings(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in imports_of(package).items()
        for name in names
        if any(name == bad or name.startswith(bad + ".") for bad in forbidden)
    )


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("keyturn.oauth", ("keyturn.http", "keyturn.cli", "uvicorn", *DRIVERS)),
        ("keyturn.operations", ("keyturn.http", "keyturn.cli", "uvicorn", *DRIVERS)),
        ("keyturn.http", DRIVERS),
        ("keyturn.store", ("keyturn.http", "keyturn.oauth", "keyturn.operations", "uvicorn")),
        (
            "keyturn.client",
            (
                "keyturn.oauth",
                "keyturn.http",
                "keyturn.store",
                "keyturn.operations",
                "keyturn.config",
                "keyturn.admin",
                "keyturn.runtime",
            ),
        ),
    ],
)
def test_layers_are_not_crossed(package: str, forbidden: tuple[str, ...]) -> None:
    assert crossings(package, forbidden) == []


def test_the_check_sees_a_crossing() -> None:
    """Guard against a check that passes because it reads nothing."""
    found = crossings("keyturn.store", ("asyncpg",))
    assert "keyturn/store/postgres.py imports asyncpg" in found
