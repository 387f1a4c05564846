"""PIN work done before the write lock is taken.

scrypt costs ~45 ms of CPU by design. The step (which checks an entered PIN through
the Directory) runs before the message's write transaction, so a check never holds
anyone waiting; a PIN being set is hashed once the step has decided it (see
ConversationService._plan), also before the transaction, and the effect applied inside
it uses the hash made. No flow step is named here: the effects say what needs hashing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage import Store
from storage.pins import hash_pin, verify_pin


@dataclass
class PinWork:
    hashes: dict[str, str] = field(default_factory=dict)  # pin -> stored hash
    checks: dict[tuple[int, str, str], bool] = field(default_factory=dict)  # (patient, pin, hash) -> ok

    def hash(self, store: Store, pin: str) -> str:
        if pin not in self.hashes:
            self.hashes[pin] = hash_pin(store.keys.pin_key, pin, store.pin_work)
        return self.hashes[pin]

    def verify(self, store: Store, patient_id: int, pin: str, stored: str | None) -> bool:
        key = (patient_id, pin, stored or "")
        if key not in self.checks:
            self.checks[key] = verify_pin(store.keys.pin_key, pin, stored)
        return self.checks[key]
