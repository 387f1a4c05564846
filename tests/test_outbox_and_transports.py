"""The outbox and its transports: opt-out is honoured, states move forward only,
Twilio is called with a timeout, a status callback and a validity period, and
failures are retried with backoff, all against an in-memory fake of the Twilio API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lowband.settings import load_settings
from lowband.wiring import transport as make_transport
from sms_gateway.sender import drain
from sms_gateway.transports import ConsoleTransport, TwilioTransport
from tests.fakes.twilio_api import Failure, FakeTwilioApi

PATIENT = "+254733400401"


@pytest.fixture
def api():
    return FakeTwilioApi()


@pytest.fixture
def twilio_transport(api):
    return TwilioTransport("AC" + "a" * 32, "token", "+15005550006", http_client=api, validity_seconds=3600)


def test_after_stop_the_outbox_refuses_the_number_until_start(twilio, sms_app, api, twilio_transport, clock):
    store = sms_app.extensions["lowband"].store()
    assert twilio.sms(PATIENT, "STOP").messages == []  # Twilio itself confirms STOP
    with store.write():
        refused = store.outbox.enqueue(PATIENT, "Time for your medicine", "reminder")
    assert refused.status == "refused"
    drain(store, twilio_transport, now=clock())
    assert api.sent == []

    assert "again" in twilio.sms(PATIENT, "START").messages[0]
    with store.write():
        store.outbox.enqueue(PATIENT, "Time for your medicine", "reminder")
    report = drain(store, twilio_transport, now=clock())
    assert report.sent == 1
    assert [m.to for m in api.sent] == [PATIENT]
    # The refused message is not sent late after START: refused is final.
    assert [m.body for m in api.sent] == ["Time for your medicine"]


def test_a_message_queued_before_stop_is_not_sent_after_it(twilio, sms_app, api, twilio_transport, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        queued = store.outbox.enqueue(PATIENT, "Your refill is ready", "refill")
    twilio.sms(PATIENT, "STOP")
    drain(store, twilio_transport, now=clock())
    assert api.sent == []
    assert store.outbox.get(queued.id).status == "refused"


@pytest.mark.parametrize("word", ["stopall", "UNSUBSCRIBE", "cancel", "End", "quit", "revoke", "optout", " stop "])
def test_every_opt_out_word_opts_out_with_no_reply(twilio, sms_app, word):
    assert twilio.sms(PATIENT, word).messages == []
    store = sms_app.extensions["lowband"].store()
    assert store.contacts.is_opted_out(store.phone_index(PATIENT))


def test_an_opted_out_number_gets_nothing_back_until_it_opts_in(twilio):
    twilio.sms(PATIENT, "STOP")
    assert twilio.sms(PATIENT, "hi").messages == []
    assert twilio.sms(PATIENT, "HELP").messages == []
    assert twilio.sms(PATIENT, "YES").messages  # YES opts in when no step waits for a yes
    assert "Reply YES to join" in twilio.sms(PATIENT, "hi").messages[0]


def test_twilio_transport_sends_with_callback_and_validity(api, twilio_transport, sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Hello", "alert")
    drain(store, twilio_transport, now=clock(), status_callback="https://clinic.example.org/sms/status")
    [sent] = api.sent
    assert sent.status_callback == "https://clinic.example.org/sms/status"
    assert int(sent.validity_period) == 3600
    assert sent.sender == "+15005550006"
    [message] = store.outbox.list()
    assert (message.status, message.provider_sid) == ("sent", sent.sid)


def test_a_messaging_service_sid_is_used_as_the_sender(api, sms_app, clock):
    transport = TwilioTransport("AC" + "a" * 32, "token", "MG" + "b" * 32, http_client=api)
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Hello", "alert")
    drain(store, transport, now=clock())
    assert api.sent[0].messaging_service == "MG" + "b" * 32 and api.sent[0].sender is None


def test_the_real_http_client_has_a_request_timeout():
    transport = TwilioTransport("AC" + "a" * 32, "token", "+15005550006", timeout=7)
    assert transport.client.http_client.timeout == 7


def test_settings_choose_the_transport(installation):
    assert isinstance(make_transport(load_settings({}, installation.config)), ConsoleTransport)
    twilio_settings = load_settings({}, {**installation.config, "TRANSPORT": "twilio",
                                         "TWILIO_ACCOUNT_SID": "AC" + "c" * 32, "TWILIO_AUTH_TOKEN": "t",
                                         "TWILIO_FROM": "+15005550006"})
    assert isinstance(make_transport(twilio_settings), TwilioTransport)


def test_a_server_error_is_retried_with_backoff_then_sent(api, twilio_transport, sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Hello", "alert")
    api.failures = [Failure(503, 20500), ConnectionError("network down")]
    assert drain(store, twilio_transport, now=clock()).retrying == 1
    assert drain(store, twilio_transport, now=clock()).sent == 0  # not due yet: backing off
    assert drain(store, twilio_transport, now=clock() + timedelta(seconds=31)).retrying == 1
    assert drain(store, twilio_transport, now=clock() + timedelta(minutes=5)).sent == 1
    [message] = store.outbox.list()
    assert message.status == "sent" and message.attempts == 3


def test_a_permanent_error_fails_without_retry(api, twilio_transport, sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Hello", "alert")
    api.failures = [Failure(400, 21211, "invalid To number")]
    assert drain(store, twilio_transport, now=clock()).failed == 1
    assert store.outbox.list()[0].status == "failed"


def test_twilio_saying_unsubscribed_marks_the_number_opted_out(api, twilio_transport, sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Hello", "alert")
    api.failures = [Failure(400, 21610, "unsubscribed recipient")]
    drain(store, twilio_transport, now=clock())
    assert store.contacts.is_opted_out(store.phone_index(PATIENT))
    with store.write():
        again = store.outbox.enqueue(PATIENT, "Again", "alert")
    assert again.status == "refused"


def test_a_sender_that_died_before_handing_it_over_sends_it_after_its_lease(sms_app, clock, api,
                                                                             twilio_transport):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Hello", "alert")
    with store.write():
        [claimed] = store.outbox.claim_due(clock())  # ...and the process dies here
    with store.write():
        claimed_again = store.outbox.claim_due(clock())
    assert claimed_again == []  # leased: nobody else sends it meanwhile
    assert drain(store, twilio_transport, now=clock() + timedelta(minutes=3)).sent == 1
    assert len(api.sent) == 1 and api.sent[0].body == claimed.body


def test_a_sender_that_died_after_twilio_took_it_does_not_send_it_twice(sms_app, clock, api, twilio_transport):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Your refill RF1 is ready", "refill")
        [claimed] = store.outbox.claim_due(clock())
    twilio_transport.send(PATIENT, claimed.body)  # Twilio took it... and the process died before recording it
    drain(store, twilio_transport, now=clock() + timedelta(minutes=3))
    assert len(api.sent) == 1  # found at Twilio, not resent
    [message] = store.outbox.list()
    assert message.status == "sent" and message.provider_sid == api.sent[0].sid


def test_a_half_sent_message_nobody_can_check_is_left_for_a_person(sms_app, clock, api, twilio_transport):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Your refill RF1 is ready", "refill")
        store.outbox.claim_due(clock())
    api.failures.append(Failure(503, 20500))  # Twilio cannot say
    drain(store, twilio_transport, now=clock() + timedelta(minutes=3))
    [message] = store.outbox.list()
    assert message.status == "failed" and "check before resending" in message.error and api.sent == []


def test_status_callbacks_move_forward_only(twilio, sms_app, api, twilio_transport, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Hello", "alert")
    drain(store, twilio_transport, now=clock())
    sid = api.sent[0].sid
    assert twilio.status(sid, "delivered").status == 204
    assert store.outbox.list()[0].status == "delivered"
    twilio.status(sid, "sent")  # a late, out-of-order callback
    twilio.status(sid, "failed")
    assert store.outbox.list()[0].status == "delivered"


def test_undelivered_is_recorded_with_its_error(twilio, sms_app, api, twilio_transport, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Hello", "alert")
    drain(store, twilio_transport, now=clock())
    twilio.status(api.sent[0].sid, "undelivered", ErrorCode="30003")
    [message] = store.outbox.list()
    assert message.status == "undelivered" and "30003" in message.error


def test_console_transport_prints_with_the_number_and_body_masked(capsys, sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Amina Z.: your blood pressure 190/120 is very high", "alert")
        store.outbox.enqueue(PATIENT, "RF3: Joseph M. (4376) Metformin ready", "refill")
    drain(store, ConsoleTransport(), now=clock())
    out = capsys.readouterr().out
    assert "] … (1 segment, 50 chars)" in out  # no word of it: the first may be a name
    assert "] RF3: … (1 segment, 37 chars)" in out  # a reference names nobody
    for private in ("Amina", "Joseph", "blood", "190/120", "4376", "Metformin"):
        assert private not in out
    assert PATIENT not in out and "+254" in out


def test_console_transport_prints_whole_bodies_only_when_asked(capsys, installation):
    transport = make_transport(load_settings({}, {**installation.config, "CONSOLE_FULL": True}))
    transport.send(PATIENT, "Your refill is ready")
    assert "Your refill is ready" in capsys.readouterr().out
    quiet = make_transport(load_settings({}, installation.config))
    quiet.send(PATIENT, "Your refill is ready for collection " * 5)
    out = capsys.readouterr().out
    assert "ready" not in out and "2 segments" in out
    assert load_settings({"LOWBAND_CONSOLE_FULL": "1"}).console_full


def test_a_delivery_report_of_21610_marks_the_recipient_opted_out(twilio, sms_app, api, twilio_transport, clock):
    """Twilio error 21610: the person texted STOP to the carrier; we stop too."""
    store = sms_app.extensions["lowband"].store()
    with store.write():
        message = store.outbox.enqueue("+254712345678", "Your refill RF1 is ready.", "refill")
    drain(store, twilio_transport, now=clock.now)
    sid = store.outbox.get(message.id).provider_sid
    assert twilio.status(sid, "undelivered", ErrorCode="21610").status == 204
    assert store.contacts.is_opted_out(store.phone_index("+254712345678"))
    with store.write():
        another = store.outbox.enqueue("+254712345678", "Another", "refill")
    assert another.status == "refused"



def test_a_delivery_report_sent_to_the_inbound_route_is_refused_not_answered(twilio):
    reply = twilio.post("/sms", {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC" + "1" * 32,
                                 "From": "+254712345678", "To": "+15005550006", "MessageStatus": "delivered",
                                 "SmsStatus": "delivered"})
    assert reply.status == 400 and reply.messages == []


class _ReportOvertakes:
    """A transport whose provider calls back before the send call returns, as Twilio may
    when the network between us is slow."""

    name = "twilio"

    def __init__(self, inner, twilio, status: str, error: str):
        self.inner, self.twilio, self.status, self.error = inner, twilio, status, error

    def send(self, to, body, *, status_callback=None, **_):
        result = self.inner.send(to, body, status_callback=status_callback)
        assert self.twilio.status(result.provider_sid, self.status, ErrorCode=self.error).status == 204
        return result


def test_a_report_that_overtakes_its_send_is_applied_once_the_send_returns(twilio, sms_app, api, twilio_transport,
                                                                           clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "URGENT A1: call the clinic", "alert")
    drain(store, _ReportOvertakes(twilio_transport, twilio, "undelivered", "30003"), now=clock())
    [message] = store.outbox.list()
    assert (message.status, message.error) == ("undelivered", "twilio error 30003")
    assert store.one("SELECT count(*) FROM early_reports")[0] == 0


def test_a_carrier_stop_that_overtakes_its_send_still_opts_the_number_out(twilio, sms_app, api, twilio_transport,
                                                                          clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.outbox.enqueue(PATIENT, "Hello", "reply")
    drain(store, _ReportOvertakes(twilio_transport, twilio, "failed", "21610"), now=clock())
    assert store.contacts.is_opted_out(store.phone_index(PATIENT))
