"""Issue 4, acceptance 2: what a reading costs in SMS. A CHW's compact reading is one SMS
in and one out; a patient's reading by menu takes at most three round trips, each reply
one segment. Also what a submission is (several readings, one UNDO), repeats within ten
minutes, who submitted each reading, and that the care tables hold no plaintext."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flows.segments import segments
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.phone_line import Line

CLINICIAN = "+254700100101"
PHARMACIST = "+254700100102"
GRACE = "+254700100103"  # CHW
AMINA, AMINA_ID = "+254712345678", "4376"
BARAKA, BARAKA_ID = "+254733400401", "1045"


@pytest.fixture
def clinic(store):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        store.staff.add(role="pharmacist", name="Otieno Ouma", phone=PHARMACIST)
        store.staff.add(role="chw", name="Grace Achieng", phone=GRACE)
        ScriptRunner.add_patient(store, [AMINA_ID, "Amina Zawadi", AMINA, "pin=1111", "consent", f"chw={GRACE}"])
        ScriptRunner.add_patient(store, [BARAKA_ID, "Baraka Otieno", BARAKA, f"chw={GRACE}", "born=1957", "sex=M"])
    return store


@pytest.fixture
def line(clinic, twilio, clock):
    return Line(twilio, clock)


def readings_of(store, short_id: str):
    return store.readings.for_patient(store.patients.by_short_id(short_id).id)


# -- a CHW's compact reading: one SMS in, one SMS out ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "count", "expected"),
    [
        (f"BP {BARAKA_ID} 150/95", 1,
         f"{BARAKA_ID} Baraka O.: saved BP 150/95: HIGH (aim <140/90). Reply UNDO if wrong."),
        (f"{BARAKA_ID} BP 150/95 GLU 6.1", 2,
         f"{BARAKA_ID} Baraka O.: saved BP 150/95: HIGH (aim <140/90). GLU 6.1: OK. Reply UNDO if wrong."),
        (f"{BARAKA_ID} bp128/84", 1, f"{BARAKA_ID} Baraka O.: saved BP 128/84: OK. Reply UNDO if wrong."),
    ],
    ids=["bp", "bp-and-glucose", "glued"],
)
def test_a_chws_compact_reading_costs_one_sms_in_and_one_out(line, clinic, body, count, expected):
    assert segments(body) == 1  # one in
    reply = line.send(GRACE, body)
    assert [m.tag for m in reply.xml] == ["Message"]  # one TwiML Message: one out
    assert reply.messages == [expected]
    assert segments(reply.messages[0]) == 1
    assert clinic.outbox.list() == []  # and nothing else sent when it is not urgent
    assert len(readings_of(clinic, BARAKA_ID)) == count


def test_an_urgent_relay_still_answers_the_chw_in_one_sms(line, clinic):
    reply = line.send(GRACE, f"BP {BARAKA_ID} 190/120")
    assert len(reply.messages) == 1
    assert segments(reply.messages[0]) == 1
    # The only other SMS is the alert to the clinician.
    assert [m.phone for m in clinic.outbox.list()] == [CLINICIAN]


def test_a_patients_compact_reading_is_one_reply_of_one_segment(line, clinic):
    (reply,) = line.text(AMINA, "BP 150/95")
    assert segments(reply) == 1
    assert clinic.outbox.list() == []


# -- a patient's reading by menu: at most three round trips ----------------------------------------


@pytest.mark.parametrize(
    ("choice", "value", "echo"),
    [
        ("1", "135/85", "BP 135/85"),
        ("2", "6.1", "GLU 6.1"),
        ("3", "64.5", "WT 64.5"),
        ("4", "37.2", "T 37.2"),
        ("5", "97", "SPO2 97"),
        ("6", "72", "P 72"),
    ],
    ids=["bp", "glucose", "weight", "temperature", "spo2", "pulse"],
)
def test_a_menu_reading_takes_at_most_three_round_trips_of_one_segment(line, clinic, choice, value, echo):
    assert line.text(AMINA, "menu")[0].startswith("Menu: 1 Send a reading")
    trips, replies = 0, []
    for body in ("1", choice, value):  # "1" at the menu: send a reading
        trips += 1
        replies = line.text(AMINA, body)
        assert len(replies) == 1, replies
        assert segments(replies[0]) == 1, replies[0]
        if replies[0].startswith("Amina Z.: saved "):
            break
    assert trips <= 3
    assert replies[0].startswith(f"Amina Z.: saved {echo}"), replies
    assert len(readings_of(clinic, AMINA_ID)) == 1


# -- several readings in one text: one submission --------------------------------------------------


def test_several_readings_in_one_text_are_one_submission_that_undo_removes_together(line, clinic):
    line.text(AMINA, "WT 64.5")
    earlier = readings_of(clinic, AMINA_ID)
    replies = line.text(AMINA, "BP 150/95 GLU 6.1 T 37.2")
    assert replies[0].startswith("Amina Z.: saved BP 150/95")
    assert all(segments(r) == 1 for r in replies)

    latest = [r for r in readings_of(clinic, AMINA_ID) if r not in earlier]
    assert sorted(r.kind for r in latest) == ["bp", "glucose", "temperature"]
    assert len({r.submission_id for r in latest}) == 1
    assert latest[0].submission_id != earlier[0].submission_id

    assert line.text(AMINA, "UNDO") == [
        "Amina Z.: removed BP 150/95 GLU 6.1 T 37.2. Send the right values when you can."]
    assert readings_of(clinic, AMINA_ID) == earlier  # all three gone, the weight before them kept
    assert "readings.undo" in [e.action for e in clinic.audit.entries()]


def test_a_chw_undo_removes_the_whole_relayed_submission(line, clinic):
    line.text(GRACE, f"{BARAKA_ID} BP 150/95 GLU 6.1")
    assert len(readings_of(clinic, BARAKA_ID)) == 2
    assert line.text(GRACE, "UNDO") == [f"Removed BP 150/95 GLU 6.1 for {BARAKA_ID}."]
    assert readings_of(clinic, BARAKA_ID) == []


# -- the same reading twice within ten minutes -------------------------------------------------------


def test_the_same_reading_twice_within_ten_minutes_is_stored_once(line, clinic, clock):
    assert line.text(AMINA, "BP 150/95") == ["Amina Z.: saved BP 150/95: HIGH (aim <140/90). Reply UNDO if wrong."]
    clock.now += timedelta(minutes=9)
    assert line.text(AMINA, "BP 150/95") == ["Amina Z.: already saved at 11:00: BP 150/95. Nothing more to do."]
    assert len(readings_of(clinic, AMINA_ID)) == 1

    clock.now += timedelta(minutes=2)  # now more than 10 minutes after the first
    assert line.text(AMINA, "BP 150/95") == ["Amina Z.: saved BP 150/95: HIGH (aim <140/90). Reply UNDO if wrong."]
    assert len(readings_of(clinic, AMINA_ID)) == 2


def test_a_repeat_still_says_what_was_not_understood(line, clinic):
    line.text(AMINA, "BP 150/95")
    replies = line.text(AMINA, "BP 150/95 hello")
    assert replies[0] == "Amina Z.: already saved at 11:00: BP 150/95. Nothing more to do."
    assert any("Not understood: hello" in r for r in replies), replies


def test_a_repeat_among_new_readings_stores_only_the_new_ones(line, clinic):
    line.text(AMINA, "BP 150/95")
    # The repeat is listed with the new reading, so the sender knows it was not lost.
    assert line.text(AMINA, "BP 150/95 GLU 6.1") == [
        "Amina Z.: saved GLU 6.1: OK. BP 150/95: already saved. Reply UNDO if wrong."]
    assert sorted(r.kind for r in readings_of(clinic, AMINA_ID)) == ["bp", "glucose"]


def test_a_chw_relaying_what_the_patient_just_sent_stores_it_once(line, clinic):
    line.text(BARAKA, "BP 150/95")
    line.text(GRACE, f"BP {BARAKA_ID} 150/95")
    assert len(readings_of(clinic, BARAKA_ID)) == 1


def test_a_webhook_retried_by_twilio_is_answered_alike_and_stored_once(line, clinic):
    first = line.twilio.sms(AMINA, "BP 150/95", sid="SM" + "d" * 32)
    again = line.twilio.sms(AMINA, "BP 150/95", sid="SM" + "d" * 32)
    assert again.messages == first.messages
    assert len(readings_of(clinic, AMINA_ID)) == 1


# -- who submitted each reading ------------------------------------------------------------------------


def test_every_reading_records_who_submitted_it(line, clinic):
    grace = clinic.staff.by_phone(GRACE)
    line.text(GRACE, f"{AMINA_ID} BP 150/95 GLU 6.1")
    line.text(AMINA, "T 37.2")
    line.text(AMINA, "menu")
    line.text(AMINA, "1")
    line.text(AMINA, "6")
    line.text(AMINA, "72")
    by_kind = {r.kind: r.submitted_by for r in readings_of(clinic, AMINA_ID)}
    assert by_kind == {
        "bp": f"staff:{grace.id}",
        "glucose": f"staff:{grace.id}",
        "temperature": f"patient:{AMINA_ID}",
        "pulse": f"patient:{AMINA_ID}",
    }
    relay = [e for e in clinic.audit.entries() if e.action == "readings.relay"]
    assert [(e.actor, e.subject) for e in relay] == [(f"staff:{grace.id}", f"patient:{AMINA_ID}")]


# -- no plaintext in the care tables or the files ---------------------------------------------------

ADVICE = "Drink plenty of water and rest today"
WORDS = "Hot at night and my head hurts"
SECRETS = [b"150/95", b"191/123", b"Metformin", b"500mg", ADVICE.encode(), b"window 7", WORDS.encode(), b"systolic",
           b"urgent_high", b"mmol_l", b"fever", b"\"problem\""]


def database_files(db: Path) -> list[Path]:
    return [p for p in (db, db.with_name(db.name + "-wal")) if p.exists()]


def test_care_records_hold_no_plaintext_in_their_columns_or_the_files(line, clinic, installation):
    with clinic.write():
        clinic.medications.add(clinic.patients.by_short_id(AMINA_ID).id, name="Metformin", dose="500mg", quantity=60)
    line.text(AMINA, "BP 150/95 GLU 6.1")

    line.text(GRACE, f"BP {BARAKA_ID} 191/123")
    for body in ("REFILL", "1111", "1", "YES"):
        line.text(AMINA, body)
    line.text(PHARMACIST, "RF1 OK window 7")
    for body in ("NURSE", "1", "3", "NO", WORDS):
        line.text(AMINA, body)
    line.text(CLINICIAN, f"C1 {ADVICE}")
    assert clinic.alerts.list() and clinic.refills.list() and clinic.consults.list()
    assert clinic.refills.by_ref("RF1").answer == "window 7"  # it is there, sealed

    for table in ("readings", "alerts", "refills", "consults", "held_messages"):
        for row in clinic.execute(f"SELECT * FROM {table}").fetchall():  # noqa: S608
            for value in row:
                raw = value if isinstance(value, bytes) else str(value).encode()
                leaked = [s for s in SECRETS if s.lower() in raw.lower()]
                assert not leaked, (table, leaked)

    files = database_files(installation.db)
    assert any(p.name.endswith("-wal") for p in files)  # recent writes are still in the WAL
    for path in files:
        data = path.read_bytes().lower()
        leaked = [s for s in SECRETS if s.lower() in data]
        assert not leaked, (path.name, leaked)
