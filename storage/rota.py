"""Who is on call: a simple rota of shifts. With no shift covering a moment, every
active staff user of the role is on call (a small clinic has no rota at all)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.alert_delivery import reachable
from storage.errors import StorageError

if TYPE_CHECKING:
    from storage.staff import StaffUser
    from storage.store import Store


@dataclass(frozen=True)
class Shift:
    id: int
    staff_id: int
    starts_at: str
    ends_at: str


class Rota:
    def __init__(self, store: Store):
        self.store = store

    def add(self, staff_id: int, starts_at: str, ends_at: str) -> Shift:
        if ends_at <= starts_at:
            raise StorageError("a shift must end after it starts")
        row_id = self.store.new_id()
        self.store.writing()
        self.store.execute(
            "INSERT INTO oncall (id, staff_id, starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?)",
            (row_id, staff_id, starts_at, ends_at, self.store.now_iso()),
        )
        return Shift(row_id, staff_id, starts_at, ends_at)

    def shifts(self, since: str = "") -> list[Shift]:
        rows = self.store.execute(
            "SELECT id, staff_id, starts_at, ends_at FROM oncall WHERE ends_at > ? ORDER BY starts_at", (since,)
        ).fetchall()
        return [Shift(*r) for r in rows]

    def remove(self, shift_id: int) -> bool:
        self.store.writing()
        return self.store.execute("DELETE FROM oncall WHERE id = ?", (shift_id,)).rowcount > 0

    def on_call(self, role: str, at: str) -> list[StaffUser]:
        """Staff of `role` on call at `at`: those with a shift then, else all of them.
        Nobody who texted STOP is on call: nothing we send would reach them."""
        staff = reachable(self.store, role)
        rows = self.store.execute(
            "SELECT DISTINCT staff_id FROM oncall WHERE starts_at <= ? AND ends_at > ?", (at, at)
        ).fetchall()
        rostered = {r[0] for r in rows}
        on_shift = [u for u in staff if u.id in rostered]
        return on_shift or staff
