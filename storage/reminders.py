"""Reminder rules and what became of each occurrence (sent, missed, answered)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storage.errors import NotFound
from storage.records import DamagedRecord, open_value, skip_damaged

if TYPE_CHECKING:
    from storage.store import Store

_COLUMNS = "id, patient_id, rule, next_due_at, next_send_at, active, paused_until"


@dataclass(frozen=True)
class Reminder:
    id: int
    patient_id: int
    rule: dict[str, Any]  # kind, times ("08:00"), weekdays, medication_id or reading, label
    next_due_at: str | None
    next_send_at: str | None
    active: bool
    paused_until: str | None


PATIENTS_OWN = ("medicine", "reading")


class ReminderRepository:
    def __init__(self, store: Store):
        self.store = store

    def _reminder(self, row) -> Reminder:
        rule = open_value(self.store, "reminders", "rule", row[0], row[2])
        return Reminder(row[0], row[1], rule, row[3], row[4], bool(row[5]), row[6])

    def add(self, patient_id: int, rule: dict[str, Any], next_due_at: str, next_send_at: str) -> Reminder:
        store = self.store.writing()
        row_id, now = store.new_id(), store.now_iso()
        store.execute(
            "INSERT INTO reminders (id, patient_id, rule, next_due_at, next_send_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row_id, patient_id, store.seal("reminders", "rule", row_id, rule), next_due_at, next_send_at, now, now),
        )
        return self.get(row_id)

    def get(self, reminder_id: int) -> Reminder:
        row = self.store.one(f"SELECT {_COLUMNS} FROM reminders WHERE id = ?", (reminder_id,))  # noqa: S608
        if row is None:
            raise NotFound(f"no reminder {reminder_id}")
        return self._reminder(row)

    def for_patient(self, patient_id: int) -> list[Reminder]:
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM reminders WHERE patient_id = ? AND active = 1 ORDER BY next_send_at, id",  # noqa: S608
            (patient_id,)).fetchall()
        return list(skip_damaged(rows, self._reminder))

    def patients_own(self, patient_id: int) -> list[Reminder]:
        """The reminders a patient manages from their phone ("My reminders": pause, change
        the time, switch off): their medicines' and readings'. A visit, a refill due or a
        follow-up is the clinic's to remind of, and no pause on the phone silences it."""
        return [r for r in self.for_patient(patient_id) if r.rule.get("kind") in PATIENTS_OWN]

    def active(self, limit: int = 1000) -> list[Reminder]:
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM reminders WHERE active = 1 ORDER BY next_send_at, id LIMIT ?",  # noqa: S608
            (limit,)).fetchall()
        return list(skip_damaged(rows, self._reminder))

    def due(self, now: str, limit: int = -1) -> list[Reminder]:
        """Active reminders whose (quiet-hours adjusted) time has come, oldest first
        (all of them unless `limit`)."""
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM reminders WHERE active = 1 AND next_send_at <= ? "  # noqa: S608
            "ORDER BY next_send_at, id LIMIT ?", (now, limit)).fetchall()
        return list(skip_damaged(rows, self._reminder))

    def advance(self, reminder_id: int, next_due_at: str | None, next_send_at: str | None) -> None:
        """The rule's next time, or (None) none: it has ended."""
        store = self.store.writing()
        store.execute("UPDATE reminders SET next_due_at = ?, next_send_at = ?, active = ?, updated_at = ? "
                      "WHERE id = ?", (next_due_at, next_send_at, int(next_due_at is not None), store.now_iso(),
                                       reminder_id))

    def remove(self, reminder_id: int) -> bool:
        store = self.store.writing()
        return store.execute("UPDATE reminders SET active = 0, updated_at = ? WHERE id = ? AND active = 1",
                             (store.now_iso(), reminder_id)).rowcount > 0

    def change_times(self, reminder_id: int, times: list[str]) -> None:
        """New local times: the rule is sealed again, and its next time is left for the
        dispatcher to plan (unplanned() finds it) in the patient's zone."""
        store = self.store.writing()
        rule = {**self.get(reminder_id).rule, "times": times}
        store.execute("UPDATE reminders SET rule = ?, next_due_at = NULL, next_send_at = NULL, updated_at = ? "
                      "WHERE id = ?", (store.seal("reminders", "rule", reminder_id, rule), store.now_iso(),
                                       reminder_id))

    def unplanned(self) -> list[Reminder]:
        """Active reminders whose next time is not known yet (their times just changed)."""
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM reminders WHERE active = 1 AND next_due_at IS NULL").fetchall()  # noqa: S608
        return list(skip_damaged(rows, self._reminder))

    def plan(self, reminder_id: int, next_due_at: str | None, next_send_at: str | None) -> None:
        self.advance(reminder_id, next_due_at, next_send_at)

    def pause(self, reminder_id: int, until: str | None) -> None:
        store = self.store.writing()
        store.execute("UPDATE reminders SET paused_until = ?, updated_at = ? WHERE id = ?",
                      (until, store.now_iso(), reminder_id))

    def record(self, reminder_id: int, due_at: str, state: str, outbox_id: int | None = None) -> bool:
        """Note what became of one occurrence ("sent", "missed", "paused"). False when it
        was already noted: that occurrence is never written twice, whatever runs twice."""
        store = self.store.writing()
        return store.execute(
            "INSERT OR IGNORE INTO reminder_sends (id, reminder_id, due_at, state, outbox_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (store.new_id(), reminder_id, due_at, state, outbox_id, store.now_iso()),
        ).rowcount > 0

    def set_outbox(self, reminder_id: int, due_at: str, outbox_id: int) -> None:
        self.store.writing().execute("UPDATE reminder_sends SET outbox_id = ? WHERE reminder_id = ? AND due_at = ?",
                                     (outbox_id, reminder_id, due_at))

    def waiting_answer(self, phone_index: bytes, since: str, now: str) -> tuple[int, int, dict, str] | None:
        """The last reminder a bare 1 or 2 answers on this phone: a medicine's (taken or
        skipped) or a visit's before the visit (confirm or another day), that reached the
        phone by SMS since `since` and is not answered yet: (occurrence id, patient id,
        rule, when it went). A reminder still queued, expired or failed never reached
        the phone, and one said on a call was answered there: neither takes a texted 1,
        which is the menu's."""
        rows = self.store.execute(
            "SELECT s.id, r.id, r.patient_id, r.rule, o.updated_at FROM reminder_sends s "
            "JOIN reminders r ON r.id = s.reminder_id JOIN patients p ON p.id = r.patient_id "
            "JOIN outbox o ON o.id = s.outbox_id "
            "WHERE p.phone_index = ? AND s.state = 'sent' AND s.answered_at IS NULL AND s.created_at >= ? "
            "AND o.channel = 'sms' AND o.status IN ('sent', 'delivered') "
            "ORDER BY o.updated_at DESC, s.id DESC", (phone_index, since)).fetchall()
        waiting = []
        for send_id, reminder_id, patient_id, blob, went in rows:
            try:
                rule = open_value(self.store, "reminders", "rule", reminder_id, blob)
            except DamagedRecord:
                continue
            if rule.get("kind") == "medicine" or (rule.get("kind") == "appointment" and rule["appointment"] > now):
                waiting.append((send_id, patient_id, rule, went))
        if not waiting or len({w[1] for w in waiting}) > 1:
            # Nothing waiting, or two people on a shared phone waiting: a bare 1 or 2 could be
            # either's, so it answers neither (it is ordinary input; each can use the menu).
            return None
        return waiting[0]

    def readings_sent(self, patient_id: int, kinds: set[str], since: str) -> int:
        """A reading reminder is answered by the reading itself: every unanswered reading
        reminder of these kinds sent to the patient since `since` is marked "sent"."""
        store = self.store.writing()
        rows = store.execute(
            "SELECT s.id, r.id, r.rule FROM reminder_sends s JOIN reminders r ON r.id = s.reminder_id "
            "WHERE r.patient_id = ? AND s.state = 'sent' AND s.answered_at IS NULL AND s.created_at >= ?",
            (patient_id, since)).fetchall()
        answered = 0
        for send_id, reminder_id, blob in rows:
            try:
                rule = open_value(store, "reminders", "rule", reminder_id, blob)
            except DamagedRecord:
                continue
            if rule.get("kind") == "reading" and rule.get("reading") in kinds:
                store.execute("UPDATE reminder_sends SET answer = ?, answered_at = ? WHERE id = ?",
                              (store.seal("reminder_sends", "answer", send_id, "sent"), store.now_iso(), send_id))
                answered += 1
        return answered

    def by_outbox(self, outbox_id: int) -> tuple[int, bool] | None:
        """(occurrence id, answered already) of the reminder an outbox message carries."""
        row = self.store.one("SELECT id, answered_at FROM reminder_sends WHERE outbox_id = ?", (outbox_id,))
        return (row[0], row[1] is not None) if row else None

    def answer(self, send_id: int, answer: str) -> None:
        """"taken" or "skipped" (a medicine), "confirmed" or "another day" (a visit)."""
        store = self.store.writing()
        store.execute("UPDATE reminder_sends SET answer = ?, answered_at = ? WHERE id = ?",
                      (store.seal("reminder_sends", "answer", send_id, answer), store.now_iso(), send_id))

    def of_send(self, send_id: int) -> tuple[int, dict]:
        """(patient id, rule) of the reminder an occurrence belongs to."""
        row = self.store.one("SELECT r.id, r.patient_id, r.rule FROM reminder_sends s JOIN reminders r "
                             "ON r.id = s.reminder_id WHERE s.id = ?", (send_id,))
        return row[1], open_value(self.store, "reminders", "rule", row[0], row[2])

    def visit_answers(self, patient_id: int) -> list[tuple[str, str]]:
        """(visit time, "confirmed" / "another day" / "not answered") for each visit the
        patient was reminded of, newest first: what the clinic needs before the day."""
        visits: dict[str, str] = {}
        for reminder_id, rule_blob, send_id, answer_blob in self.store.execute(
                "SELECT r.id, r.rule, s.id, s.answer FROM reminder_sends s JOIN reminders r ON r.id = s.reminder_id "
                "WHERE r.patient_id = ? AND s.state = 'sent' ORDER BY s.due_at", (patient_id,)):
            try:
                rule = open_value(self.store, "reminders", "rule", reminder_id, rule_blob)
                answer = open_value(self.store, "reminder_sends", "answer", send_id, answer_blob)
            except DamagedRecord:
                continue
            if rule.get("kind") == "appointment":
                # The latest answer stands: "another day" then "confirmed" on the 2-hour one.
                visits[rule["appointment"]] = answer or visits.get(rule["appointment"]) or "not answered"
        return sorted(visits.items(), reverse=True)

    def adherence(self, patient_id: int, since: str) -> dict[str, dict[str, int]]:
        """Per medicine label: how many reminders were answered taken, skipped, not
        answered, or missed (never sent), since `since`."""
        rows = self.store.execute(
            "SELECT r.id, r.rule, s.id, s.state, s.answer FROM reminder_sends s JOIN reminders r "
            "ON r.id = s.reminder_id WHERE r.patient_id = ? AND s.due_at >= ?", (patient_id, since)).fetchall()
        counts: dict[str, dict[str, int]] = {}
        for reminder_id, rule_blob, send_id, state, answer_blob in rows:
            try:
                rule = open_value(self.store, "reminders", "rule", reminder_id, rule_blob)
                answer = open_value(self.store, "reminder_sends", "answer", send_id, answer_blob)
            except DamagedRecord:
                continue
            if rule.get("kind") != "medicine":
                continue
            tally = counts.setdefault(rule["label"], {"taken": 0, "skipped": 0, "unanswered": 0, "missed": 0})
            # Paused, superseded or never agreed to are not the patient's misses.
            outcome = answer if answer else {"sent": "unanswered", "missed": "missed"}.get(state)
            if outcome in tally:
                tally[outcome] += 1
        return counts

    def to_follow_up(self, since: str, before: str, at_least: int) -> list[Reminder]:
        """Active reminders not followed up since `since`, with at least `at_least`
        occurrences sent (due between `since` and `before`) and never answered or
        answered at all: candidates; skipped_or_unanswered() says which to follow up."""
        rows = self.store.execute(
            f"SELECT {', '.join('r.' + c for c in _COLUMNS.split(', '))} FROM reminders r "  # noqa: S608
            "WHERE r.active = 1 AND (r.followed_up_at IS NULL OR r.followed_up_at < ?) AND "
            "(SELECT count(*) FROM reminder_sends s WHERE s.reminder_id = r.id AND s.state = 'sent' "
            " AND s.due_at >= ? AND s.due_at < ?) >= ?", (since, since, before, at_least)).fetchall()
        return list(skip_damaged(rows, self._reminder))

    def skipped_or_unanswered(self, reminder_id: int, since: str, before: str) -> int:
        """Occurrences sent between `since` and `before` that were skipped or not answered."""
        count = 0
        for send_id, answered_at, blob in self.store.execute(
                "SELECT id, answered_at, answer FROM reminder_sends WHERE reminder_id = ? AND state = 'sent' "
                "AND due_at >= ? AND due_at < ?", (reminder_id, since, before)):
            if answered_at is None:
                count += 1
                continue
            try:
                if open_value(self.store, "reminder_sends", "answer", send_id, blob) == "skipped":
                    count += 1
            except DamagedRecord:
                continue
        return count

    def followed_up(self, reminder_id: int) -> None:
        store = self.store.writing()
        store.execute("UPDATE reminders SET followed_up_at = ? WHERE id = ?", (store.now_iso(), reminder_id))

    def occurrences(self, reminder_id: int) -> list[tuple[str, str]]:
        """(due_at, state) of every occurrence so far, oldest first."""
        return [tuple(r) for r in self.store.execute(
            "SELECT due_at, state FROM reminder_sends WHERE reminder_id = ? ORDER BY due_at", (reminder_id,))]
