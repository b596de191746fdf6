"""The portal's argon2id parameters (the rest of the suite hashes at the smallest cost, see conftest)."""

from __future__ import annotations

from portal.security import hashing
from tests.conftest import PRODUCTION_HASHERS


def test_passwords_use_the_rfc_9106_low_memory_profile() -> None:
    passwords = PRODUCTION_HASHERS["PASSWORDS"]

    assert (passwords.time_cost, passwords.memory_cost, passwords.parallelism) == (3, 64 * 1024, 4)
    assert passwords.hash("a long passphrase").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_codes_use_owasps_smallest_argon2id_profile() -> None:
    codes = PRODUCTION_HASHERS["CODES"]

    assert (codes.time_cost, codes.memory_cost, codes.parallelism) == (2, 19 * 1024, 1)
    assert codes.hash("ABCD2345EFGH").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_code_matches_only_itself_however_it_was_typed() -> None:
    stored = hashing.hash_code(hashing.normalize("abcd-2345 efgh"))

    assert hashing.verify_code(stored, "ABCD2345EFGH")
    assert not hashing.verify_code(stored, "ABCD2345EFGJ")
    assert not hashing.verify_code(None, "ABCD2345EFGH")
