"""bench/ and tools/ import nothing from the test suite; shared helpers live in testkit/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(path for folder in ("bench", "tools") for path in (ROOT / folder).rglob("*.py"))


def imports_of_tests(path: Path) -> list[str]:
    """Each `import tests…` / `from tests… import …` in a file, as "line: module"."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found += [
            f"{node.lineno}: {module}"
            for module in modules
            if module == "tests" or module.startswith("tests.")
        ]
    return found


def test_there_are_sources_to_check() -> None:
    assert ROOT / "bench" / "run.py" in SOURCES
    assert ROOT / "tools" / "screenshots.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_nothing_from_tests(path: Path) -> None:
    assert imports_of_tests(path) == [], f"{path.relative_to(ROOT)} imports from tests/"


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import tests\nimport os, tests.support as s\nfrom tests.http import oidc_helpers\n"
        "from tests import support\nfrom testkit import oidc\nimport testsuite\n"
        "def f():\n    from tests.e2e.conftest import CHROMIUM\n"
    )
    assert imports_of_tests(sample) == [
        "1: tests",
        "2: tests.support",
        "3: tests.http",
        "4: tests",
        "8: tests.e2e.conftest",
    ]


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_runs_no_test_module_either(path: Path) -> None:
    """`python -m tests.…` in a subprocess is the same dependency by other means."""
    assert '"tests.' not in path.read_text(), f"{path.relative_to(ROOT)} runs a module of tests/"
