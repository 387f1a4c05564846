"""Staff users: clinicians, pharmacists, CHWs, their supervisors and admins."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.errors import NotFound, StorageError
from storage.records import insert_sealed, open_row, open_value, skip_damaged, update_sealed

if TYPE_CHECKING:
    from storage.store import Store

TABLE = "staff"
ROLES = ("clinician", "pharmacist", "chw", "chw_supervisor", "admin")
COLUMNS = ["id", "role", "name", "phone", "email", "active", "created_at", "deactivated_at"]
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"  # noqa: S608


@dataclass(frozen=True)
class StaffUser:
    id: int
    role: str
    name: str
    phone: str
    email: str | None
    active: bool
    created_at: str
    deactivated_at: str | None


class StaffRepository:
    def __init__(self, store: Store):
        self.store = store

    def _user(self, row) -> StaffUser:
        data = open_row(self.store, TABLE, row, COLUMNS)
        data["active"] = bool(data["active"])
        return StaffUser(**data)

    def add(self, *, role: str, name: str, phone: str, email: str | None = None) -> StaffUser:
        if role not in ROLES:
            raise StorageError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        store = self.store
        row = {
            "id": store.new_id(),
            "role": role,
            "name": name,
            "phone": phone,
            "phone_index": store.phone_index(phone),
            "email": email,
            "created_at": store.now_iso(),
        }
        store.writing()
        try:
            insert_sealed(store, TABLE, row)
        except sqlite3.IntegrityError:
            raise StorageError("a staff user with that phone number already exists") from None
        return self.get(row["id"])

    def get(self, user_id: int) -> StaffUser:
        row = self.store.one(f"{_SELECT} WHERE id = ?", (user_id,))
        if row is None:
            raise NotFound(f"no staff user with id {user_id}")
        return self._user(row)

    def by_phone(self, e164: str, *, include_inactive: bool = False) -> StaffUser | None:
        """The active staff user on this number (or, with include_inactive, whoever holds
        it: a deactivated user keeps their number, which stays unique among staff)."""
        active = "" if include_inactive else " AND active = 1"
        row = self.store.one(f"{_SELECT} WHERE phone_index = ?{active}", (self.store.phone_index(e164),))
        return self._user(row) if row else None

    def by_email(self, email: str) -> list[StaffUser]:
        """Staff users (active or not) with this email, compared case-blind. Emails are
        sealed with no index, so each is opened; a damaged one is left out (and logged)."""
        wanted = email.strip().casefold()

        def match(row) -> int | None:
            value = open_value(self.store, TABLE, "email", row[0], row[1])
            return row[0] if isinstance(value, str) and value.strip().casefold() == wanted else None

        rows = self.store.execute("SELECT id, email FROM staff WHERE email IS NOT NULL ORDER BY id").fetchall()
        return [self.get(i) for i in skip_damaged(rows, match) if i is not None]

    def set_active(self, user_id: int, active: bool) -> int:
        """Deactivate (their texts are no longer staff commands, they leave every shift not
        yet over; returns how many shifts) or activate again (shifts are not restored)."""
        store = self.store
        store.writing()
        store.execute("UPDATE staff SET active = ?, deactivated_at = ? WHERE id = ?",
                      (int(active), None if active else store.now_iso(), user_id))
        if active:
            return 0
        return store.execute("DELETE FROM oncall WHERE staff_id = ? AND ends_at > ?",
                             (user_id, store.now_iso())).rowcount

    def set_supervisor(self, chw_id: int, supervisor_id: int | None) -> None:
        self.store.writing().execute("UPDATE staff SET supervisor_id = ? WHERE id = ?", (supervisor_id, chw_id))

    def supervised_by(self, supervisor_id: int) -> list[int]:
        """The CHWs (ids) this supervisor looks after: their patients are the panel."""
        return [r[0] for r in self.store.execute("SELECT id FROM staff WHERE supervisor_id = ?", (supervisor_id,))]

    def set_phone(self, user_id: int, e164: str) -> StaffUser:
        """A new number, sealed, with its blind index (so texts from it find this user)."""
        store = self.store
        store.writing()
        try:
            update_sealed(store, TABLE, user_id, {"phone": e164, "phone_index": store.phone_index(e164)})
        except sqlite3.IntegrityError:
            raise StorageError("a staff user with that phone number already exists") from None
        return self.get(user_id)

    def brief_by_phone_index(self, phone_index: bytes) -> tuple[int, str, str] | None:
        """(id, role, name) of the active staff user on this number: the hot path's
        lookup, opening only the name."""
        row = self.store.one("SELECT id, role, name FROM staff WHERE phone_index = ? AND active = 1", (phone_index,))
        return (row[0], row[1], self.store.open(TABLE, "name", row[0], row[2])) if row else None

    def all(self, role: str | None = None) -> list[StaffUser]:
        if role:
            rows = self.store.execute(f"{_SELECT} WHERE role = ? ORDER BY created_at, id", (role,))
        else:
            rows = self.store.execute(f"{_SELECT} ORDER BY role, created_at, id")
        return [self._user(r) for r in rows.fetchall()]
