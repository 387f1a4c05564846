"""Patients who stop answering are followed up, once a week at most: three skipped or
unanswered medicine reminders in a week tell the CHW; two reading reminders with no
reading get the patient one gentle nudge."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lowband.wiring import conversation_service
from scheduler.adherence import follow_up
from scheduler.reminders import schedule
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.reminders import send_due

AMINA, CHW = "+254712345678", "+254700100103"


@pytest.fixture
def plan(sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.staff.add(role="chw", name="Grace Achieng", phone=CHW)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968",
                                         f"chw={CHW}"])
        patient = store.patients.by_short_id("4376")
        medicine = store.medications.add(patient.id, name="Metformin", dose="500mg", quantity=60)
        rules = [{"kind": "medicine", "times": ["08:00"], "weekdays": [], "medication_id": medicine.id,
                  "label": medicine.label},
                 {"kind": "reading", "reading": "bp", "times": ["07:30"], "weekdays": []}]
        for rule in rules:
            store.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, clock()))
    service = conversation_service(sms_app.extensions["lowband"].settings)
    start = clock.now

    def day(n: int, answer: str | None = None):
        """Day n: the morning's reminders go out; Amina answers the medicine one, or not."""
        clock.now = start.replace(hour=4, minute=0) + timedelta(days=n, hours=1, minutes=1)  # 08:01 Nairobi
        send_due(store, service, clock())
        return answer

    return store, service, day


def outbox_to(store, phone: str) -> list[str]:
    return [m.body for m in store.outbox.list() if m.phone == phone and m.purpose != "reminder"]


def test_three_skips_in_a_week_tell_the_chw_once(twilio, plan, clock):
    store, service, day = plan
    for n, answer in ((1, "2"), (2, None), (3, "2"), (4, "1")):
        day(n)
        if answer:
            twilio.sms(AMINA, answer)
    clock.now += timedelta(days=1, hours=1)
    assert follow_up(store, service, clock()).chw_told
    assert outbox_to(store, CHW) == [
        "4376 Amina Z.: 3 medicine reminders skipped or not answered this week. Please visit."]
    clock.now += timedelta(hours=2)
    assert not follow_up(store, service, clock()).chw_told  # once a week, not every hour
    assert len(outbox_to(store, CHW)) == 1


def test_two_reading_reminders_without_a_reading_bring_one_nudge(twilio, plan, clock):
    store, service, day = plan
    for n in (1, 2, 3):
        day(n)
    clock.now += timedelta(days=1, hours=1)
    assert follow_up(store, service, clock()).nudged
    nudges = [m.body for m in store.outbox.list() if "lately" in m.body]
    assert nudges == ["Amina: we have not had your BP reading lately. Send it like BP 140/90 when you can."]
    clock.now += timedelta(hours=2)
    follow_up(store, service, clock())
    assert len([m for m in store.outbox.list() if "lately" in m.body]) == 1
