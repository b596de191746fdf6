"""argon2id for passwords and one-time codes, and codes that are hard to guess but easy to type."""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# No 0/O, no 1/I: a code read aloud or copied from paper comes out right.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: 5 bits each
SELECTOR_LENGTH = 4

# Passwords get argon2-cffi's RFC 9106 low-memory profile. Codes carry 60+ random bits, so the
# hash only has to make a stolen table useless, not slow down a dictionary: OWASP's smallest profile.
PASSWORDS = PasswordHasher()
CODES = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

_DUMMY = {id(PASSWORDS): PASSWORDS.hash("not-a-real-secret"), id(CODES): CODES.hash("NOTAREALCODE")}


def new_code(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def group(code: str, size: int = 4) -> str:
    """ABCDEFGH -> ABCD-EFGH, as printed and shown."""
    return "-".join(code[i : i + size] for i in range(0, len(code), size))


def normalize(typed: str) -> str:
    """What the person typed, without spaces, dashes or case."""
    return re.sub(r"[^0-9A-Za-z]", "", typed).upper()


def selector(code: str) -> str:
    return code[:SELECTOR_LENGTH]


def hash_code(code: str) -> str:
    return CODES.hash(code)


def hash_password(password: str) -> str:
    return PASSWORDS.hash(password)


def verify(hasher: PasswordHasher, stored: str | None, given: str) -> bool:
    """Check `given` against `stored`; with no stored hash, check a dummy so the time is the same."""
    try:
        return hasher.verify(stored or _DUMMY[id(hasher)], given) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def verify_code(stored: str | None, given: str) -> bool:
    return verify(CODES, stored, given)


def verify_password(stored: str | None, given: str) -> bool:
    return verify(PASSWORDS, stored, given)


def needs_rehash(stored: str) -> bool:
    return PASSWORDS.check_needs_rehash(stored)
