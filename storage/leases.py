"""Leases: one holder at a time for a named job, given up by expiry, not by goodbye (a
holder killed mid-pass never says goodbye)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from storage.store import iso

if TYPE_CHECKING:
    from storage.store import Store


class LeaseRepository:
    def __init__(self, store: Store):
        self.store = store

    def take(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease; False while someone else holds one that has not lapsed."""
        store = self.store.writing()
        row = store.one("SELECT holder, expires_at FROM leases WHERE name = ?", (name,))
        if row is not None and row[0] != holder and row[1] > iso(now):
            return False
        store.execute("INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT(name) "
                      "DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
                      (name, holder, iso(now + ttl)))
        return True

    def holder(self, name: str) -> tuple[str, str] | None:
        row = self.store.one("SELECT holder, expires_at FROM leases WHERE name = ?", (name,))
        return (row[0], row[1]) if row else None

    def give_up(self, name: str, holder: str) -> None:
        self.store.writing().execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
