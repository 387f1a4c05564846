"""A PIN costs ~45 ms of scrypt by design. Neither hashing a new PIN nor checking an
entered one may happen while the write lock is held: every other sender would wait.
Found by looking where the work runs, not by timing it."""

from __future__ import annotations

import storage.pins
from flows.service import pins as service_pins
from tests.helpers.conversation_script import ScriptRunner

PHONE = "+254712345678"


def test_pins_are_hashed_and_checked_with_no_transaction_open(twilio, sms_app, monkeypatch):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", PHONE, "born=1968"])
        ScriptRunner.add_patient(store, ["5970", "Halima Zawadi", PHONE, "pin=7391", "consent", "born=1994"])
    connections = [store.db.conn]  # the connection this thread's requests use
    seen: list[tuple[str, bool]] = []
    real_hash, real_verify = storage.pins.hash_pin, storage.pins.verify_pin

    def hash_pin(*args, **kwargs):
        seen.append(("hash", any(c.in_transaction for c in connections)))
        return real_hash(*args, **kwargs)

    def verify_pin(*args, **kwargs):
        seen.append(("verify", any(c.in_transaction for c in connections)))
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(service_pins, "hash_pin", hash_pin)
    monkeypatch.setattr(service_pins, "verify_pin", verify_pin)
    # Amina consents and sets her PIN; then Halima unlocks her own menu item.
    for body in ["hi", "1", "YES", "4826", "4826", "MENU", "2", "1", "7391"]:
        assert twilio.sms(PHONE, body).status == 200
    assert ("hash", False) in seen and ("verify", False) in seen
    assert all(not locked for _, locked in seen), seen
