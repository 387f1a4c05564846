"""Draining the outbox through a transport, with retries that back off.

Claiming is a short transaction; the network call happens outside any transaction,
so a slow Twilio never holds the database's write lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sms_gateway.pacing import Pace, cost
from sms_gateway.transports import TWILIO_UNSUBSCRIBED, Transport, TransportError
from storage import Store
from storage.outbox import MAX_ATTEMPTS


@dataclass
class DrainReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed"

    def __add__(self, other: DrainReport) -> DrainReport:
        return DrainReport(self.sent + other.sent, self.retrying + other.retrying, self.failed + other.failed)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min ... capped at 30 minutes."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 1800))


def drain(
    store: Store, transport: Transport, *, now: datetime | None = None, status_callback: str | None = None,
    limit: int = 50, voice_base: str | None = None,
) -> DrainReport:
    """Send what is due. A message for a call (a reminder to a patient who prefers
    calls) is placed as a call whose words are at `voice_base`/voice/reminder/<id>."""
    now = now or store.now()
    report = DrainReport()
    _reconcile(store, transport, now)
    pace: Pace | None = getattr(transport, "pace", None)
    with store.write():
        if pace is None:
            claimed = store.outbox.claim_due(now, limit=limit)
        else:
            allowance, spent = pace.allowance(store, now), [0]

            def fits(message) -> bool:
                if not pace.fits(allowance, spent[0], message):
                    return False
                spent[0] += cost(message)
                return True

            claimed = store.outbox.claim_due(now, limit=limit, fits=fits)
            pace.spend(store, now, allowance, spent[0])
    for message in claimed:
        # The send happens outside any transaction (a slow network must not hold the
        # write lock); each outcome is then one short transaction of its own.
        try:
            if message.channel == "call":
                if not voice_base:
                    raise TransportError("no public URL for the call to fetch its words", retryable=False)
                where = f"{voice_base}/voice/reminder/{message.id}"
                result = transport.call(message.phone, where, status_callback=f"{where}/status")
            else:
                pin = {}
                if hasattr(transport, "transports") and message.transport and message.purpose != "alert":
                    # An earlier try may have left it with that line: only it is tried. An
                    # alert may go by another (a clinician told twice beats one not told).
                    pin = {"pinned": message.transport}
                result = transport.send(message.phone, message.body, status_callback=status_callback,
                                        message_id=message.id, expires_at=message.expires_at, **pin)
        except TransportError as error:
            with store.write():
                if error.opted_out:
                    store.contacts.set_opt_out(store.phone_index(message.phone), True)
                    store.outbox.mark_failed(message.id, str(error), retry_at=None)
                    report.failed += 1
                elif error.retryable and message.attempts < MAX_ATTEMPTS:
                    store.outbox.mark_failed(message.id, str(error), retry_at=now + backoff(message.attempts),
                                             may_be_with=getattr(error, "transport", None))
                    report.retrying += 1
                else:
                    store.outbox.mark_failed(message.id, str(error), retry_at=None)
                    report.failed += 1
        else:
            with store.write():
                early = store.outbox.mark_sent(message.id, result.provider_sid, result.transport or transport.name)
                if early is not None and early[1] == f"twilio error {TWILIO_UNSUBSCRIBED}":
                    # The carrier's STOP came back before the send did: as /sms/status would.
                    store.contacts.set_opt_out(store.phone_index(message.phone), True, carrier_blocked=True)
            report.sent += 1
    return report


def _reconcile(store: Store, transport: Transport, now: datetime) -> None:
    """Messages a dead sender left half-sent: asked of the provider, never resent blindly.
    Sent already: recorded as sent. Not sent: queued again. Nobody can say (the provider
    is unreachable, or it was a call): left for a person to review."""
    with store.write():
        stuck = store.outbox.stuck(now)
    for message in stuck:
        try:
            if message.channel == "call":
                raise TransportError("a call cannot be looked up", retryable=False)
            sid = transport.sent_already(message.phone, message.body, message.id)
        except TransportError as error:
            with store.write():
                store.outbox.to_review(message.id, f"the sender stopped mid-send; {error}; check before resending")
            continue
        with store.write():
            if sid:
                store.outbox.mark_sent(message.id, sid)
            else:
                store.outbox.requeue(message.id)

