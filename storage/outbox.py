"""The outbox: every message not sent inline as a webhook reply waits here until a
transport takes it, so nothing is lost by a crash or a network outage.

States move forward only: queued -> sending -> sent -> delivered (or undelivered /
failed). A number that opted out is refused at the door and again at send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from storage.records import DamagedRecord, open_value, skip_damaged
from storage.store import iso

if TYPE_CHECKING:
    from collections.abc import Callable

    from storage.store import Store

# Rank of each state; a status report may only move a message to a higher rank.
RANK = {"queued": 0, "sending": 1, "sent": 2, "undelivered": 3, "failed": 3, "delivered": 4, "refused": 5}
FINAL = {"delivered", "undelivered", "failed", "refused"}
# A report for a message we have no record of sending is kept this long for it.
EARLY_REPORTS_KEPT = timedelta(days=1)
# A message is tried until it expires (VALID_FOR by default, the same as the validity the
# carrier is given), with growing pauses; the cap on attempts only stops a runaway.
VALID_FOR = timedelta(hours=4)
# Sent first to last: an alert or the reply to a text (it may be advice to get care now),
# then care news (a refill ready, a nurse's answer), then reminders.
URGENT, CARE, REMINDER = 0, 1, 2
PRIORITY = {"alert": URGENT, "reply": URGENT, "reminder": REMINDER}
MAX_ATTEMPTS = 30


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    phone: str
    body: str
    purpose: str
    status: str
    attempts: int
    provider_sid: str | None
    error: str | None
    created_at: str
    updated_at: str
    channel: str = "sms"  # or "call": the body is said on a call placed to the number
    expires_at: str | None = None  # never sent after this
    transport: str | None = None  # which transport took it ("twilio", "android", "modem")


_COLUMNS = ("id, phone, body, purpose, status, attempts, provider_sid, error, created_at, updated_at, channel, "
            "expires_at, transport")


# The purpose of a note to a staff member about a patient (a CHW asked to visit or call).
STAFF_NOTE = "care"


class Outbox:
    def __init__(self, store: Store):
        self.store = store
        # Why a phone is texted ('alert', 'refill') is a health fact: sealed too.
        self._purpose = store.text_sealer

    def _message(self, row) -> OutboxMessage:
        row = list(row)
        row[1] = open_value(self.store, "outbox", "phone", row[0], row[1])
        row[2] = open_value(self.store, "outbox", "body", row[0], row[2])
        row[3] = self._purpose.open(row[3], "outbox.purpose")
        return OutboxMessage(*row)

    def enqueue(self, phone: str, body: str, purpose: str, *, alert_id: int | None = None,
                expires_at: str | None = None, channel: str = "sms") -> OutboxMessage:
        """Queue a message; if the number opted out it is stored as refused, never sent.
        `alert_id`: the urgent alert this message carries (its delivery is followed).
        `expires_at`: after it, the message is no use (a reminder hours late) and is given
        up; by default VALID_FOR after now."""
        store = self.store
        phone_index = store.phone_index(phone)
        now = store.now_iso()
        expires_at = expires_at or iso(store.now() + VALID_FOR)
        priority = PRIORITY.get(purpose, CARE)
        store.writing()
        opted_out = store.contacts.is_opted_out(phone_index)
        row_id = store.new_id()
        store.execute(
            "INSERT INTO outbox (id, phone_index, phone, body, purpose, status, next_attempt_at, error, "
            "created_at, updated_at, alert_id, expires_at, priority, channel) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row_id, phone_index,
                store.seal("outbox", "phone", row_id, phone), store.seal("outbox", "body", row_id, body),
                self._purpose.seal(purpose, "outbox.purpose"), "refused" if opted_out else "queued", now,
                "recipient opted out" if opted_out else None, now, now, alert_id, expires_at, priority, channel,
            ),
        )
        # What was just written, without reading it back and opening it again (the
        # dispatcher queues 100,000 reminders at 08:00).
        return OutboxMessage(row_id, phone, body, purpose, "refused" if opted_out else "queued", 0, None,
                             "recipient opted out" if opted_out else None, now, now, channel, expires_at, None)

    def get(self, message_id: int) -> OutboxMessage:
        return self._message(self.store.one(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (message_id,)))  # noqa: S608

    def list(self, status: str | None = None, limit: int = 1000) -> list[OutboxMessage]:
        where, params = ("WHERE status = ?", (status, limit)) if status else ("", (limit,))
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM outbox {where} ORDER BY created_at, id LIMIT ?", params  # noqa: S608
        ).fetchall()
        return list(skip_damaged(rows, self._message))

    def needing_attention(self, limit: int = 100) -> list[OutboxMessage]:
        """Failed and undelivered messages, newest first: what a person should look at."""
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE status IN ('failed', 'undelivered') "  # noqa: S608
            "ORDER BY updated_at DESC, id DESC LIMIT ?", (limit,)).fetchall()
        return list(skip_damaged(rows, self._message))

    def to_phone(self, phone: str, limit: int = 20) -> list[OutboxMessage]:
        """The newest messages to this number (a shared phone's are everyone's on it)."""
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE phone_index = ? ORDER BY created_at DESC, id DESC LIMIT ?",  # noqa: S608
            (self.store.phone_index(phone), limit)).fetchall()
        return list(skip_damaged(rows, self._message))

    def retry(self, message_id: int) -> bool:
        """A person decided a failed or undelivered message should go again (after
        checking it did not arrive): queued now, with a fresh expiry. False if it is not
        failed or undelivered (sent meanwhile, or retried already)."""
        store = self.store.writing()
        now = store.now()
        return store.execute(
            "UPDATE outbox SET status = 'queued', next_attempt_at = ?, expires_at = ?, lease_until = NULL, "
            "error = NULL, updated_at = ? WHERE id = ? AND status IN ('failed', 'undelivered')",
            (iso(now), iso(now + VALID_FOR), iso(now), message_id)).rowcount > 0

    def created_since(self, moment: str) -> list[OutboxMessage]:
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE created_at >= ? ORDER BY created_at, id", (moment,)  # noqa: S608
        ).fetchall()
        return list(skip_damaged(rows, self._message))

    def claim_due(self, now: datetime, limit: int = 20, lease: timedelta = timedelta(minutes=2),
                  fits: Callable[[OutboxMessage], bool] | None = None) -> list[OutboxMessage]:
        """Take up to `limit` due messages for sending, in priority order, stopping at the
        first that `fits` refuses (the sender's rate: a later, shorter one must not jump
        ahead of an alert). A claim is a lease: if the sender dies mid-send, the message
        becomes due again when the lease runs out."""
        store = self.store
        now_text, lease_text = iso(now), iso(now + lease)
        store.writing()
        # A sender that died mid-send leaves 'sending' rows whose lease ran out: whether
        # the provider took them is unknown, so they are not claimed here but asked about
        # first (sms_gateway.sender), never resent blindly.
        # Past its use (a reminder hours late, after an outage): given up, never sent late.
        store.execute(
            "UPDATE outbox SET status = 'failed', error = 'expired before it could be sent', lease_until = NULL, "
            "updated_at = ? WHERE status = 'queued' AND expires_at IS NOT NULL AND expires_at <= ?",
            (store.now_iso(), now_text),
        )
        ids = [r[0] for r in store.execute(
            "SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= ? "
            "ORDER BY priority, next_attempt_at, id LIMIT ?", (now_text, limit),
        ).fetchall()]
        claimed = []
        for message_id in ids:
            try:
                message = self.get(message_id)
            except DamagedRecord:
                # Never sendable: give it up with a reason instead of retrying it forever.
                self._set(message_id, status="failed", error="damaged record", lease_until=None)
                continue
            if store.contacts.is_opted_out(store.phone_index(message.phone)):
                self._set(message_id, status="refused", error="recipient opted out")
                continue
            if self._to_former_staff(message_id, message):
                # Deactivated, or the number changed, since it was queued: a lost phone
                # must not get patients' alerts, and the alert goes on to someone else.
                self._set(message_id, status="refused", error="recipient no longer on staff")
                continue
            if fits is not None and not fits(message):
                break
            self._set(message_id, status="sending", lease_until=lease_text, attempts=message.attempts + 1)
            claimed.append(self.get(message_id))
        return claimed

    def _set(self, message_id: int, **changes) -> None:
        changes["updated_at"] = self.store.now_iso()
        sets = ", ".join(f"{k} = ?" for k in changes)
        self.store.execute(f"UPDATE outbox SET {sets} WHERE id = ?", [*changes.values(), message_id])  # noqa: S608

    def stuck(self, now: datetime, limit: int = 50) -> list[OutboxMessage]:
        """Messages a sender claimed and never finished (its lease ran out)."""
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE status = 'sending' AND lease_until < ? ORDER BY id LIMIT ?",  # noqa: S608
            (iso(now), limit)).fetchall()
        return list(skip_damaged(rows, self._message))

    def requeue(self, message_id: int) -> None:
        """It never reached the provider: send it again."""
        self.store.writing()
        self._set(message_id, status="queued", lease_until=None)

    def to_review(self, message_id: int, why: str) -> None:
        """Nobody can tell whether it went: not resent; failed with the reason, for a
        person to decide (`lowband outbox --status failed`)."""
        self.store.writing()
        self._set(message_id, status="failed", error=why[:200], lease_until=None)

    def mark_sent(self, message_id: int, provider_sid: str | None,
                  transport: str | None = None) -> tuple[str, str | None] | None:
        """The provider took the message. A delivery report that overtook this (it can
        come back before the send call returns) is applied now; it is returned."""
        self.store.writing()
        self._set(message_id, status="sent", provider_sid=provider_sid, lease_until=None, error=None,
                  transport=transport)
        if provider_sid is None:
            return None
        early = self.store.one("SELECT status, error FROM early_reports WHERE provider_sid = ?", (provider_sid,))
        if early is None:
            return None
        self.store.execute("DELETE FROM early_reports WHERE provider_sid = ?", (provider_sid,))
        self.report(provider_sid, early[0], early[1])
        return early[0], early[1]

    def mark_failed(self, message_id: int, error: str, *, retry_at: datetime | None,
                    may_be_with: str | None = None) -> None:
        """A send failed. With `retry_at` it is queued again; without, it is given up.
        `may_be_with`: the transport that may have taken it anyway (no answer came): the
        retry goes to it alone."""
        self.store.writing()
        if retry_at is None:
            self._set(message_id, status="failed", error=error[:200], lease_until=None)
        elif may_be_with:
            self._set(message_id, status="queued", error=error[:200], lease_until=None,
                      next_attempt_at=iso(retry_at), transport=may_be_with)
        else:
            self._set(message_id, status="queued", error=error[:200], lease_until=None,
                      next_attempt_at=iso(retry_at))

    def report(self, provider_sid: str, status: str, error: str | None = None) -> bool:
        """Apply a delivery report; returns False if it would move the state backwards."""
        if status not in RANK:
            return False
        store = self.store
        store.writing()
        row = store.one("SELECT id, status FROM outbox WHERE provider_sid = ?", (provider_sid,))
        if row is None:
            # Not yet known: the report overtook the send it is about. Kept for mark_sent
            # (the furthest state wins), so an undelivered alert is not taken for reached.
            store.execute("DELETE FROM early_reports WHERE received_at < ?",
                          (iso(store.now() - EARLY_REPORTS_KEPT),))
            known = store.one("SELECT status FROM early_reports WHERE provider_sid = ?", (provider_sid,))
            if known is None or RANK[status] > RANK.get(known[0], 0):
                store.execute(
                    "INSERT INTO early_reports (provider_sid, status, error, received_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(provider_sid) DO UPDATE SET status = excluded.status, error = excluded.error",
                    (provider_sid, status, (error or "")[:200] or None, store.now_iso()))
            return False
        if RANK[status] <= RANK[row[1]] or row[1] in FINAL:
            return False
        changes = {"status": status}
        if error:
            changes["error"] = error[:200]
        self._set(row[0], **changes)
        return True

    def _to_former_staff(self, message_id: int, message: OutboxMessage) -> bool:
        """An alert, or a note to a CHW or clinician about a patient ("care"), whose
        recipient left the staff (or changed number) since it was queued."""
        row = self.store.one("SELECT alert_id FROM outbox WHERE id = ?", (message_id,))
        if (not row or row[0] is None) and message.purpose != STAFF_NOTE:
            return False
        return self.store.staff.brief_by_phone_index(self.store.phone_index(message.phone)) is None

    def cancel_for_alert(self, alert_id: int, reason: str) -> None:
        """Give up the alert's messages not yet sent (someone already handled it)."""
        self.store.execute(
            "UPDATE outbox SET status = 'refused', error = ?, updated_at = ? WHERE alert_id = ? AND status = 'queued'",
            (reason, self.store.now_iso(), alert_id),
        )

    def by_provider_sid(self, provider_sid: str) -> OutboxMessage | None:
        row = self.store.one(f"SELECT {_COLUMNS} FROM outbox WHERE provider_sid = ?", (provider_sid,))  # noqa: S608
        return self._message(row) if row else None

    def for_alert(self, alert_id: int) -> list[OutboxMessage]:
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE alert_id = ? ORDER BY created_at, id", (alert_id,)  # noqa: S608
        ).fetchall()
        return list(skip_damaged(rows, self._message))

    def counts(self) -> dict[str, int]:
        return dict(self.store.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
