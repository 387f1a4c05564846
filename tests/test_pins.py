"""PINs are slow, salted and peppered hashes: never the PIN, never the same twice."""

from __future__ import annotations

import secrets

import pytest

from storage.pins import hash_pin, verify_pin

WORK = 4  # the format and checks are the same at full cost; only slower


@pytest.fixture
def pin_key() -> bytes:
    return secrets.token_bytes(32)


def test_the_right_pin_verifies(pin_key):
    assert verify_pin(pin_key, "4821", hash_pin(pin_key, "4821", WORK))


@pytest.mark.parametrize("wrong", ["4822", "1284", "482", "48210", "", " 4821"])
def test_a_wrong_pin_does_not(pin_key, wrong):
    assert not verify_pin(pin_key, wrong, hash_pin(pin_key, "4821", WORK))


def test_the_stored_text_does_not_contain_the_pin_and_is_salted(pin_key):
    first, second = hash_pin(pin_key, "4821", WORK), hash_pin(pin_key, "4821", WORK)
    assert "4821" not in first and "4821" not in second
    assert first != second
    assert verify_pin(pin_key, "4821", first) and verify_pin(pin_key, "4821", second)


def test_the_stored_text_records_its_cost(pin_key):
    assert hash_pin(pin_key, "4821", WORK).split("$")[:2] == ["scrypt", str(WORK)]
    # Full cost by default: a hash made today stays checkable if tests' cost changes.
    assert hash_pin(pin_key, "4821").split("$")[1] == "14"


def test_without_the_pin_key_the_hash_is_useless(pin_key):
    stored = hash_pin(pin_key, "4821", WORK)
    other_key = secrets.token_bytes(32)
    assert not verify_pin(other_key, "4821", stored)


@pytest.mark.parametrize(
    "stored",
    [None, "", "4821", "bcrypt$4$8$1$AAAA$BBBB", "scrypt$x$8$1$AAAA$BBBB", "scrypt$4$8$1", "scrypt$4$8$1$!!$BBBB",
     # An absurd cost must be refused, not attempted (it would hang a request).
     "scrypt$40$8$1$AAAA$BBBB"],
)
def test_a_missing_or_malformed_hash_never_verifies(pin_key, stored):
    assert not verify_pin(pin_key, "4821", stored)
