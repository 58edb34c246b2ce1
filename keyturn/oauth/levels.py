"""Authentication levels, and how ID tokens name them (OIDC Core §2: acr, amr).

Level 1 is a password (or a partner's registration code, which stands in for
one until the person claims the account); level 2 is a password and a second
factor (a TOTP code or a recovery code). Every grant keeps the level it was
issued at, so a client whose policy later demands more can refuse the rest.
"""

from __future__ import annotations

PASSWORD_LEVEL = 1
MFA_LEVEL = 2
LEVELS = (PASSWORD_LEVEL, MFA_LEVEL)
ACR_PREFIX = "urn:keyturn:loa:"
# RFC 8176 method names.
METHODS = {1: ["pwd"], 2: ["pwd", "otp"]}


def acr_of(level: int) -> str:
    return f"{ACR_PREFIX}{level}"


def amr_of(level: int) -> list[str]:
    return list(METHODS.get(level, METHODS[1]))


ACR_VALUES_SUPPORTED = [acr_of(level) for level in LEVELS]


def required_of(require_mfa: bool) -> int:
    """The level a client's grants must have been issued at to keep working."""
    return MFA_LEVEL if require_mfa else PASSWORD_LEVEL
