"""Menu item 4, "My reminders", by SMS: what is due next, pause a week, start again,
switch all off (asked twice); what the dispatcher then does with them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lowband.wiring import conversation_service
from scheduler.reminders import schedule, send_due
from tests.helpers.conversation_script import ScriptRunner

AMINA = "+254712345678"


@pytest.fixture
def amina(sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968"])
        patient = store.patients.by_short_id("4376")
        medicine = store.medications.add(patient.id, name="Metformin", dose="500mg", quantity=60)
        rule = {"kind": "medicine", "times": ["08:00"], "weekdays": [], "medication_id": medicine.id,
                "label": medicine.label}
        reminder = store.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, clock()))
    return store, reminder, conversation_service(sms_app.extensions["lowband"].settings)


def test_pause_then_start_again(twilio, amina, clock):
    store, reminder, service = amina
    assert twilio.sms(AMINA, "4").messages == ["Amina Z., please send your 4-digit PIN to continue."]
    [listed] = twilio.sms(AMINA, "1111").messages  # a reminder names a medicine: behind the PIN
    assert listed.startswith("Amina Z.: 1 reminders, next ") and ": Metformin 500mg x60. 1 Pause for a week" in listed
    [paused] = twilio.sms(AMINA, "1").messages
    until = (clock() + timedelta(days=7)).strftime("%d/%m")
    assert paused == f"Amina Z.: reminders paused until {until}. Reply MENU for options."
    clock.now = datetime.fromisoformat(store.reminders.get(reminder.id).next_send_at) + timedelta(minutes=1)
    assert send_due(store, service, clock()).sent == []  # paused: not sent
    assert store.reminders.occurrences(reminder.id)[-1][1] == "paused"
    twilio.sms(AMINA, "4")
    twilio.sms(AMINA, "1111")  # hours later: the PIN again
    assert twilio.sms(AMINA, "2").messages == ["Amina Z.: reminders are on again. Reply MENU for options."]
    clock.now = datetime.fromisoformat(store.reminders.get(reminder.id).next_send_at) + timedelta(minutes=1)
    assert send_due(store, service, clock()).sent == [reminder.id]


def test_switching_all_off_is_asked_twice(twilio, amina, clock):
    store, reminder, _ = amina
    twilio.sms(AMINA, "4")
    twilio.sms(AMINA, "1111")
    assert twilio.sms(AMINA, "5").messages[0].startswith("Switch off all your reminders?")
    assert twilio.sms(AMINA, "NO").messages == ["OK, your reminders stay on. Reply MENU for options."]
    assert store.reminders.for_patient(reminder.patient_id)
    twilio.sms(AMINA, "4")
    twilio.sms(AMINA, "5")
    assert twilio.sms(AMINA, "YES").messages == ["Amina Z.: all reminders are off. Reply MENU for options."]
    assert store.reminders.for_patient(reminder.patient_id) == []
    assert twilio.sms(AMINA, "4").messages[0].startswith("Amina Z., no reminders are set.")


def test_the_time_of_a_reminder_is_changed_from_the_phone(twilio, amina, clock):
    store, reminder, service = amina
    twilio.sms(AMINA, "4")
    twilio.sms(AMINA, "1111")
    assert twilio.sms(AMINA, "3").messages == [
        "Send the new time for Metformin 500mg x60 (now 08:00), like 08:00, or two like 08:00 20:00."]
    assert twilio.sms(AMINA, "25:00").messages == ["Send a time like 08:00, or two like 08:00 20:00."]
    assert twilio.sms(AMINA, "7.30 19:30").messages == [
        "Amina Z.: Metformin 500mg x60 now at 07:30 19:30. Reply MENU for options."]
    send_due(store, service, clock())  # the dispatcher plans the new times in her zone
    changed = store.reminders.get(reminder.id)
    assert changed.rule["times"] == ["07:30", "19:30"]
    local = datetime.fromisoformat(changed.next_send_at).astimezone(ZoneInfo("Africa/Nairobi"))
    assert local.strftime("%H:%M") in ("07:30", "19:30") and changed.next_send_at > clock().isoformat()


def test_reminders_by_call_are_chosen_from_the_phone(twilio, amina):
    store, reminder, _ = amina
    twilio.sms(AMINA, "4")
    twilio.sms(AMINA, "1111")
    assert twilio.sms(AMINA, "4").messages == ["How should reminders reach you? 1 Phone calls 2 SMS"]
    assert twilio.sms(AMINA, "1").messages == ["Amina Z.: your reminders will come as phone calls."]
    assert store.patients.by_short_id("4376").prefers_voice



def test_a_pause_from_the_phone_leaves_the_clinics_visit_reminder_alone(twilio, amina, clock):
    """My reminders lists, pauses and stops the patient's own (medicines, readings); a
    visit the clinic booked is still reminded of."""
    store, reminder, service = amina
    patient = store.patients.by_short_id("4376")
    visit_at = clock() + timedelta(days=3)
    rule = {"kind": "appointment", "appointment": visit_at.isoformat(),
            "at": [(visit_at - timedelta(days=1)).isoformat()]}
    with store.write():
        visit = store.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, clock()))
    twilio.sms(AMINA, "4")
    [listed] = twilio.sms(AMINA, "1111").messages
    assert listed.startswith("Amina Z.: 1 reminders")  # the visit is not the patient's to pause
    twilio.sms(AMINA, "1")  # pause for a week
    clock.now = datetime.fromisoformat(store.reminders.get(visit.id).next_send_at) + timedelta(minutes=1)
    assert visit.id in send_due(store, service, clock()).sent
