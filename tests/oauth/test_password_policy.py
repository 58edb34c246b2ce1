"""New passwords: long enough, not too long, not the first an attacker tries."""

from __future__ import annotations

import pytest

from keyturn.oauth.password_policy import MAX_LENGTH, password_problem


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "PassWord123",
        "12345678",
        "qwertyuiop",
        "zzzzzzzzzz",
        "ann12345@example.com",
        "ANN12345",
    ],
)
def test_common_and_personal_passwords_are_refused(password: str) -> None:
    assert password_problem(password, "ann12345@example.com")


@pytest.mark.parametrize("password", ["", "seven77", "x" * (MAX_LENGTH + 1)])
def test_too_short_or_too_long_is_refused_with_the_limit(password: str) -> None:
    problem = password_problem(password)
    assert problem is not None and any(char.isdigit() for char in problem)


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "tr0ub4dor&3x", "ünïcödé pässwörd", "ab" * (MAX_LENGTH // 2)],
)
def test_anything_else_is_fine_without_composition_rules(password: str) -> None:
    assert password_problem(password, "ann@example.com") is None
