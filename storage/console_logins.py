"""Console sign-ins: a staff user's email (found by its keyed hash), a slow password
hash, and the count of wrong passwords that locks the account for a while."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from storage.store import iso

if TYPE_CHECKING:
    from storage.store import Store

FAILURES_TO_LOCK = 5
LOCKED_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class ConsoleLogin:
    staff_id: int
    password_hash: str
    failures: int
    locked_until: str | None
    session_stamp: str  # new with each password: a session signed with an old one is over

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > iso(now)


def email_key(email: str) -> str:
    return email.strip().casefold()


_SELECT = "SELECT staff_id, password_hash, failures, locked_until, session_stamp FROM console_logins"


class ConsoleLoginRepository:
    def __init__(self, store: Store):
        self.store = store

    def _index(self, email: str) -> bytes:
        return self.store.cipher.blind_index("email", email_key(email))

    def set_password(self, staff_id: int, email: str, password_hash: str) -> None:
        """A new password (and email) for this user; failures and any lock are cleared."""
        store = self.store.writing()
        store.execute(
            "INSERT INTO console_logins (staff_id, email_index, password_hash, failures, locked_until, changed_at, "
            "session_stamp) VALUES (?, ?, ?, 0, NULL, ?, ?) ON CONFLICT(staff_id) DO UPDATE SET "
            "email_index = excluded.email_index, password_hash = excluded.password_hash, failures = 0, "
            "locked_until = NULL, changed_at = excluded.changed_at, session_stamp = excluded.session_stamp",
            (staff_id, self._index(email), password_hash, store.now_iso(), secrets.token_hex(8)))

    def new_stamp(self, staff_id: int) -> None:
        """Ends every session this user has open (signed with the old stamp)."""
        self.store.writing().execute("UPDATE console_logins SET session_stamp = ? WHERE staff_id = ?",
                                     (secrets.token_hex(8), staff_id))

    def email_taken(self, email: str, by_other_than: int | None = None) -> bool:
        row = self.store.one("SELECT staff_id FROM console_logins WHERE email_index = ?", (self._index(email),))
        return row is not None and row[0] != by_other_than

    def by_email(self, email: str) -> ConsoleLogin | None:
        row = self.store.one(f"{_SELECT} WHERE email_index = ?", (self._index(email),))
        return ConsoleLogin(*row) if row else None

    def get(self, staff_id: int) -> ConsoleLogin | None:
        row = self.store.one(f"{_SELECT} WHERE staff_id = ?", (staff_id,))
        return ConsoleLogin(*row) if row else None

    def failed(self, staff_id: int, now: datetime) -> bool:
        """A wrong password; True when it locks the account (FAILURES_TO_LOCK in a row)."""
        store = self.store.writing()
        failures = store.one("SELECT failures FROM console_logins WHERE staff_id = ?", (staff_id,))[0] + 1
        locked = failures >= FAILURES_TO_LOCK
        store.execute("UPDATE console_logins SET failures = ?, locked_until = ? WHERE staff_id = ?",
                      (0 if locked else failures, iso(now + LOCKED_FOR) if locked else None, staff_id))
        return locked

    def succeeded(self, staff_id: int) -> None:
        self.store.writing().execute("UPDATE console_logins SET failures = 0, locked_until = NULL WHERE staff_id = ?",
                                     (staff_id,))
