"""What a new password must be (NIST SP 800-63B §5.1.1.2): long enough, not absurdly
long, and not one that attackers try first. No composition rules (a digit, a symbol):
the guidance is against them, since they make passwords harder to remember, not to
guess."""

from __future__ import annotations

MIN_LENGTH = 8
MAX_LENGTH = 256  # a passphrase fits; a megabyte for Argon2 to chew on does not

# Passwords of 8 characters or more that lead the published lists of leaked
# passwords, and the words they are built from; compared ignoring case. Short ones
# are refused by length already.
COMMON = frozenset(
    {
        "password",
        "password1",
        "password12",
        "password123",
        "password1234",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "12345678",
        "123456789",
        "1234567890",
        "0123456789",
        "87654321",
        "987654321",
        "11111111",
        "00000000",
        "12341234",
        "11223344",
        "12121212",
        "88888888",
        "99999999",
        "55555555",
        "66666666",
        "77777777",
        "abcd1234",
        "abc12345",
        "abcdefgh",
        "qwerty12",
        "qwerty123",
        "qwertyui",
        "qwertyuiop",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "1qaz2wsx",
        "zaq12wsx",
        "1qazxsw2",
        "qazwsxedc",
        "asdfghjk",
        "asdfghjkl",
        "zxcvbnm1",
        "iloveyou",
        "iloveyou1",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "basketball",
        "superman",
        "batman123",
        "starwars",
        "whatever",
        "computer",
        "internet",
        "michelle",
        "jennifer",
        "trustno1",
        "welcome1",
        "welcome123",
        "letmein1",
        "letmein123",
        "changeme",
        "changeme1",
        "admin123",
        "administrator",
        "master12",
        "monkey12",
        "dragon12",
        "shadow12",
        "charlie1",
        "liverpool",
        "chelsea1",
        "arsenal1",
        "aaaaaaaa",
        "qwertyuiop1",
        "iloveu123",
        "pokemon1",
        "matrix12",
        "mustang1",
        "jordan23",
        "freedom1",
        "secret123",
        "test1234",
        "testtest",
        "guest123",
        "default1",
        "keyturn1",
        "keyturn123",
    }
)


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why `password` may not be set, in words for the person choosing it; None if fine."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    folded = password.casefold()
    if folded in COMMON or len(set(folded)) == 1:
        return "That password is one of the first that attackers try. Choose another."
    if email and folded in {email.casefold(), email.split("@", 1)[0].casefold()}:
        return "Do not use your email address as your password."
    return None
