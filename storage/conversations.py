"""Per-number conversation state: the session (sealed) and the contact row
(opt-out and loop-guard counters). Both are keyed by the phone's blind index."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storage.records import DamagedRecord, open_value

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from storage.store import Store


@dataclass
class Contact:
    phone_index: bytes
    opted_out: bool = False
    opted_out_at: str | None = None
    window_start: str | None = None
    window_count: int = 0
    last_digest: str | None = None
    repeats: int = 0
    muted_until: str | None = None
    repeat_since: str | None = None
    carrier_blocked: bool = False
    reply_digests: str | None = None
    last_urgent_at: str | None = None
    # Bumped by every write of the row: a text decided on an older version is decided again.
    version: int = 0


_CONTACT_COLUMNS = [
    "phone_index", "opted_out", "opted_out_at", "window_start", "window_count", "last_digest", "repeats",
    "muted_until", "repeat_since", "carrier_blocked", "reply_digests", "last_urgent_at", "version",
]
_OPT_OUT_COLUMNS = frozenset({"opted_out", "opted_out_at", "carrier_blocked", "version"})


class SessionRepository:
    def __init__(self, store: Store):
        self.store = store

    def load(self, phone_index: bytes) -> dict[str, Any] | None:
        row = self.store.one("SELECT state FROM sessions WHERE phone_index = ?", (phone_index,))
        if row is None:
            return None
        try:
            return open_value(self.store, "sessions", "state", phone_index, row[0])
        except DamagedRecord as damage:
            # A conversation that cannot be read starts over; the person is asked again.
            log.warning("damaged session started over: %s", damage.problem)
            return None

    def save(self, phone_index: bytes, state: dict[str, Any]) -> None:
        sealed = self.store.seal("sessions", "state", phone_index, state)
        self.store.execute(
            "INSERT INTO sessions (phone_index, state, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(phone_index) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (phone_index, sealed, self.store.now_iso()),
        )

    def delete(self, phone_index: bytes) -> None:
        self.store.execute("DELETE FROM sessions WHERE phone_index = ?", (phone_index,))


class ContactRepository:
    def __init__(self, store: Store):
        self.store = store

    def get(self, phone_index: bytes) -> Contact:
        row = self.store.one(f"SELECT {', '.join(_CONTACT_COLUMNS)} FROM contacts WHERE phone_index = ?",  # noqa: S608
                             (phone_index,))
        if row is None:
            return Contact(phone_index)
        contact = Contact(*row)
        contact.opted_out, contact.carrier_blocked = bool(contact.opted_out), bool(contact.carrier_blocked)
        return contact

    def save(self, contact: Contact) -> None:
        """The loop guard's counters and reply digests. Opt-out is not among them: it is
        set only by set_opt_out, so a step's STOP is never overwritten by stale state."""
        values = {name: getattr(contact, name) for name in _CONTACT_COLUMNS if name not in _OPT_OUT_COLUMNS}
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        updates = ", ".join(f"{k} = excluded.{k}" for k in values if k != "phone_index")
        self.store.writing()
        self.store.execute(
            f"INSERT INTO contacts ({columns}, version) VALUES ({marks}, 1) "  # noqa: S608
            f"ON CONFLICT(phone_index) DO UPDATE SET {updates}, version = contacts.version + 1",
            values,
        )

    def version(self, phone_index: bytes) -> int:
        """How many times this phone's row was written (0: never)."""
        row = self.store.one("SELECT version FROM contacts WHERE phone_index = ?", (phone_index,))
        return row[0] if row else 0

    def is_opted_out(self, phone_index: bytes) -> bool:
        row = self.store.one("SELECT opted_out FROM contacts WHERE phone_index = ?", (phone_index,))
        return bool(row and row[0])

    def set_opt_out(self, phone_index: bytes, opted_out: bool, *, carrier_blocked: bool | None = None) -> None:
        """`carrier_blocked`: True or False when the carrier's own block is known to
        change with this word, None to leave it as it is."""
        self.store.writing()
        self.store.execute(
            "INSERT INTO contacts (phone_index, opted_out, opted_out_at, carrier_blocked, version) "
            "VALUES (?, ?, ?, ?, 1) "
            "ON CONFLICT(phone_index) DO UPDATE SET opted_out = excluded.opted_out, "
            "opted_out_at = excluded.opted_out_at, version = contacts.version + 1, "
            "carrier_blocked = coalesce(?, contacts.carrier_blocked)",
            (phone_index, int(opted_out), self.store.now_iso() if opted_out else None, int(bool(carrier_blocked)),
             None if carrier_blocked is None else int(carrier_blocked)),
        )
