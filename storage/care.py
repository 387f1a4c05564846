"""Readings, alerts, and the short references people type back ("A12")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storage.errors import NotFound
from storage.records import open_value, skip_damaged

if TYPE_CHECKING:
    from storage.store import Store


def next_ref(store: Store, name: str, prefix: str) -> str:
    """The next short reference for `name` ("alert" -> "A12"), inside the caller's
    write transaction so two requests never get the same one.

    Plain decimal after the prefix: one key press a character on a keypad phone, no letter
    to mistake for a digit or to spell a word a patient might text ("ACE", "CAFE"), and
    every reference ever issued keeps working. Every message is measured with 7 digits,
    ten years of a district's traffic (2 million alerts) five times over; past that a
    reference is still never clipped (flows.catalog.WHOLE), only its SMS may grow."""
    store.writing()
    store.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
        (name,),
    )
    value = store.one("SELECT value FROM counters WHERE name = ?", (name,))[0]
    return f"{prefix}{value}"


@dataclass(frozen=True)
class StoredReading:
    id: int
    patient_id: int
    submission_id: int
    kind: str
    measured: dict[str, Any]
    level: str
    submitted_by: str
    taken_at: str


_READING_COLUMNS = "id, patient_id, submission_id, kind, measured, level, submitted_by, taken_at"


class ReadingRepository:
    def __init__(self, store: Store):
        self.store = store
        # Who sent a reading ("patient:4376", "staff:12": a CHW visited) is sealed too.
        self._sender = store.text_sealer

    def _reading(self, row) -> StoredReading:
        store = self.store
        return StoredReading(
            row[0], row[1], row[2], open_value(store, "readings", "kind", row[0], row[3]),
            open_value(store, "readings", "measured", row[0], row[4]),
            open_value(store, "readings", "level", row[0], row[5]),
            self._sender.open(row[6], "readings.submitted_by"), row[7],
        )

    def _readings(self, sql: str, params: tuple) -> list[StoredReading]:
        """The readings a query selects; a damaged one is left out (and logged)."""
        return list(skip_damaged(self.store.execute(sql, params).fetchall(), self._reading))

    def get(self, reading_id: int) -> StoredReading | None:
        row = self.store.one(f"SELECT {_READING_COLUMNS} FROM readings WHERE id = ?", (reading_id,))  # noqa: S608
        return self._reading(row) if row else None

    def newest_for(self, patient_id: int, limit: int | None = None) -> list[StoredReading]:
        """A patient's readings, newest first (all of them when limit is None)."""
        return self._readings(
            f"SELECT {_READING_COLUMNS} FROM readings WHERE patient_id = ? "  # noqa: S608
            "ORDER BY taken_at DESC, id DESC LIMIT ?", (patient_id, -1 if limit is None else limit),
        )

    def count_for(self, patient_id: int) -> int:
        return self.store.one("SELECT count(*) FROM readings WHERE patient_id = ?", (patient_id,))[0]

    def move(self, reading_id: int, to_patient_id: int) -> StoredReading:
        """Give a misattributed reading to another patient. Its dedupe index includes the
        patient, so it is recomputed; it leaves the submission it came in with, so the
        sender's UNDO of that text no longer removes it from its rightful patient."""
        self.store.writing()
        reading = self.get(reading_id)
        if reading is None:
            raise NotFound(f"no reading {reading_id}")
        self.store.execute(
            "UPDATE readings SET patient_id = ?, dedupe_index = ?, submission_id = ?, sender_index = ? "
            "WHERE id = ?",
            (to_patient_id, self.dedupe_index(to_patient_id, reading.kind, reading.measured),
             # An index no phone has: the phone's UNDO no longer reaches a reading the
             # clinic placed (who sent it stays in submitted_by and the audit log).
             self.store.new_id(), self.store.cipher.blind_index("reading-moved", str(reading_id)), reading_id),
        )
        # An alert raised by that text follows it when nothing of the text is left
        # on the old record: the clinician acts for the right patient.
        if not self.store.one("SELECT 1 FROM readings WHERE submission_id = ?", (reading.submission_id,)):
            self.store.execute(
                "UPDATE alerts SET patient_id = ? WHERE submission_id = ? AND patient_id = ?",
                (to_patient_id, reading.submission_id, reading.patient_id),
            )
        return self.get(reading_id)

    def dedupe_index(self, patient_id: int, kind: str, measured: dict[str, Any]) -> bytes:
        canonical = ",".join(f"{k}={measured[k]}" for k in sorted(measured))
        return self.store.cipher.blind_index("reading", f"{patient_id}|{kind}|{canonical}")

    def add(self, *, patient_id: int, submission_id: int, kind: str, measured: dict[str, Any], level: str,
            sender_index: bytes, submitted_by: str, taken_at: str) -> int:
        store = self.store
        row_id = store.new_id()
        store.execute(
            "INSERT INTO readings (id, patient_id, submission_id, kind, measured, level, dedupe_index, sender_index, "
            "submitted_by, taken_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row_id, patient_id, submission_id, store.seal("readings", "kind", row_id, kind),
                store.seal("readings", "measured", row_id, measured), store.seal("readings", "level", row_id, level),
                self.dedupe_index(patient_id, kind, measured), sender_index,
                self._sender.seal(submitted_by, "readings.submitted_by"), taken_at,
            ),
        )
        return row_id

    def duplicate_since(self, patient_id: int, kind: str, measured: dict[str, Any], since: str) -> str | None:
        """When the same reading was already stored after `since`, its time."""
        row = self.store.one(
            "SELECT taken_at FROM readings WHERE dedupe_index = ? AND taken_at >= ? ORDER BY taken_at DESC LIMIT 1",
            (self.dedupe_index(patient_id, kind, measured), since),
        )
        return row[0] if row else None

    def for_patient(self, patient_id: int, since: str = "") -> list[StoredReading]:
        return self._readings(
            f"SELECT {_READING_COLUMNS} FROM readings WHERE patient_id = ? AND taken_at >= ? "  # noqa: S608
            "ORDER BY taken_at, id", (patient_id, since),
        )

    def last_submission_from(self, sender_index: bytes, since: str) -> tuple[int, int] | None:
        """(submission id, patient id) of the newest submission this phone sent after `since`."""
        row = self.store.one(
            "SELECT submission_id, patient_id FROM readings WHERE sender_index = ? AND taken_at >= ? "
            "ORDER BY taken_at DESC, rowid DESC LIMIT 1", (sender_index, since),
        )
        return (row[0], row[1]) if row else None

    def in_submission(self, submission_id: int) -> list[StoredReading]:
        return self._readings(
            f"SELECT {_READING_COLUMNS} FROM readings WHERE submission_id = ? ORDER BY id",  # noqa: S608
            (submission_id,),
        )

    def delete_submission(self, submission_id: int) -> int:
        return self.store.execute("DELETE FROM readings WHERE submission_id = ?", (submission_id,)).rowcount

    def last_taken(self, patient_ids: list[int]) -> dict[int, str]:
        if not patient_ids:
            return {}
        marks = ", ".join("?" for _ in patient_ids)
        rows = self.store.execute(
            f"SELECT patient_id, max(taken_at) FROM readings WHERE patient_id IN ({marks}) GROUP BY patient_id",  # noqa: S608
            patient_ids,
        ).fetchall()
        return dict(rows)


@dataclass(frozen=True)
class Alert:
    id: int
    ref: str
    patient_id: int | None  # None: the sender was not yet told apart (see flows.effects.RaiseAlert)
    submission_id: int | None
    reason: str
    status: str
    handled_by: int | None
    created_at: str
    delivery: str = "pending"  # pending | reached (a carrier took it) | undelivered (nobody could be reached)
    tier: int = 0  # 0 those on call, 1 the other clinicians, 2 the admins


_ALERT_COLUMNS = "id, ref, patient_id, submission_id, reason, status, handled_by, created_at, delivery, tier"


class AlertRepository:
    def __init__(self, store: Store):
        self.store = store

    def _alert(self, row) -> Alert:
        row = list(row)
        row[4] = open_value(self.store, "alerts", "reason", row[0], row[4])
        return Alert(*row)

    def raise_alert(self, *, ref: str, patient_id: int | None, reason: str, submission_id: int | None) -> Alert:
        store = self.store
        row_id, now = store.new_id(), store.now_iso()
        store.execute(
            "INSERT INTO alerts (id, ref, patient_id, submission_id, reason, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'open', ?, ?)",
            (row_id, ref, patient_id, submission_id, store.seal("alerts", "reason", row_id, reason), now, now),
        )
        return self.by_ref(ref)

    def by_ref(self, ref: str) -> Alert | None:
        row = self.store.one(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE ref = ?", (ref.upper(),))  # noqa: S608
        return self._alert(row) if row else None

    def for_submission(self, submission_id: int) -> list[Alert]:
        rows = self.store.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE submission_id = ?", (submission_id,)  # noqa: S608
        ).fetchall()
        return list(skip_damaged(rows, self._alert))

    def open_for(self, patient_ids: list[int]) -> dict[int, list[Alert]]:
        if not patient_ids:
            return {}
        marks = ", ".join("?" for _ in patient_ids)
        rows = self.store.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE status = 'open' AND patient_id IN ({marks}) "  # noqa: S608
            "ORDER BY created_at", patient_ids,
        ).fetchall()
        found: dict[int, list[Alert]] = {}
        for alert in skip_damaged(rows, self._alert):
            found.setdefault(alert.patient_id, []).append(alert)
        return found

    def awaiting_delivery(self) -> list[Alert]:
        """Open alerts not yet known to have reached someone (a 'reached' one is watched
        too: a carrier can still report it undelivered)."""
        rows = self.store.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE delivery != 'undelivered' AND status = 'open' "  # noqa: S608
            "ORDER BY created_at"
        ).fetchall()
        return list(skip_damaged(rows, self._alert))

    def set_delivery(self, alert_id: int, delivery: str, tier: int) -> None:
        self.store.execute("UPDATE alerts SET delivery = ?, tier = ?, updated_at = ? WHERE id = ?",
                           (delivery, tier, self.store.now_iso(), alert_id))

    def set_status(self, alert_id: int, status: str, handled_by: int | None = None) -> None:
        self.store.execute(
            "UPDATE alerts SET status = ?, handled_by = coalesce(?, handled_by), updated_at = ? WHERE id = ?",
            (status, handled_by, self.store.now_iso(), alert_id),
        )

    def list(self, status: str | None = None) -> list[Alert]:
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.store.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts {where} ORDER BY created_at", params  # noqa: S608
        ).fetchall()
        return list(skip_damaged(rows, self._alert))
