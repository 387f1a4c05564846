"""The outbox hands a sender number no more than its rate, charged per segment: a long
code takes one segment a second, and what we hand over faster waits in the provider's
queue first in first out, where an alert would wait behind every reminder. So the rest
waits in our outbox, which sends by priority."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sms_gateway.sender import drain
from sms_gateway.transports import TwilioTransport
from tests.fakes.twilio_api import FakeTwilioApi

SHORT = "Amina: time for your 08:00 medicine. Reply 1 taken, 2 skipped."


@pytest.fixture
def t0(store):
    """A minute after now: everything queued is due."""
    return store.now() + timedelta(minutes=1)


def line(per_minute: int = 60) -> tuple[FakeTwilioApi, TwilioTransport]:
    api = FakeTwilioApi()
    return api, TwilioTransport("AC" + "a" * 32, "token", "+15005550006", http_client=api,
                                segments_per_minute=per_minute)


def queue(store, count: int, body: str = SHORT, purpose: str = "reminder") -> None:
    with store.write():
        for n in range(count):
            store.outbox.enqueue(f"+2547123{n:05d}", body, purpose)


def test_a_long_code_gets_thirty_seconds_of_sending_then_one_segment_a_second(store, t0):
    api, transport = line()
    queue(store, 100)
    drain(store, transport, now=t0, limit=200)
    assert len(api.sent) == 30  # what may wait at Twilio at once
    drain(store, transport, now=t0 + timedelta(seconds=1), limit=200)
    assert len(api.sent) == 31
    drain(store, transport, now=t0 + timedelta(seconds=11), limit=200)
    assert len(api.sent) == 41
    assert store.outbox.counts().get("queued") == 59  # waiting with us, not lost


def test_an_alert_queued_after_a_thousand_reminders_goes_next(store, t0):
    api, transport = line()
    queue(store, 1000)
    drain(store, transport, now=t0, limit=200)
    queue(store, 1, "A12 URGENT: patient 4376 BP 190/120. Reply A12 OK.", "alert")
    drain(store, transport, now=t0 + timedelta(seconds=2), limit=200)
    assert api.sent[30].body.startswith("A12 URGENT")


def test_a_long_message_is_charged_per_segment(store, t0):
    api, transport = line(per_minute=6)  # a bucket of 3 segments
    long_text = "x" * 300  # two segments
    queue(store, 3, long_text)
    drain(store, transport, now=t0)
    assert len(api.sent) == 1  # 2 of 3 spent; the next needs 2
    drain(store, transport, now=t0 + timedelta(seconds=10))  # one more segment earned
    assert len(api.sent) == 2


def test_a_message_longer_than_the_bucket_still_goes_when_it_is_full(store, t0):
    api, transport = line(per_minute=1)  # a bucket of one segment
    queue(store, 2, "x" * 300)
    drain(store, transport, now=t0)
    assert len(api.sent) == 1
    drain(store, transport, now=t0 + timedelta(seconds=30))  # still in debt
    assert len(api.sent) == 1
    drain(store, transport, now=t0 + timedelta(minutes=3))
    assert len(api.sent) == 2


def test_the_rate_is_a_setting_with_a_clear_error(run_cli, cli_error, monkeypatch):
    monkeypatch.setenv("LOWBAND_SEND_RATE", "fast")
    cli_error(run_cli("outbox"), "LOWBAND_SEND_RATE")


def test_a_rate_that_is_not_a_whole_number_is_refused(run_cli, cli_error, monkeypatch):
    for value in ("1.5", "1e3", "true", "٦٠", "0", "60001"):
        monkeypatch.setenv("LOWBAND_SEND_RATE", value)
        cli_error(run_cli("outbox"), "LOWBAND_SEND_RATE must be a whole number from 1 to 60000")
    monkeypatch.setenv("LOWBAND_SEND_RATE", "120")
    assert run_cli("outbox").exit_code == 0


def test_a_clock_set_back_then_forward_earns_nothing_twice(store, t0):
    api, transport = line()
    queue(store, 100)
    drain(store, transport, now=t0, limit=200)
    drain(store, transport, now=t0 - timedelta(hours=1), limit=200)  # the laptop's clock was wrong
    drain(store, transport, now=t0 + timedelta(seconds=1), limit=200)
    assert len(api.sent) == 31
