"""A patient who prefers calls gets a reminder as one call (a fake Twilio API): a person
hears it and presses 1 or 2 (adherence); a machine hears nothing private; nobody
answering is called again later, never in quiet hours, three calls at most."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lowband.wiring import conversation_service
from scheduler.dispatcher import dispatch_once
from scheduler.reminders import schedule
from sms_gateway.transports import TwilioTransport
from tests.fakes.twilio_api import FakeTwilioApi
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.twilio_client import BASE_URL
from tests.helpers.voice_call import hear

JOSEPH = "+254722300301"


@pytest.fixture
def calling(sms_app, clock, run_cli):
    runtime = sms_app.extensions["lowband"]
    store = runtime.store()
    with store.write():
        ScriptRunner.add_patient(store, ["5021", "Joseph Mwangi", JOSEPH, "pin=2222", "consent", "born=1955"])
        patient = store.patients.by_short_id("5021")
        medicine = store.medications.add(patient.id, name="Losartan", dose="50mg", quantity=30)
        rule = {"kind": "medicine", "times": ["08:00"], "weekdays": [], "medication_id": medicine.id,
                "label": medicine.label}
        reminder = store.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, clock()))
    assert run_cli("patients", "set", "5021", "--calls").exit_code == 0
    api = FakeTwilioApi()
    transport = TwilioTransport("AC" + "a" * 32, "token", "+15005550006", http_client=api)
    service = conversation_service(runtime.settings)

    first_due = datetime.fromisoformat(reminder.next_send_at)

    def tick():
        """A dispatcher pass now (the first one at a minute past the reminder's time)."""
        clock.now = max(clock.now, first_due + timedelta(minutes=1))
        dispatch_once(store, transport, now=clock.now, service=service, voice_base=BASE_URL)

    return store, api, tick


def call_params(api, **extra):
    placed = api.calls[-1]
    return {"CallSid": placed.sid, "AccountSid": "AC" + "1" * 32, "From": "+15005550006", "To": placed.to,
            "CallStatus": "in-progress", "Direction": "outbound-api", **extra}


def path(url: str) -> str:
    return url.removeprefix(BASE_URL)


def test_a_person_hears_the_reminder_and_answers_it(twilio, calling):
    store, api, tick = calling
    tick()
    assert len(api.calls) == 1 and [m for m in store.outbox.list() if m.channel == "sms"] == []
    placed = api.calls[0]
    assert placed.to == JOSEPH and placed.machine_detection == "Enable"
    heard = hear(twilio.post(path(placed.url), call_params(api, AnsweredBy="human")))
    assert heard.asked == ["Joseph: time for your 08:00 medicine, Losartan 50mg x30. If you have taken it, "
                           "press 1. If you skipped it, press 2."]
    thanks = hear(twilio.post(path(heard.gather["action"]), call_params(api, Digits="1")))
    assert thanks.said == ["Thank you, it is noted. Goodbye."] and thanks.hung_up
    patient = store.patients.by_short_id("5021")
    assert store.reminders.adherence(patient.id, "")["Losartan 50mg x30"]["taken"] == 1
    assert twilio.post(path(placed.status_callback), call_params(api, CallStatus="completed")).status == 204
    assert [m.status for m in store.outbox.list()] == ["delivered"]


def test_a_machine_hears_nothing_private(twilio, calling):
    store, api, tick = calling
    tick()
    heard = hear(twilio.post(path(api.calls[0].url), call_params(api, AnsweredBy="machine_start")))
    assert heard.said == ["Hello, this is Lowband Clinic with a reminder. Please call us back. Goodbye."]
    assert "Losartan" not in heard.raw and heard.gather is None


def test_nobody_answering_is_called_again_then_given_up(twilio, calling, clock):
    store, api, tick = calling
    tick()
    for _ in range(3):
        assert twilio.post(path(api.calls[-1].status_callback), call_params(api, CallStatus="no-answer")).status == 204
        clock.now += timedelta(minutes=11)
        tick()
    assert len(api.calls) == 3  # three calls, then no more
    [message] = store.outbox.list()
    assert message.status == "failed" and message.error == "call no-answer"


def test_a_call_request_for_another_number_is_refused(twilio, calling):
    store, api, tick = calling
    tick()
    params = call_params(api, AnsweredBy="human")
    params["To"] = "+254733400401"
    assert twilio.post(path(api.calls[0].url), params).status == 404
