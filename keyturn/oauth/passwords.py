"""Argon2id for anything a person chose: passwords and partner registration codes."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's Argon2id setting (19 MiB, 2 passes, 1 lane): strong against guessing
# while keeping a burst of sign-ins from costing 64 MiB each.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Verified against when a user has no hash, so a missing account costs as much
# time as a wrong password and does not reveal itself.
_DUMMY = _hasher.hash("keyturn-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, stored: str | None) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
