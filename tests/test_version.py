"""The version means something: one number in the package, its metadata and the changelog."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import keyturn

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_the_project_and_the_changelog_agree() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    newest = re.search(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d\d-\d\d$", _changelog(), re.M)
    assert newest is not None, "CHANGELOG.md has no release heading"
    assert keyturn.__version__ == project == newest.group(1)


def test_every_release_has_added_or_changed_entries_and_is_newest_first() -> None:
    versions = re.findall(r"^## \[(\d+)\.(\d+)\.(\d+)\]", _changelog(), re.M)
    numbers = [tuple(int(part) for part in version) for version in versions]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)


def _changelog() -> str:
    return (ROOT / "CHANGELOG.md").read_text()
