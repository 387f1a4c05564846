"""A medicine reminder is answered 1 (taken) or 2 (skipped): recorded as adherence for
that reminder, whatever the phone was doing before it came, and shown in `patients
show`. A 1 after the patient moved on (MENU), or a day later, is ordinary input."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lowband.wiring import conversation_service
from scheduler.reminders import schedule, send_due
from tests.helpers.conversation_script import ScriptRunner

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
