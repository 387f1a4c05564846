"""scrypt is slow by design (~45 ms a PIN). Hashing or checking a PIN while holding the
database's write lock would make every other sender wait, so the webhook does that work
before it takes the lock. These tests watch where each scrypt call happens."""

from __future__ import annotations

import pytest

import flows.service.pins as pin_work
from tests.helpers.conversation_script import ScriptRunner


@pytest.fixture
def scrypt_calls(sms_app, monkeypatch):
    """Record, for every hash or check, whether a write transaction was open."""
    conn_of_this_thread = sms_app.extensions["lowband"].store().db.conn
    calls: list[tuple[str, bool]] = []
    real_hash, real_verify = pin_work.hash_pin, pin_work.verify_pin

    def hash_pin(*args, **kwargs):
        calls.append(("hash", conn_of_this_thread.in_transaction))
        return real_hash(*args, **kwargs)

    def verify_pin(*args, **kwargs):
        calls.append(("verify", conn_of_this_thread.in_transaction))
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(pin_work, "hash_pin", hash_pin)
    monkeypatch.setattr(pin_work, "verify_pin", verify_pin)
    return calls


def test_a_new_pin_is_hashed_before_the_write_lock(twilio, scrypt_calls):
    for text in ["hi", "YES", "Wanjiku Njeri", "1990", "5831", "5831", "1"]:
        twilio.sms("+254733400401", text)
    assert scrypt_calls == [("hash", False)]


def test_a_pin_is_checked_before_the_write_lock(twilio, sms_app, scrypt_calls):
    store = sms_app.extensions["lowband"].store()
    ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", "+254712345678", "pin=1111", "consent"])
    scrypt_calls.clear()
    assert "PIN" in twilio.sms("+254712345678", "4").messages[0]
    assert "tries left" in twilio.sms("+254712345678", "9999").messages[0]
    assert "medicines" in twilio.sms("+254712345678", "1111").messages[0]
    assert scrypt_calls == [("verify", False), ("verify", False)]
