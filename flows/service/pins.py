"""PIN work done before the write lock is taken.

scrypt costs ~45 ms of CPU by design. Done inside the request's write transaction it
would hold every other sender waiting; so when a text looks like a PIN answer, the
hash (for a PIN being set) or the check (for a PIN being entered) is computed first,
outside the lock, and the step inside the transaction uses the result. The session
read here is only a hint: a result is used only if it still fits what the step sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flows.engine import Session
from storage import Store
from storage.pins import hash_pin, verify_pin

# (flow, step) pairs where the text is a new PIN typed the second time, or a PIN to check.
SETTING = {("join", "pin_again"), ("consent", "pin_again"), ("newpin", "pin_again")}
CHECKING = {("unlock", "pin")}


@dataclass
class PinWork:
    hashes: dict[str, str] = field(default_factory=dict)  # pin -> stored hash
    checks: dict[tuple[int, str, str], bool] = field(default_factory=dict)  # (patient, pin, hash) -> ok

    def hash(self, store: Store, pin: str) -> str:
        return self.hashes.get(pin) or hash_pin(store.keys.pin_key, pin, store.pin_work)

    def verify(self, store: Store, patient_id: int, pin: str, stored: str | None) -> bool:
        key = (patient_id, pin, stored or "")
        if key not in self.checks:
            self.checks[key] = verify_pin(store.keys.pin_key, pin, stored)
        return self.checks[key]


def prepare(store: Store, text: str, phone_index: bytes) -> PinWork:
    """`text` is the inbound body, already normalised."""
    work = PinWork()
    pin = text.replace(" ", "")
    if len(pin) != 4 or not pin.isascii() or not pin.isdigit():
        return work
    session = Session.from_dict(store.sessions.load(phone_index))
    where = (session.flow, session.step)
    if where in SETTING:
        work.hashes[pin] = hash_pin(store.keys.pin_key, pin, store.pin_work)
    elif where in CHECKING and session.patient_id:
        stored = store.one("SELECT pin_hash FROM patients WHERE id = ?", (session.patient_id,))
        if stored:
            work.verify(store, session.patient_id, pin, stored[0])
    return work
