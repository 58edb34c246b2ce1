"""Two-step verification: authenticator-app codes (TOTP) and recovery codes.

TOTP is RFC 6238 with the parameters every authenticator app supports: SHA-1,
30-second steps, 6 digits. A code is checked against the step before, the current
step and the step after (clock drift between phone and server), and the step that
matched is returned: the store accepts it only if it is later than the last step
accepted, so no code works twice (RFC 6238 §5.2).

Recovery codes are ten random codes shown once; only their keyed hashes are
stored, each usable once, for when the phone is lost.
"""

from __future__ import annotations

import secrets

import pyotp

from keyturn.oauth.keyring import seal, unseal
from keyturn.oauth.secrets import SecretHasher
from keyturn.store.records import SecondFactor

DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1  # one step either side
RECOVERY_CODES = 10
# Lower-case letters and digits without look-alikes (0/o, 1/l/i): read off paper.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_HALF = 5  # two groups of five: 50 bits, far beyond guessing under back-off
_SEAL_KIND = "totp secret"


def new_secret() -> str:
    """A base32 TOTP secret of 160 bits, the size RFC 4226 recommends for SHA-1."""
    return pyotp.random_base32(32)


def setup_uri(secret: str, email: str, issuer_name: str) -> str:
    """The `otpauth://totp/…` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=email, issuer_name=issuer_name
    )


def code_at(secret: str, when: float) -> str:
    """The code an authenticator shows at `when` (for tests and tools)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(when)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The 30-second step whose code `code` is, within the allowed drift, or None."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(now)
    # Newest first: of two matching steps the later one consumes more, which is safe.
    for step in range(current + DRIFT_STEPS, current - DRIFT_STEPS - 1, -1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def normalise_code(text: str) -> str:
    """What the user typed, without spaces and hyphens, in lower case."""
    return "".join(char for char in text if char not in " -\t").lower()


def new_recovery_codes() -> list[str]:
    def half() -> str:
        return "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_HALF))

    return [f"{half()}-{half()}" for _ in range(RECOVERY_CODES)]


def recovery_hash(hasher: SecretHasher, user_id: str, code: str) -> bytes:
    """Bound to the user, so one user's code is nobody else's."""
    return hasher.hash(f"recovery-code {user_id} {normalise_code(code)}")


def looks_like_recovery_code(code: str) -> bool:
    normal = normalise_code(code)
    return len(normal) == 2 * _RECOVERY_HALF and all(c in _RECOVERY_ALPHABET for c in normal)


def second_factor(
    secret: str, hasher: SecretHasher, user_id: str, code: str, now: float
) -> SecondFactor | None:
    """What the store must consume for `code`, or None when it cannot be right.

    A six-digit code is a TOTP code; anything shaped like a recovery code is one
    (the store decides whether it exists and is unused)."""
    normal = normalise_code(code)
    step = matching_step(secret, normal, now)
    if step is not None:
        return SecondFactor(totp_step=step)
    if looks_like_recovery_code(normal):
        return SecondFactor(recovery_hash=recovery_hash(hasher, user_id, normal))
    return None


def seal_secret(key: bytes, secret: str) -> bytes:
    return seal(key, _SEAL_KIND, secret.encode())


def unseal_secret(key: bytes, sealed: bytes) -> str:
    return unseal(key, _SEAL_KIND, sealed).decode()
