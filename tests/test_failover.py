"""LOWBAND_TRANSPORT as an ordered list: the first transport that can be reached sends;
one that cannot (the clinic's internet is down) rests, and is tried first again later.
Only a message that surely never left moves on, so nobody gets it twice."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout
from urllib3.exceptions import MaxRetryError, NewConnectionError

from sms_gateway.failover import BACK_OFF, Failover
from sms_gateway.sender import drain
from sms_gateway.transports import SendResult, TransportError, TwilioTransport
from tests.fakes.twilio_api import FakeTwilioApi


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def no_route() -> RequestsConnectionError:
    """What requests raises when api.twilio.com cannot be reached at all."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 101] Network is unreachable")
    return RequestsConnectionError(MaxRetryError(None, "/2010-04-01/Accounts", reason))


@dataclass
class Phone:
    """A second line that always works (the clinic's own SIM), counting what it sends."""

    name: str = "android"
    sent: list = field(default_factory=list)

    def send(self, to, body, *, status_callback=None, message_id=None, expires_at=None):
        self.sent.append((message_id, to, body))
        return SendResult(f"phone:{message_id}")

    def sent_already(self, to, body, message_id=None):
        return None


@pytest.fixture
def clock(store):
    class Clock:
        now = store.now() + timedelta(minutes=1)

        def __call__(self):
            return self.now

    return Clock()


def twilio_line(api: FakeTwilioApi) -> TwilioTransport:
    return TwilioTransport("AC" + "a" * 32, "token", "+15005550006", http_client=api)


def queue(store, count: int) -> list[int]:
    with store.write():
        return [store.outbox.enqueue(f"+25471200{n:04d}", f"RF{n}: your refill is ready.", "refill").id
                for n in range(count)]


def test_with_no_route_to_twilio_the_phone_sends_then_twilio_takes_over_again(store, clock):
    api, phone = FakeTwilioApi(), Phone()
    line = Failover([twilio_line(api), phone], clock=clock)
    first = queue(store, 2)
    api.failures.append(no_route())
    drain(store, line, now=clock())
    assert [m for m, _, _ in phone.sent] == first and api.sent == []  # both went by the phone
    assert {store.outbox.get(i).transport for i in first} == {"android"}
    clock.now += BACK_OFF + timedelta(seconds=1)
    later = queue(store, 1)
    drain(store, line, now=clock())
    assert [m.to for m in api.sent] == ["+254712000000"] and store.outbox.get(later[0]).transport == "twilio"
    assert len(phone.sent) == 2  # nothing twice


def test_a_read_timeout_is_retried_on_twilio_never_sent_by_the_phone(store, clock):
    api, phone = FakeTwilioApi(), Phone()
    line = Failover([twilio_line(api), phone], clock=clock)
    [message] = queue(store, 1)
    api.failures.append(ReadTimeout("read timed out"))  # Twilio may have taken it
    drain(store, line, now=clock())
    assert phone.sent == [] and store.outbox.get(message).status == "queued"  # to retry, on Twilio


class _Refusing:
    name = "twilio"

    def send(self, to, body, **_):
        raise TransportError("twilio error 21211", retryable=False)


def test_an_error_from_twilio_itself_does_not_move_the_message(store, clock):
    with pytest.raises(TransportError) as refused:
        Failover([_Refusing(), Phone()], clock=clock).send("+254712000000", "hello", message_id=1)
    assert not refused.value.unreachable


def test_gateway_status_and_test_from_the_cli(run_cli, installation):
    assert "No dispatcher has looked yet" in run_cli("gateway", "status").output
    result = run_cli("gateway", "test", "--to", "+254712345678")
    assert result.exit_code == 0, result.output
    assert "Sent through console" in result.output
    status = run_cli("gateway", "status").output
    assert "console  up" in status


def test_healthz_says_what_the_dispatcher_found(client, run_cli):
    assert client.get("/healthz").get_json()["transports"] == "not yet seen by the dispatcher"
    assert run_cli("dispatch", "--once").exit_code == 0
    seen = client.get("/healthz").get_json()["transports"]
    assert seen["up"] == {"console": True} and seen["stale"] is False


def test_the_transport_list_is_checked(run_cli, cli_error, monkeypatch):
    monkeypatch.setenv("LOWBAND_TRANSPORT", "twilio,pigeon")
    cli_error(run_cli("outbox"), "LOWBAND_TRANSPORT", "in the order to try them")
    monkeypatch.setenv("LOWBAND_TRANSPORT", "android")
    cli_error(run_cli("outbox"), "LOWBAND_ANDROID_URL")
    monkeypatch.setenv("LOWBAND_TRANSPORT", "console,console")
    cli_error(run_cli("outbox"), "each once")


def test_the_outbox_says_which_line_sent_each_message(run_cli):
    assert run_cli("gateway", "test", "--to", "+254712345678").exit_code == 0
    [row] = [json.loads(line) for line in run_cli("outbox", "--json").output.splitlines()]
    assert row["via"] == "console"


def test_a_message_twilio_may_have_is_never_sent_by_the_phone_as_well(store, clock):
    """Twilio took it but no answer came (a read timeout); on the retry the internet is
    down altogether: the message waits for Twilio rather than going by the phone too."""
    api, phone = FakeTwilioApi(), Phone()
    line = Failover([twilio_line(api), phone], clock=clock)
    with store.write():
        advice = store.outbox.enqueue("+254712000000", "Nurse (C1): rest and drink water.", "consult")
        alert = store.outbox.enqueue("+254700100101", "URGENT A1: ...", "alert")
    api.failures += [ReadTimeout("read timed out"), ReadTimeout("read timed out")]
    drain(store, line, now=clock())
    clock.now += timedelta(minutes=5)
    api.failures += [no_route(), no_route()]
    drain(store, line, now=clock())
    assert [m for m, _, _ in phone.sent] == [alert.id]  # an alert may go twice, a patient's message not
    assert store.outbox.get(advice.id).status == "queued"
    clock.now += timedelta(minutes=5)
    drain(store, line, now=clock())  # Twilio is back
    assert store.outbox.get(advice.id).status == "sent" and store.outbox.get(advice.id).transport == "twilio"
    assert len(phone.sent) == 1


def test_an_account_twilio_refuses_moves_the_message_to_the_phone(store, clock):
    from tests.fakes.twilio_api import Failure

    api, phone = FakeTwilioApi(), Phone()
    line = Failover([twilio_line(api), phone], clock=clock)
    [message] = queue(store, 1)
    api.failures.append(Failure(401, 20003, "Authenticate"))
    drain(store, line, now=clock())
    assert [m for m, _, _ in phone.sent] == [message] and store.outbox.get(message).status == "sent"


def test_gateway_test_with_the_phone_off_says_why_at_once_and_sends_nothing_later(run_cli, cli_error, store):
    env = {"LOWBAND_TRANSPORT": "android", "LOWBAND_ANDROID_URL": f"http://127.0.0.1:{free_port()}",
           "LOWBAND_ANDROID_USER": "sms", "LOWBAND_ANDROID_PASSWORD": "secret-pass"}
    started = time.monotonic()
    cli_error(run_cli("gateway", "test", "--to", "+254712345678", env=env), "not sent")
    assert time.monotonic() - started < 30  # not the minute's wait for a dispatcher
    assert [m.status for m in store.outbox.list()] == ["failed"]  # withdrawn: never sent hours later
    assert "secret-pass" not in run_cli("gateway", "status", env=env).output


def test_an_android_address_without_http_is_refused_with_the_fix(run_cli, cli_error):
    env = {"LOWBAND_TRANSPORT": "android", "LOWBAND_ANDROID_URL": "192.168.1.20:8080",
           "LOWBAND_ANDROID_USER": "sms", "LOWBAND_ANDROID_PASSWORD": "x"}
    cli_error(run_cli("outbox", env=env), "http://192.168.1.20:8080")
