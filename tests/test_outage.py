"""Half an hour with no way out (the link to Twilio down): the outbox keeps trying with
growing pauses, delivers everything still worth sending once the link is back, and
gives up what expired meanwhile (a medicine reminder hours late) instead of sending it."""

from __future__ import annotations

from datetime import timedelta

from sms_gateway.sender import drain
from sms_gateway.transports import SendResult, TransportError
from storage.store import iso

PATIENT, CLINICIAN = "+254712345678", "+254700100101"


class DownThenUp:
    """A transport whose link is down until `back`, as a clock says."""

    name = "twilio"

    def __init__(self, clock, back):
        self.clock, self.back, self.tries, self.sent = clock, back, [], []

    def send(self, to, body, *, status_callback=None, **_):
        self.tries.append((self.clock(), body))
        if self.clock() < self.back:
            raise TransportError("connection refused", retryable=True)
        self.sent.append(body)
        return SendResult(f"SM{len(self.sent):032x}")


def test_thirty_minutes_down_delivers_what_is_still_valid_and_drops_what_expired(sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    start = clock.now
    with store.write():
        store.outbox.enqueue(CLINICIAN, "URGENT A1: ...", "alert")
        store.outbox.enqueue(PATIENT, "Your refill RF1 is ready", "refill")
        store.outbox.enqueue(PATIENT, "Amina: time for your 08:00 medicine", "reminder",
                             expires_at=iso(start + timedelta(minutes=20)))
    transport = DownThenUp(clock, start + timedelta(minutes=30))
    for minute in range(0, 50):
        clock.now = start + timedelta(minutes=minute)
        drain(store, transport, now=clock.now)
    assert sorted(transport.sent) == ["URGENT A1: ...", "Your refill RF1 is ready"]  # each once
    statuses = {m.body: (m.status, m.error) for m in store.outbox.list()}
    assert statuses["Amina: time for your 08:00 medicine"] == ("failed", "expired before it could be sent")
    tried = [at for at, body in transport.tries if body == "Your refill RF1 is ready"]
    gaps = [(b - a).total_seconds() for a, b in zip(tried, tried[1:], strict=False)]
    assert gaps == sorted(gaps) and gaps[0] < gaps[-2]  # growing pauses, not a hammering
    assert len(tried) < 10  # not once a minute for half an hour
    assert all(at < start + timedelta(minutes=20) for at, body in transport.tries if "medicine" in body)


def test_an_alert_is_sent_before_the_reminders_queued_ahead_of_it(sms_app, clock):
    """08:00 brings every reminder at once; an urgent alert must not wait behind them."""
    store = sms_app.extensions["lowband"].store()
    with store.write():
        for n in range(30):
            store.outbox.enqueue(f"+2547123456{n:02d}", f"time for your 08:00 medicine ({n})", "reminder")
        store.outbox.enqueue(CLINICIAN, "URGENT A1: ...", "alert")
        store.outbox.enqueue(PATIENT, "Your refill RF1 is ready", "refill")
        claimed = store.outbox.claim_due(clock(), limit=5)
    assert [m.body for m in claimed][:2] == ["URGENT A1: ...", "Your refill RF1 is ready"]
