"""An urgent reading is never silently dropped, whatever state its sender is in.

For each state a patient (or a stranger) can be in when they text `BP 190/125`, the
clinician on call gets an SMS naming the reading, an alert is stored, and the sender
gets the safety advice wherever we may still text them. Opted out: no reply (the
carrier would block it), so the clinician's SMS says to call instead.
"""

from __future__ import annotations

import pytest

from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.phone_line import Line

CLINICIAN = "+254700100101"
AMINA = "+254712345678"
STRANGER = "+254733400409"
URGENT = "BP 190/125"


def _amina(store, *options):
    ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, *options])


def opted_out(line, store):
    _amina(store, "pin=1111", "consent")
    line.text(AMINA, "STOP")
    return AMINA


def enrolled_not_consented(line, store):
    _amina(store)
    return AMINA


def declined_consent(line, store):
    _amina(store)
    line.text(AMINA, "hi")
    line.text(AMINA, "NO")
    return AMINA


def muted_by_loop_guard(line, store):
    _amina(store, "pin=1111", "consent")
    replies = [line.text(AMINA, "hello?") for _ in range(12)]  # over 10 a minute: muted
    assert replies[-1] == [], "the set-up must really mute the number"
    return AMINA


def locked_out_by_pins(line, store):
    _amina(store, "pin=1111", "consent")
    ScriptRunner.add_patient(store, ["5970", "Halima Zawadi", AMINA, "pin=2222", "consent"])
    line.text(AMINA, "hi")
    line.text(AMINA, "1")
    line.text(AMINA, "4")
    for pin in ("9991", "9992", "9993", "9994", "9995"):
        line.text(AMINA, pin)
    assert store.patients.by_short_id("4376").locked_until, "the set-up must really lock the profile"
    return AMINA


def mid_triage(line, store):
    _amina(store, "pin=1111", "consent")
    line.text(AMINA, "NURSE")
    line.text(AMINA, "1")
    return AMINA


def choosing_on_a_shared_phone(line, store):
    _amina(store, "pin=1111", "consent")
    ScriptRunner.add_patient(store, ["5970", "Halima Zawadi", AMINA, "pin=2222", "consent"])
    line.text(AMINA, "hi")
    return AMINA


def at_the_pin_prompt(line, store):
    _amina(store, "pin=1111", "consent")
    line.text(AMINA, "REFILL")
    return AMINA


def stranger_joining(line, store):
    line.text(STRANGER, "hi")
    line.text(STRANGER, "YES")
    return STRANGER


def stranger_first_text(line, store):
    return STRANGER


STATES = [opted_out, enrolled_not_consented, declined_consent, muted_by_loop_guard, locked_out_by_pins, mid_triage,
          choosing_on_a_shared_phone, at_the_pin_prompt, stranger_joining, stranger_first_text]
MAY_TEXT_BACK = {s.__name__ for s in STATES} - {"opted_out"}


@pytest.mark.parametrize("state", STATES, ids=[s.__name__ for s in STATES])
def test_an_urgent_reading_reaches_the_clinician(state, twilio, clock, store):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
    line = Line(twilio, clock, store)
    sender = state(line, store)
    alerts_before = len(store.alerts.list())
    before = {m.id for m in store.outbox.list()}

    replies = line.text(sender, URGENT)

    to_clinician = [m.body for m in store.outbox.list() if m.id not in before and m.phone == CLINICIAN]
    assert any(m.startswith("URGENT A") and "BP 190/125" in m for m in to_clinician), to_clinician
    assert len(store.alerts.list()) == alerts_before + 1
    advice = [r for r in replies if "DANGER" in r and "health facility now" in r]
    if state.__name__ in MAY_TEXT_BACK:
        assert advice, replies
    else:
        assert replies == []
        assert "CALL" in to_clinician[0] and sender in to_clinician[0]


def test_an_urgent_reading_kept_for_later_alerts_once(twilio, clock, store):
    """Sent before consent: alerted at once, saved after set-up without a second alert."""
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        _amina(store, "pin=1111")
    line = Line(twilio, clock, store)
    line.text(AMINA, URGENT)
    assert len(store.alerts.list()) == 1
    replies = line.text(AMINA, "YES")
    assert any("BP 190/125 is DANGER" in r for r in replies), replies
    patient = store.patients.by_short_id("4376")
    assert [r.measured for r in store.readings.for_patient(patient.id)] == [{"systolic": 190, "diastolic": 125}]
    assert len(store.alerts.list()) == 1
