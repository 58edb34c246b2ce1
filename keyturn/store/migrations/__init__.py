"""Versioned SQL migrations, one folder per dialect.

Files are named `NNNN_name.sql` and applied in order, each in its own
transaction, and recorded in `schema_migrations`. They are written
expand/contract (add first, drop a release later) so an older and a newer
keyturn can share a database during a rolling upgrade, with one exception:
0010 rewrites the grants table into a compact layout that releases before it
cannot read, so that upgrade stops every instance first (docs/deployment.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> list[Migration]:
    folder = resources.files(__package__).joinpath(dialect)
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        number, _, rest = entry.name.partition("_")
        found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    found.sort(key=lambda migration: migration.version)
    return found


CREATE_LEDGER = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)
