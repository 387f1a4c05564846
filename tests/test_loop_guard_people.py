"""The loop guard stops robots, not people: a daily habit is never muted, a burst of
queued texts keeps every reading in it, and a picture gets a short answer."""

from __future__ import annotations

from datetime import timedelta

from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.phone_line import Line
from tests.helpers.twilio_client import CLINIC_NUMBER, new_sid

AMINA = "+254712345678"
CLINICIAN = "+254700100101"


def _amina(store):
    ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent"])
    return store.patients.by_short_id("4376").id


def test_the_same_reading_every_morning_is_never_muted(twilio, clock, store):
    patient_id = _amina(store)
    line = Line(twilio, clock, store)
    for day in range(8):
        replies = line.text(AMINA, "BP 128/82")
        assert replies and replies[0].startswith("Amina Z.: saved BP 128/82"), (day, replies)
        clock.now += timedelta(days=1)
    assert len(store.readings.for_patient(patient_id)) == 8


def test_a_burst_of_queued_texts_keeps_every_reading(twilio, clock, store):
    """A phone back in coverage delivers a day's texts within seconds: the loop guard
    holds back our replies, but every reading is stored and the urgent one alerts."""
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        patient_id = _amina(store)
    texts = [f"BP {120 + i}/80" for i in range(14)] + ["BP 195/125"]
    replies = []
    for body in texts:
        replies.append(twilio.sms(AMINA, body).messages)
        clock.now += timedelta(seconds=1)
    stored = {(r.measured["systolic"], r.measured["diastolic"]) for r in store.readings.for_patient(patient_id)}
    assert stored == {(120 + i, 80) for i in range(14)} | {(195, 125)}
    assert any("wait" in r for reply in replies for r in reply), "the sender is told to slow down once"
    assert replies[-1] and "DANGER" in replies[-1][0], "advice to get care is never held back"
    assert any(m.phone == CLINICIAN and "BP 195/125" in m.body for m in store.outbox.list())


def test_a_stuck_phone_repeating_one_text_is_still_muted(twilio, clock, store):
    _amina(store)
    replies = []
    for _ in range(8):
        replies.append(twilio.sms(AMINA, "hello").messages)
        clock.now += timedelta(seconds=20)
    assert replies[-1] == [], "a robot resending one text gets silence in the end"


def test_a_picture_gets_a_short_answer_not_the_menu(twilio, store):
    _amina(store)
    reply = twilio.post("/sms", {"MessageSid": new_sid("MM"), "AccountSid": "AC" + "1" * 32, "From": AMINA,
                                 "To": CLINIC_NUMBER, "Body": "", "NumMedia": "1",
                                 "MediaUrl0": "https://api.twilio.com/x.jpg", "MediaContentType0": "image/jpeg"})
    assert reply.messages == [
        "Pictures and voice notes cannot be read here. Please send words or numbers, like BP 140/90. "
        "Reply MENU for options."
    ]


def test_a_muted_number_still_answers_the_danger_sign_question(twilio, clock, store):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        _amina(store)
    for body in ("NURSE", "1", "2"):
        twilio.sms(AMINA, body)
        clock.now += timedelta(seconds=5)
    for _ in range(8):  # a flood of HELP mutes the number mid-triage
        twilio.sms(AMINA, "help")
        clock.now += timedelta(seconds=1)
    replies = twilio.sms(AMINA, "YES").messages
    assert replies and "urgent" in replies[0].lower(), replies
    assert any(m.phone == CLINICIAN and "danger sign" in m.body for m in store.outbox.list())


def test_a_stuck_phone_resending_a_dangerous_reading_alerts_once(twilio, clock, store):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        patient_id = _amina(store)
    advice = 0
    for _ in range(30):
        advice += sum("DANGER" in r for r in twilio.sms(AMINA, "BP 190/125").messages)
        clock.now += timedelta(seconds=1)
    alerts = [m for m in store.outbox.list() if m.phone == CLINICIAN and m.body.startswith("URGENT")]
    assert len(store.readings.for_patient(patient_id)) == 30, "every reading is kept"
    assert len(alerts) <= 6 and advice <= 6, (len(alerts), advice)


def test_a_robot_echoing_our_advice_gets_nothing_more(twilio, clock, store):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        _amina(store)
    echo = twilio.sms(AMINA, "BP 190/125").messages[0]
    replies = []
    for _ in range(25):
        clock.now += timedelta(seconds=2)
        replies += twilio.sms(AMINA, echo).messages
    assert not any("DANGER" in r for r in replies), replies
    assert len([m for m in store.outbox.list() if m.phone == CLINICIAN]) == 1
