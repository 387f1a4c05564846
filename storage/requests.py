"""Requests that wait for a person: medicine refills (for the pharmacist), nurse
consultations (for the clinician), and messages held until a discreet patient's PIN."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storage.records import open_value, skip_damaged

if TYPE_CHECKING:
    from storage.store import Store


@dataclass(frozen=True)
class Refill:
    id: int
    ref: str
    patient_id: int
    medication_id: int
    status: str
    answer: str | None
    answered_by: int | None
    flagged_at: str | None
    created_at: str


_REFILL_COLUMNS = "id, ref, patient_id, medication_id, status, answer, answered_by, flagged_at, created_at"


class RefillRepository:
    def __init__(self, store: Store):
        self.store = store

    def _refill(self, row) -> Refill:
        row = list(row)
        row[5] = open_value(self.store, "refills", "answer", row[0], row[5])
        return Refill(*row)

    def request(self, *, ref: str, patient_id: int, medication_id: int) -> Refill:
        store = self.store
        row_id, now = store.new_id(), store.now_iso()
        store.execute(
            "INSERT INTO refills (id, ref, patient_id, medication_id, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'requested', ?, ?)", (row_id, ref, patient_id, medication_id, now, now),
        )
        return self.by_ref(ref)

    def by_ref(self, ref: str) -> Refill | None:
        row = self.store.one(f"SELECT {_REFILL_COLUMNS} FROM refills WHERE ref = ?", (ref.upper(),))  # noqa: S608
        return self._refill(row) if row else None

    def answer(self, refill_id: int, *, status: str, answer: str | None, staff_id: int) -> bool:
        """The pharmacy's answer to a request still waiting; False if it was answered already."""
        return self.store.execute(
            "UPDATE refills SET status = ?, answer = ?, answered_by = ?, updated_at = ? "
            "WHERE id = ? AND status = 'requested'",
            (status, self.store.seal("refills", "answer", refill_id, answer), staff_id, self.store.now_iso(),
             refill_id),
        ).rowcount > 0

    def waiting_since(self, before: str) -> list[Refill]:
        """Requests still unanswered that were made before `before` and not yet flagged."""
        rows = self.store.execute(
            f"SELECT {_REFILL_COLUMNS} FROM refills WHERE status = 'requested' AND created_at < ? "  # noqa: S608
            "AND flagged_at IS NULL ORDER BY created_at", (before,),
        ).fetchall()
        return list(skip_damaged(rows, self._refill))

    def flag(self, refill_id: int) -> None:
        self.store.execute("UPDATE refills SET flagged_at = ? WHERE id = ?", (self.store.now_iso(), refill_id))

    def list(self, status: str | None = None) -> list[Refill]:
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.store.execute(
            f"SELECT {_REFILL_COLUMNS} FROM refills {where} ORDER BY created_at", params  # noqa: S608
        ).fetchall()
        return list(skip_damaged(rows, self._refill))


@dataclass(frozen=True)
class Consult:
    id: int
    ref: str
    patient_id: int
    summary: dict[str, Any]
    status: str
    created_at: str
    owner_id: int | None = None  # the clinician who answered first


_CONSULT_COLUMNS = "id, ref, patient_id, summary, status, created_at, owner_id"


class ConsultRepository:
    def __init__(self, store: Store):
        self.store = store

    def _consult(self, row) -> Consult:
        row = list(row)
        row[3] = open_value(self.store, "consults", "summary", row[0], row[3])
        return Consult(*row)

    def open_consult(self, *, ref: str, patient_id: int, summary: dict[str, Any],
                     recording_sid: str | None = None) -> Consult:
        """`recording_sid`: a caller's voice message (its SID and URL are in the sealed
        summary); a keyed index of it lets Twilio's recording callback find this consult."""
        store = self.store
        store.writing()
        row_id, now = store.new_id(), store.now_iso()
        recording = store.cipher.blind_index("recording", recording_sid) if recording_sid else None
        store.execute(
            "INSERT INTO consults (id, ref, patient_id, summary, status, created_at, updated_at, recording_index, "
            "recording_state) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?)",
            (row_id, ref, patient_id, store.seal("consults", "summary", row_id, summary), now, now, recording,
             "recording" if recording else None),
        )
        return self.by_ref(ref)

    def has_recording(self, recording_sid: str) -> bool:
        index = self.store.cipher.blind_index("recording", recording_sid)
        return self.store.one("SELECT 1 FROM consults WHERE recording_index = ?", (index,)) is not None

    def recording_done(self, recording_sid: str, state: str) -> Consult | None:
        """Twilio's word on a voice message ("completed", "failed", "absent"): kept on its
        consult, which is returned (None when no consult holds that recording)."""
        store = self.store
        store.writing()
        index = store.cipher.blind_index("recording", recording_sid)
        row = store.one(f"SELECT {_CONSULT_COLUMNS} FROM consults WHERE recording_index = ?", (index,))  # noqa: S608
        if row is None:
            return None
        store.execute("UPDATE consults SET recording_state = ?, updated_at = ? WHERE recording_index = ?",
                      (state, store.now_iso(), index))
        return self._consult(row)

    def by_ref(self, ref: str) -> Consult | None:
        row = self.store.one(f"SELECT {_CONSULT_COLUMNS} FROM consults WHERE ref = ?", (ref.upper(),))  # noqa: S608
        return self._consult(row) if row else None

    def take(self, ref: str, staff_id: int) -> bool:
        """Make `staff_id` the owner unless someone else holds it; True when they are now.
        An owner who left the staff or texted STOP holds nothing (as the conversation's
        directory says): another clinician may take it. Inside the write transaction, so
        two clinicians answering at once cannot both own it."""
        store = self.store.writing()
        row = store.one("SELECT owner_id FROM consults WHERE ref = ?", (ref.upper(),))
        if row is None:
            return False
        owner = row[0]
        if owner is not None and owner != staff_id:
            user = store.staff.get(owner)
            if user.active and not store.contacts.is_opted_out(store.phone_index(user.phone)):
                return False
        store.execute("UPDATE consults SET owner_id = ? WHERE ref = ?", (staff_id, ref.upper()))
        return True

    def add_reply(self, ref: str, words: str) -> None:
        """A patient's own reply, kept with the consult it answers (sealed, with its time)."""
        consult = self.by_ref(ref)
        summary = {**consult.summary, "replies": [*consult.summary.get("replies", []),
                                                  {"at": self.store.now_iso(), "words": words}]}
        self.store.execute(
            "UPDATE consults SET summary = ?, updated_at = ? WHERE id = ?",
            (self.store.seal("consults", "summary", consult.id, summary), self.store.now_iso(), consult.id),
        )

    def close(self, consult_id: int) -> bool:
        """False if it was closed already (by someone else, a moment ago)."""
        return self.store.execute("UPDATE consults SET status = 'closed', updated_at = ? WHERE id = ? AND "
                                  "status = 'open'", (self.store.now_iso(), consult_id)).rowcount > 0

    def list(self, status: str | None = None) -> list[Consult]:
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.store.execute(
            f"SELECT {_CONSULT_COLUMNS} FROM consults {where} ORDER BY created_at", params  # noqa: S608
        ).fetchall()
        return list(skip_damaged(rows, self._consult))


class HeldMessages:
    """Messages kept for a discreet patient until they enter their PIN."""

    def __init__(self, store: Store):
        self.store = store

    def hold(self, patient_id: int, body: str) -> None:
        store = self.store
        row_id = store.new_id()
        store.execute(
            "INSERT INTO held_messages (id, patient_id, body, created_at) VALUES (?, ?, ?, ?)",
            (row_id, patient_id, store.seal("held_messages", "body", row_id, body), store.now_iso()),
        )

    def unread(self, patient_id: int) -> list[tuple[int, str]]:
        rows = self.store.execute(
            "SELECT id, body FROM held_messages WHERE patient_id = ? AND read_at IS NULL ORDER BY created_at, id",
            (patient_id,),
        ).fetchall()
        return list(skip_damaged(rows, lambda r: (r[0], open_value(self.store, "held_messages", "body", r[0], r[1]))))

    def mark_read(self, message_ids: list[int]) -> None:
        now = self.store.now_iso()
        for message_id in message_ids:
            self.store.execute("UPDATE held_messages SET read_at = ? WHERE id = ?", (now, message_id))
