"""The clinic's own SIM in an Android phone (the SMS Gateway for Android app, Local
Server mode), against a fake of the app served over real HTTP on 127.0.0.1.

A patient's text on the phone is answered through the phone in one dispatcher pass, and
only once however often it is seen (the poll, the app's webhook, a restart); an urgent
reading reaches the clinician through the same phone. Webhooks not signed with the
clinic's key, or replayed late, change nothing. States only move forward. With Twilio
unreachable the phone takes over, Twilio takes back after the back-off, and no message
goes out twice; a Twilio answer that was only late never moves a message to the phone.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from lowband import create_app
from lowband.wiring import conversation_service
from scheduler.dispatcher import dispatch_once
from sms_gateway.android import AndroidGateway
from sms_gateway.failover import BACK_OFF, Failover
from sms_gateway.sender import drain
from sms_gateway.transports import TransportError, TwilioTransport
from tests.fakes.android_gateway import FakeAndroidPhone
from tests.fakes.twilio_api import FakeTwilioApi
from tests.helpers.conversation_script import ScriptRunner

KEY = "Wh-signing-key-7f3a9c"
AMINA = "+254712345678"
CLINICIAN = "+254700100101"


@pytest.fixture
def phone(clock):
    fake = FakeAndroidPhone(clock=clock).start()
    yield fake
    fake.stop()


@pytest.fixture
def gateway(phone, clock):
    return AndroidGateway(phone.url, phone.user, phone.password, clock=clock)


@pytest.fixture
def make_app(installation, clock):
    """The app (app.py registers the Android webhook) with its dispatcher nudge recorded,
    as `lowband serve` sets it; returns (app, the nudges it made)."""
    built = []

    def make(**settings):
        app = create_app({**installation.config, "CLOCK": clock, **settings})
        nudges: list[int] = []
        app.extensions["lowband"].nudge = lambda: nudges.append(1)
        built.append(app)
        return app, nudges

    yield make
    for app in built:
        app.extensions["lowband"].close()


@pytest.fixture
def clinic(make_app):
    """(app, its store, the conversation service, nudges): Amina registered, one clinician."""
    app, nudges = make_app(ANDROID_SIGNING_KEY=KEY)
    store = app.extensions["lowband"].store()
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
    ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968"])
    return app, store, conversation_service(app.config["LOWBAND"]), nudges


def replies_queued_to(store, number: str) -> list[str]:
    return [m.body for m in store.outbox.list() if m.phone == number]


# 1. A text on the phone is answered through the phone, once.

def test_a_text_on_the_phone_is_answered_through_the_phone_in_one_pass_and_only_once(clinic, phone, gateway):
    app, store, service, nudges = clinic
    entry = phone.receive(AMINA, "hi")

    dispatch_once(store, gateway, service=service)

    answer = phone.sent_to(AMINA)
    assert len(answer) == 1 and answer == replies_queued_to(store, AMINA)
    # The app also posts the same text by its webhook (the number as the network gave it).
    response = phone.post_webhook(app.test_client(), "sms:received",
                                  phone.received_payload(entry, sender="0712345678"), key=KEY)
    assert response.status_code == 200
    # The next passes re-read the inbox's overlap; a restarted Lowband reads it afresh.
    dispatch_once(store, gateway, service=service)
    restarted = AndroidGateway(phone.url, phone.user, phone.password, clock=gateway.clock)
    dispatch_once(store, restarted, service=service)

    assert phone.sent_to(AMINA) == answer
    assert store.inbound.count() == 1
    assert nudges == []  # nothing new to send


def test_a_text_the_webhook_brings_first_is_answered_at_once_and_the_poll_adds_nothing(clinic, phone, gateway):
    app, store, service, nudges = clinic
    entry = phone.receive(AMINA, "hi")

    response = phone.post_webhook(app.test_client(), "sms:received", phone.received_payload(entry), key=KEY)

    assert response.status_code == 200
    assert nudges == [1]  # the dispatcher is asked to send the reply now
    assert len(replies_queued_to(store, AMINA)) == 1
    dispatch_once(store, gateway, service=service)  # the nudged pass: it also polls the same text
    assert phone.sent_to(AMINA) == replies_queued_to(store, AMINA)
    assert len(phone.sent_to(AMINA)) == 1
    assert store.inbound.count() == 1


def test_an_urgent_reading_on_the_phone_alerts_the_clinician_through_the_phone(clinic, phone, gateway):
    _, store, service, _ = clinic
    phone.receive(AMINA, "BP 190/125")

    dispatch_once(store, gateway, service=service)

    [alert] = phone.sent_to(CLINICIAN)
    assert alert.startswith("URGENT A") and "BP 190/125" in alert
    [advice] = phone.sent_to(AMINA)
    assert "DANGER" in advice


# 2. Forged and stale webhooks change nothing.

@pytest.mark.parametrize("forgery", ["wrong signature", "signed with another key", "no signature",
                                     "stale: 6 minutes old", "from the future", "no key configured"])
def test_a_forged_or_stale_webhook_is_refused_and_changes_nothing(forgery, make_app, phone):
    app, nudges = make_app() if forgery == "no key configured" else make_app(ANDROID_SIGNING_KEY=KEY)
    entry = phone.receive(AMINA, "BP 190/125")
    kwargs = {
        "wrong signature": {"key": KEY, "signature": "0" * 64},
        "signed with another key": {"key": "not-the-clinic-key"},
        "no signature": {"key": None},
        "stale: 6 minutes old": {"key": KEY, "timestamp": int(time.time()) - 360},
        "from the future": {"key": KEY, "timestamp": int(time.time()) + 360},
        "no key configured": {"key": KEY},
    }[forgery]

    response = phone.post_webhook(app.test_client(), "sms:received", phone.received_payload(entry), **kwargs)

    assert response.status_code == 403
    store = app.extensions["lowband"].store()
    assert store.inbound.count() == 0
    assert store.outbox.list() == []
    assert nudges == []


def test_a_signed_body_that_is_not_the_apps_envelope_is_a_bad_request(clinic, phone):
    app, store, _, _ = clinic
    client = app.test_client()
    assert phone.post_webhook(client, "sms:received", {"messageId": "abc"}, key=KEY).status_code == 400
    body = b"[1, 2]"
    stamp = str(int(time.time()))
    signed = hmac.new(KEY.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    response = client.post("/gateway/android", data=body, headers={"X-Timestamp": stamp, "X-Signature": signed})
    assert response.status_code == 400
    assert store.inbound.count() == 0


# 3. States move forward only.

def test_states_from_the_webhook_and_the_poll_only_move_a_message_forward(clinic, phone, gateway):
    app, store, service, _ = clinic
    client = app.test_client()
    with store.write():
        refill = store.outbox.enqueue(AMINA, "Your refill is ready at the clinic.", "refill")
        visit = store.outbox.enqueue(AMINA, "Your visit is tomorrow at 10:00.", "visit")
    dispatch_once(store, gateway)
    assert store.outbox.get(refill.id).provider_sid == f"android:{refill.id}"
    assert store.outbox.get(refill.id).transport == "android"

    phone.set_state(refill.id, "Delivered")  # the poll finds it delivered
    dispatch_once(store, gateway, service=service)
    assert store.outbox.get(refill.id).status == "delivered"
    late = phone.post_webhook(client, "sms:sent", phone.state_payload("sms:sent", refill.id, AMINA), key=KEY)
    assert late.status_code == 200
    assert store.outbox.get(refill.id).status == "delivered"  # a late "sent" changes nothing

    failed = phone.post_webhook(client, "sms:failed",
                                phone.state_payload("sms:failed", visit.id, AMINA, "RESULT_ERROR_NO_SERVICE"), key=KEY)
    assert failed.status_code == 200
    after = store.outbox.get(visit.id)
    assert after.status == "failed" and "RESULT_ERROR_NO_SERVICE" in after.error
    assert [m.id for m in store.outbox.needing_attention()] == [visit.id]  # the admin sees it
    phone.set_state(visit.id, "Sent")  # a late state the poll finds
    dispatch_once(store, gateway, service=service)
    assert store.outbox.get(visit.id).status == "failed"


def test_the_phone_is_told_when_a_message_is_no_longer_worth_sending(clinic, phone, gateway):
    _, store, _, _ = clinic
    with store.write():
        message = store.outbox.enqueue(AMINA, "Time for your Metformin.", "reminder")
    dispatch_once(store, gateway)
    [posted] = phone.posts
    assert posted["id"] == str(message.id) and posted["phoneNumbers"] == [AMINA]
    assert posted["textMessage"] == {"text": "Time for your Metformin."} and posted["withDeliveryReport"] is True
    assert posted["ttl"] == 4 * 3600  # the outbox's validity, counted from the send


# 4. Failover between Twilio and the phone.

def refused_connection() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/2010-04-01/Accounts", reason))


def sent_by_each(store, twilio: FakeTwilioApi, phone: FakeAndroidPhone) -> dict[int, list[str]]:
    """Outbox id -> who sent it (one entry per SMS that went out)."""
    by_body = {m.body: m.id for m in store.outbox.list()}
    went: dict[int, list[str]] = {}
    for message in twilio.sent:
        went.setdefault(by_body[message.body], []).append("twilio")
    for message in phone.messages.values():
        went.setdefault(int(message.id), []).append("android")
    return went


def test_with_twilio_unreachable_the_phone_sends_until_twilio_is_back_and_nothing_goes_twice(
        clinic, phone, gateway, clock):
    _, store, _, _ = clinic
    twilio = FakeTwilioApi()
    twilio_transport = TwilioTransport("AC" + "a" * 32, "token", "+15005550006", http_client=twilio)
    both = Failover([twilio_transport, gateway], clock=clock)

    def queue(body):
        with store.write():
            return store.outbox.enqueue(AMINA, body, "refill").id

    first = queue("Please come for your BP check on Monday.")
    twilio.failures = [refused_connection()]  # the clinic's internet is down
    assert drain(store, both, now=clock()).sent == 1
    second = queue("Your refill is ready.")  # Twilio rests: the phone is asked first
    assert drain(store, both, now=clock()).sent == 1
    clock.now += BACK_OFF + timedelta(seconds=1)  # the internet is back
    third = queue("Your results are in.")
    assert drain(store, both, now=clock()).sent == 1

    assert sent_by_each(store, twilio, phone) == {first: ["android"], second: ["android"], third: ["twilio"]}
    assert [store.outbox.get(i).transport for i in (first, second, third)] == ["android", "android", "twilio"]


def test_a_twilio_read_timeout_is_retried_on_twilio_never_sent_by_the_phone(clinic, phone, gateway, clock):
    _, store, _, _ = clinic
    twilio = FakeTwilioApi()
    both = Failover([TwilioTransport("AC" + "a" * 32, "token", "+15005550006", http_client=twilio), gateway],
                    clock=clock)
    with store.write():
        message = store.outbox.enqueue(AMINA, "Your results are in.", "refill")
    twilio.failures = [requests.exceptions.ReadTimeout("read timed out")]  # it may have gone

    assert drain(store, both, now=clock()).retrying == 1
    assert phone.messages == {} and twilio.sent == []
    assert store.outbox.get(message.id).status == "queued"
    clock.now += timedelta(minutes=1)
    assert drain(store, both, now=clock()).sent == 1
    assert sent_by_each(store, twilio, phone) == {message.id: ["twilio"]}


def test_a_phone_off_the_wifi_is_reported_unreachable_and_its_messages_wait(clinic, phone, gateway, clock):
    _, store, service, _ = clinic
    with store.write():
        message = store.outbox.enqueue(AMINA, "Your refill is ready.", "refill")
    phone.stop()

    with pytest.raises(TransportError) as polled:
        gateway.poll()
    assert polled.value.unreachable
    up, said = gateway.status()
    assert not up and "cannot be reached" in said
    dispatch_once(store, gateway, service=service)  # the pass goes on
    assert store.outbox.get(message.id).status == "queued"


def test_the_gateway_status_tells_the_admin_what_is_wrong(phone, gateway):
    up, said = gateway.status()
    assert up and "battery 94%, charging" in said
    wrong = AndroidGateway(phone.url, phone.user, "not-the-password")
    up, said = wrong.status()
    assert not up and "LOWBAND_ANDROID_PASSWORD" in said
    with pytest.raises(TransportError) as refused:
        wrong.send(AMINA, "hello", message_id=1)
    assert not refused.value.retryable and phone.messages == {}
    phone.failing = 500
    with pytest.raises(TransportError) as failed:
        AndroidGateway(phone.url, phone.user, phone.password).send(AMINA, "hello", message_id=2)
    assert failed.value.retryable and not failed.value.unreachable
    with pytest.raises(TransportError, match="SMS only"):
        AndroidGateway(phone.url, phone.user, phone.password).call(AMINA, "https://clinic.example.org/voice")


# 5. A retry of a message the phone already took is not a second SMS.

def test_a_message_the_phone_took_before_its_answer_was_lost_is_not_sent_twice(clinic, phone, clock):
    _, store, _, _ = clinic
    slow = AndroidGateway(phone.url, phone.user, phone.password, clock=clock, timeout=(3, 0.3))
    with store.write():
        message = store.outbox.enqueue(AMINA, "Your refill is ready.", "refill")
    phone.delay_next_response = 1.0  # the phone queues it, then answers too late

    assert drain(store, slow, now=clock()).retrying == 1
    clock.now += timedelta(minutes=1)
    assert drain(store, slow, now=clock()).sent == 1  # the retry meets 409: the same message

    assert [p["id"] for p in phone.posts] == [str(message.id)] * 2
    assert phone.sent_to(AMINA) == ["Your refill is ready."]
    after = store.outbox.get(message.id)
    assert (after.status, after.provider_sid) == ("sent", f"android:{message.id}")


def test_a_message_a_dead_sender_left_half_sent_is_looked_up_on_the_phone_not_resent(clinic, phone, gateway, clock):
    _, store, _, _ = clinic
    with store.write():
        message = store.outbox.enqueue(AMINA, "Your refill is ready.", "refill")
        store.outbox.claim_due(clock())  # the sender claims it ...
    gateway.send(AMINA, message.body, message_id=message.id)  # ... hands it to the phone, and dies

    clock.now += timedelta(minutes=3)  # its claim lapses
    drain(store, gateway, now=clock())

    assert len(phone.posts) == 1 and phone.sent_to(AMINA) == ["Your refill is ready."]
    after = store.outbox.get(message.id)
    assert (after.status, after.provider_sid) == ("sent", f"android:{message.id}")


def test_a_text_that_cannot_be_handled_never_stops_the_alerts(clinic, phone, gateway, monkeypatch):
    """An emoji cut in two is stored with a replacement mark; a text that makes Lowband
    fail is set aside (left on the phone) and the pass still sends what waits."""
    app, store, service, nudges = clinic
    with store.write():
        alert = store.outbox.enqueue(CLINICIAN, "URGENT A1: Amina Z. (4376) BP 190/125.", "alert")
    phone.receive(AMINA, "Habari \ud83d")
    dispatch_once(store, gateway, service=service)
    assert store.outbox.get(alert.id).status == "sent" and len(phone.sent_to(AMINA)) == 1

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a flow")

    monkeypatch.setattr(service, "handle", broken)
    with store.write():
        second = store.outbox.enqueue(CLINICIAN, "URGENT A2: Amina Z. (4376) BP 200/130.", "alert")
    phone.receive(AMINA, "BP 200/130")
    dispatch_once(store, gateway, service=service)
    assert store.outbox.get(second.id).status == "sent"
