"""Staff users: clinicians, pharmacists, CHWs, their supervisors and admins."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.errors import NotFound, StorageError
from storage.records import insert_sealed, open_row

if TYPE_CHECKING:
    from storage.store import Store

TABLE = "staff"
ROLES = ("clinician", "pharmacist", "chw", "chw_supervisor", "admin")
SEALED = ("name", "phone", "email")
COLUMNS = ["id", "role", "name", "phone", "email", "active", "created_at"]
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


class StaffRepository:
    def __init__(self, store: Store):
        self.store = store

    def _user(self, row) -> StaffUser:
        data = open_row(self.store, TABLE, row, COLUMNS, SEALED)
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
        with store.write():
            try:
                insert_sealed(store, TABLE, row, SEALED)
            except sqlite3.IntegrityError:
                raise StorageError("a staff user with that phone number already exists") from None
        return self.get(row["id"])

    def get(self, user_id: int) -> StaffUser:
        row = self.store.one(f"{_SELECT} WHERE id = ?", (user_id,))
        if row is None:
            raise NotFound(f"no staff user with id {user_id}")
        return self._user(row)

    def by_phone(self, e164: str) -> StaffUser | None:
        row = self.store.one(f"{_SELECT} WHERE phone_index = ? AND active = 1", (self.store.phone_index(e164),))
        return self._user(row) if row else None

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
