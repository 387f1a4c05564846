"""A medicine reminder is answered 1 (taken) or 2 (skipped): recorded as adherence for
that reminder, whatever the phone was doing before it came, and shown in `patients
show`. A 1 after the patient moved on (MENU), or a day later, is ordinary input."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest

from lowband.wiring import conversation_service
from scheduler.reminders import schedule
from scheduler.reminders import send_due as queue_due
from sms_gateway.sender import drain
from sms_gateway.transports import ConsoleTransport
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.reminders import send_due

AMINA = "+254712345678"


@pytest.fixture
def reminded(sms_app, clock):
    """Amina has Metformin at her own 08:00 and the dispatcher has just sent it."""
    runtime = sms_app.extensions["lowband"]
    store = runtime.store()
    with store.write():
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968"])
        patient = store.patients.by_short_id("4376")
        medicine = store.medications.add(patient.id, name="Metformin", dose="500mg", quantity=60)
        rule = {"kind": "medicine", "times": ["08:00"], "weekdays": [], "medication_id": medicine.id,
                "label": medicine.label}
        due, send = schedule(rule, patient.time_zone, clock())
        reminder = store.reminders.add(patient.id, rule, due, send)
    service = conversation_service(runtime.settings)

    def send_next():
        """Move the clock to a minute past the reminder's next time, and run a pass."""
        clock.now = datetime.fromisoformat(store.reminders.get(reminder.id).next_send_at) + timedelta(minutes=1)
        return send_due(store, service, clock())

    return store, patient, send_next


def test_one_is_taken_and_two_is_skipped_and_both_show_as_adherence(twilio, reminded, clock, run_cli):
    store, patient, send_next = reminded
    assert send_next().sent
    [sms] = [m.body for m in store.outbox.list() if m.purpose == "reminder"]
    assert sms.endswith("Reply 1 taken, 2 skipped.")
    assert twilio.sms(AMINA, "1").messages == ["Amina Z.: noted, Metformin 500mg x60 taken. Thank you."]
    assert twilio.sms(AMINA, "1").messages[0].startswith("Which reading?")  # answered already: 1 is the menu's
    assert send_next().sent
    assert twilio.sms(AMINA, "2").messages == [
        "Amina Z.: noted as skipped. If something is wrong with your medicine, reply NURSE."]
    assert store.reminders.adherence(patient.id, "") == {
        "Metformin 500mg x60": {"taken": 1, "skipped": 1, "unanswered": 0, "missed": 0}}
    shown = run_cli("patients", "show", "4376").output
    assert "Metformin 500mg x60: 1 taken, 1 skipped, 0 not answered, 0 missed" in shown


def test_a_patient_mid_question_answers_the_reminder_that_came_after_it(twilio, reminded, clock):
    store, patient, send_next = reminded
    assert twilio.sms(AMINA, "MENU").messages[0].startswith("Menu:")  # a question open before the reminder
    assert send_next().sent
    assert "noted" in twilio.sms(AMINA, "1").messages[0]


def test_a_one_after_moving_on_or_a_day_later_is_ordinary_input(twilio, reminded, clock):
    store, patient, send_next = reminded
    assert send_next().sent
    clock.now += timedelta(minutes=2)
    assert twilio.sms(AMINA, "MENU").messages[0].startswith("Menu:")  # moved on: 1 is now the menu's
    assert twilio.sms(AMINA, "1").messages[0].startswith("Which reading?")
    assert send_next().sent
    clock.now += timedelta(days=1, minutes=5)
    assert "noted" not in twilio.sms(AMINA, "1").messages[0]  # (the pass for that day was not run)
    assert store.reminders.adherence(patient.id, "")["Metformin 500mg x60"]["unanswered"] == 2


def test_a_reading_reminder_is_answered_by_the_reading(twilio, sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        ScriptRunner.add_patient(store, ["5021", "Joseph Mwangi", "+254722300301", "pin=2222", "consent", "born=1955"])
        patient = store.patients.by_short_id("5021")
        rule = {"kind": "reading", "reading": "bp", "times": ["07:30"], "weekdays": []}
        reminder = store.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, clock()))
    clock.now = datetime.fromisoformat(reminder.next_send_at) + timedelta(minutes=1)
    assert send_due(store, conversation_service(sms_app.extensions["lowband"].settings), clock()).sent
    [sms] = [m.body for m in store.outbox.list() if m.purpose == "reminder"]
    assert sms == "Joseph: time to send your BP reading, like BP 140/90"
    clock.now += timedelta(minutes=20)
    assert "saved" in twilio.sms("+254722300301", "BP 132/84").messages[0]
    answered = store.one("SELECT count(*) FROM reminder_sends WHERE answered_at IS NOT NULL")[0]
    assert answered == 1


def test_a_closed_consult_is_followed_up_three_days_later(twilio, sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone="+254700100101")
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968"])
    for body in ("NURSE", "1", "2", "no", "Fever at night"):
        twilio.sms(AMINA, body)
    assert "closed" in twilio.sms("+254700100101", "C1 CLOSE").messages[0].lower()
    [reminder] = store.reminders.for_patient(store.patients.by_short_id("4376").id)
    clock.now = datetime.fromisoformat(reminder.next_send_at) + timedelta(minutes=1)
    assert send_due(store, conversation_service(sms_app.extensions["lowband"].settings), clock()).sent
    [text] = [m.body for m in store.outbox.list() if m.purpose == "reminder"]
    assert text == "Amina: how are you since your question C1? Reply NURSE if you need the nurse again."
    assert store.reminders.for_patient(store.patients.by_short_id("4376").id) == []  # once, then done


def test_on_a_shared_phone_a_bare_one_answers_neither_of_two_waiting_reminders(twilio, sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        for short_id, name, pin in (("4376", "Amina Zawadi", "1111"), ("5970", "Halima Zawadi", "2222")):
            ScriptRunner.add_patient(store, [short_id, name, AMINA, f"pin={pin}", "consent", "born=1970"])
            patient = store.patients.by_short_id(short_id)
            medicine = store.medications.add(patient.id, name="Iron", dose="200mg", quantity=30)
            rule = {"kind": "medicine", "times": ["20:00"], "weekdays": [], "medication_id": medicine.id,
                    "label": medicine.label}
            reminder = store.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, clock()))
    clock.now = datetime.fromisoformat(reminder.next_send_at) + timedelta(minutes=1)
    assert len(send_due(store, conversation_service(sms_app.extensions["lowband"].settings), clock()).sent) == 2
    reply = twilio.sms(AMINA, "1").messages[0]
    assert "noted" not in reply  # whose dose would it be? the phone asks who is texting instead
    assert store.one("SELECT count(*) FROM reminder_sends WHERE answered_at IS NOT NULL")[0] == 0


CHW = "+254733200201"


@pytest.fixture
def visit(sms_app, clock, run_cli):
    """Amina (CHW Baraka) has a visit on 12/01 at 10:30 Nairobi; `remind(n)` sends its n-th reminder."""
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.staff.add(role="chw", name="Baraka Otieno", phone=CHW)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968",
                                         f"chw={CHW}"])
    clock.now = datetime.fromisoformat("2027-01-10T12:00+00:00")
    assert run_cli("reminders", "add", "4376", "--appointment", "2027-01-12T10:30+03:00").exit_code == 0
    service = conversation_service(sms_app.extensions["lowband"].settings)

    def remind():
        [reminder] = store.reminders.for_patient(store.patients.by_short_id("4376").id)
        clock.now = datetime.fromisoformat(reminder.next_send_at) + timedelta(minutes=1)
        assert send_due(store, service, clock()).sent

    return store, remind


def test_a_visit_is_confirmed_with_1(twilio, visit, run_cli):
    store, remind = visit
    remind()
    assert twilio.sms(AMINA, "1").messages == ["Amina Z.: thank you, we will see you on 12/01 10:30."]
    assert [m.phone for m in store.outbox.list() if m.purpose == "care"] == []  # nobody needs to call
    shown = run_cli("patients", "show", "4376").output
    assert "2027-01-12 10:30 EAT: confirmed" in shown


def test_another_day_with_2_tells_the_chw_to_call(twilio, visit, run_cli):
    store, remind = visit
    remind()
    assert twilio.sms(AMINA, "2").messages == [
        "Amina Z.: noted. The clinic will contact you to find another day."]
    [told] = [m for m in store.outbox.list() if m.purpose == "care"]
    assert told.phone == CHW
    assert told.body == "4376 Amina Z. asks for another day for the visit on 12/01 10:30. Please call them."
    assert "2027-01-12 10:30 EAT: another day" in run_cli("patients", "show", "4376").output
    remind()  # two hours before: she confirms after all; the latest answer stands
    assert "see you" in twilio.sms(AMINA, "1").messages[0]
    [visit_row] = [json.loads(line) for line in run_cli("patients", "show", "4376", "--json").output.splitlines()[:1]]
    assert visit_row["visits"] == [{"visit": "2027-01-12T07:30:00+00:00", "answer": "confirmed"}]


def test_a_visit_answered_on_a_reminder_call(twilio, visit, run_cli, sms_app):
    from scheduler.dispatcher import dispatch_once
    from sms_gateway.transports import TwilioTransport
    from tests.fakes.twilio_api import FakeTwilioApi
    from tests.helpers.twilio_client import BASE_URL
    from tests.helpers.voice_call import hear

    store, _ = visit
    assert run_cli("patients", "set", "4376", "--calls").exit_code == 0
    api = FakeTwilioApi()
    transport = TwilioTransport("AC" + "a" * 32, "token", "+15005550006", http_client=api)
    [reminder] = store.reminders.for_patient(store.patients.by_short_id("4376").id)
    at = datetime.fromisoformat(reminder.next_send_at) + timedelta(minutes=1)
    dispatch_once(store, transport, now=at, service=conversation_service(sms_app.extensions["lowband"].settings),
                  voice_base=BASE_URL)
    [placed] = api.calls
    params = {"CallSid": placed.sid, "AccountSid": "AC" + "1" * 32, "From": "+15005550006", "To": placed.to,
              "CallStatus": "in-progress", "Direction": "outbound-api", "AnsweredBy": "human"}
    heard = hear(twilio.post(placed.url.removeprefix(BASE_URL), params))
    assert heard.asked == ["Amina: your visit to Lowband Clinic is on 12/01 10:30. To confirm, press 1. "
                           "If you need another day, press 2."]
    thanks = hear(twilio.post(heard.gather["action"], {**params, "Digits": "2"}))
    assert thanks.said == ["Thank you, it is noted. Goodbye."]
    assert [m.phone for m in store.outbox.list() if m.purpose == "care"] == [CHW]


def test_a_reminder_that_never_reached_the_phone_takes_no_answer(twilio, reminded, clock, sms_app):
    """Queued but not yet sent (or expired unsent): a 1 is the menu's, never "taken"."""
    store, patient, _ = reminded
    [reminder] = store.reminders.for_patient(patient.id)
    clock.now = datetime.fromisoformat(reminder.next_send_at) + timedelta(minutes=1)
    assert queue_due(store, conversation_service(sms_app.extensions["lowband"].settings), clock()).sent
    assert twilio.sms(AMINA, "MENU").messages[0].startswith("Menu:")
    assert twilio.sms(AMINA, "1").messages[0].startswith("Which reading?")
    assert store.reminders.adherence(patient.id, "")["Metformin 500mg x60"]["taken"] == 0


def test_a_medicine_and_a_reading_reminder_together_the_one_answers_the_medicine(twilio, reminded, clock):
    store, patient, send_next = reminded
    with store.write():
        rule = {"kind": "reading", "reading": "bp", "times": ["08:00"], "weekdays": []}
        store.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, clock()))
    assert len(send_next().sent) == 2
    assert "noted" in twilio.sms(AMINA, "1").messages[0]
    assert store.reminders.adherence(patient.id, "")["Metformin 500mg x60"]["taken"] == 1


def test_an_answer_does_not_drop_the_question_the_phone_was_in(twilio, reminded, clock):
    store, patient, send_next = reminded
    assert twilio.sms(AMINA, "NURSE").messages[0].startswith("What is the main problem?")
    assert send_next().sent
    assert "noted as skipped" in twilio.sms(AMINA, "2").messages[0]
    # The triage goes on: 1 is its first choice (a fever), not the menu's.
    assert twilio.sms(AMINA, "1").messages[0].startswith("For how many days?")


def test_a_visit_answer_after_the_visit_is_ordinary_input(twilio, visit, clock, run_cli):
    store, remind = visit
    remind()
    clock.now = datetime.fromisoformat("2027-01-12T08:00+00:00")  # 11:00 Nairobi: the visit was at 10:30
    assert "see you" not in twilio.sms(AMINA, "1").messages[0]
    assert "not answered" in run_cli("patients", "show", "4376").output


def test_another_day_with_no_chw_or_clinician_tells_the_admin(twilio, sms_app, clock, run_cli):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.staff.add(role="admin", name="Faith Njeri", phone="+254700100104")
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968"])
    clock.now = datetime.fromisoformat("2027-01-10T12:00+00:00")
    assert run_cli("reminders", "add", "4376", "--appointment", "2027-01-12T10:30+03:00").exit_code == 0
    [reminder] = store.reminders.for_patient(store.patients.by_short_id("4376").id)
    clock.now = datetime.fromisoformat(reminder.next_send_at) + timedelta(minutes=1)
    send_due(store, conversation_service(sms_app.extensions["lowband"].settings), clock())
    twilio.sms(AMINA, "2")
    assert [m.phone for m in store.outbox.list() if m.purpose == "care"] == ["+254700100104"]


def test_a_note_to_a_chw_who_left_before_it_went_is_not_sent(twilio, visit, run_cli, clock):
    store, remind = visit
    remind()
    twilio.sms(AMINA, "2")
    [note] = [m for m in store.outbox.list() if m.purpose == "care"]
    with store.write():
        store.staff.add(role="clinician", name="Dr Peter Oduya", phone="+254700100109")
        store.staff.set_active(store.staff.by_phone(CHW).id, False)  # the CHW left; their phone may be lost
    drain(store, ConsoleTransport(io.StringIO()), now=clock())
    assert store.outbox.get(note.id).status == "refused"
