"""Discreet mode set by the clinic (`lowband patients set ID --discreet`): no SMS to the
patient names a medicine or carries the nurse's advice; those wait behind the PIN (INBOX).
And a patient without a phone, registered by their CHW, is reached through the CHW."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from flows.segments import segments
from flows.staff_commands import ADVICE_MAX
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.phone_line import Line as PhoneLine

CLINICIAN = "+254700100101"
PHARMACIST = "+254700100102"
GRACE = "+254700100103"  # CHW
AMINA, AMINA_ID = "+254712345678", "4376"
ADVICE = "Take paracetamol 1g up to 4 times a day and drink plenty of water."
NEUTRAL_ADVICE = "The nurse answered your question {ref}. Reply INBOX, then your PIN, to read it."
DESCRIBE = "In a few words, what is wrong? The nurse will read it. Up to 130 letters."


@pytest.fixture
def clinic(store):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        store.staff.add(role="pharmacist", name="Otieno Ouma", phone=PHARMACIST)
        store.staff.add(role="chw", name="Grace Achieng", phone=GRACE)
        ScriptRunner.add_patient(store, [AMINA_ID, "Amina Zawadi", AMINA, "pin=1111", "consent", f"chw={GRACE}"])
        store.medications.add(store.patients.by_short_id(AMINA_ID).id, name="Metformin", dose="500mg", quantity=60)
    return store


class Line(PhoneLine):
    def new_session(self) -> None:
        """Long enough for the PIN to be asked again."""
        self.clock.now += timedelta(minutes=31)

    def with_pin(self, body: str) -> list[str]:
        replies = self.text(AMINA, body)
        if replies and "send your 4-digit PIN" in replies[0]:
            replies = self.text(AMINA, "1111")
        return replies

    def refill(self) -> list[str]:
        self.new_session()
        assert self.with_pin("REFILL")[0].startswith("Which medicine?")
        self.text(AMINA, "1")
        return self.text(AMINA, "YES")

    def consult(self) -> list[str]:
        self.new_session()
        for body in ("NURSE", "1", "3"):
            self.text(AMINA, body)
        assert self.text(AMINA, "NO") == [DESCRIBE]
        return self.text(AMINA, "Hot at night and my head hurts")


@pytest.fixture
def line(clinic, twilio, clock):
    return Line(twilio, clock, clinic)


def set_discreet(run_cli, flag: str = "--discreet"):
    result = run_cli("patients", "set", AMINA_ID, flag)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Updated patient {AMINA_ID}: discreet."


# -- set by the clinic --------------------------------------------------------------------------------


def test_patients_set_discreet_is_stored_and_audited(clinic, run_cli):
    set_discreet(run_cli)
    assert clinic.patients.by_short_id(AMINA_ID).discreet is True
    entry = [e for e in clinic.audit.entries() if e.action == "patient.update"][-1]
    assert (entry.actor, entry.subject, entry.detail) == ("cli", f"patient:{AMINA_ID}", "discreet")
    set_discreet(run_cli, "--no-discreet")
    assert clinic.patients.by_short_id(AMINA_ID).discreet is False


def test_patients_set_for_an_unknown_patient_is_one_clear_line(clinic, run_cli, cli_error):
    cli_error(run_cli("patients", "set", "1045", "--discreet"), "1045")


def test_a_discreet_patient_is_never_told_the_medicine_by_sms(line, run_cli):
    set_discreet(run_cli)
    assert line.refill() == ["Request RF1 is sent. We will text you when it is ready."]
    # The pharmacist, who is staff, still sees what to prepare.
    assert line.to(PHARMACIST) == ["RF1 Amina Z. (4376) Metformin 500mg x60. Reply RF1 OK or RF1 NO <why>"]
    assert line.text(PHARMACIST, "RF1 OK window 2") == ["RF1: your answer is on its way to patient 4376."]

    line.refill()
    assert line.text(PHARMACIST, "RF2 NO out of stock until Friday") == [
        "RF2: your answer is on its way to patient 4376."
    ]

    assert line.to(AMINA) == [
        "Your request RF1 is ready. Collect it at: window 2",
        "News on your request RF2. Reply INBOX, then your PIN, to read it.",
    ]
    assert not any(re.search("metformin|500mg", body, re.IGNORECASE) for body in line.to(AMINA))


def test_a_discreet_patient_gets_the_neutral_note_and_reads_the_advice_with_inbox_and_pin(line, run_cli):
    set_discreet(run_cli)
    assert line.consult() == ["Thank you. Your question C1 is with the nurse. You will get their answer by SMS."]
    assert line.text(CLINICIAN, f"C1 {ADVICE}") == ["C1: your advice is on its way to patient 4376."]
    assert line.to(AMINA) == [NEUTRAL_ADVICE.format(ref="C1")]
    assert not any("paracetamol" in body for body in line.to(AMINA))

    line.new_session()
    assert line.text(AMINA, "INBOX") == ["Amina Z., please send your 4-digit PIN to continue."]
    assert line.text(AMINA, "1111") == [f"Nurse (C1): {ADVICE}"]
    # Read once: the inbox is empty afterwards.
    assert line.text(AMINA, "INBOX") == ["No new messages. Reply MENU for options."]


def test_inbox_with_a_wrong_pin_shows_nothing(line, run_cli):
    set_discreet(run_cli)
    line.consult()
    line.text(CLINICIAN, f"C1 {ADVICE}")
    line.new_session()
    line.text(AMINA, "INBOX")
    replies = line.text(AMINA, "9999")
    assert not any("paracetamol" in r for r in replies), replies
    # The advice is still waiting for the right PIN.
    assert line.text(AMINA, "1111") == [f"Nurse (C1): {ADVICE}"]


def test_inbox_holds_the_refill_answers_too(line, run_cli):
    set_discreet(run_cli)
    line.refill()
    line.text(PHARMACIST, "RF1 NO out of stock until Friday")
    line.new_session()
    assert line.with_pin("INBOX") == [
        "Sorry, refill RF1 (Metformin 500mg x60) cannot be given: out of stock until Friday. Reply NURSE for help."
    ]


def test_a_discreet_patients_own_reading_reply_names_no_condition(line, run_cli):
    set_discreet(run_cli)
    assert line.text(AMINA, "BP 150/95") == ["Amina Z.: thank you, your reading is saved. Reply UNDO if it was wrong."]


def test_a_discreet_patients_repeated_reading_is_not_echoed(line, run_cli):
    set_discreet(run_cli)
    line.text(AMINA, "BP 150/95")
    (reply,) = line.text(AMINA, "BP 150/95")
    assert "150/95" not in reply and "BP" not in reply, reply
    assert reply == "Amina Z.: already saved, nothing more to do. Reply UNDO if it was wrong."


def test_no_discreet_turns_it_off(line, run_cli):
    set_discreet(run_cli)
    set_discreet(run_cli, "--no-discreet")
    assert line.refill() == [
        "Refill RF1 for Metformin 500mg x60 is sent to the pharmacy. We will text you when it is ready."
    ]
    line.text(PHARMACIST, "RF1 OK window 2")
    line.consult()
    line.text(CLINICIAN, f"C1 {ADVICE}")
    assert line.to(AMINA) == [
        "Your refill RF1 (Metformin 500mg x60) is ready. Collect it at: window 2",
        f"Nurse (C1): {ADVICE}",
    ]
    line.new_session()
    assert line.with_pin("INBOX") == ["No new messages. Reply MENU for options."]


# -- a patient without a phone: their CHW carries the message ---------------------------------------


def led_by_id(short_id: str, text: str) -> set[str]:
    """The relayed forms of `text`, led by the patient's ID so the CHW knows whom it is
    for: "For 1042: ..." (the issue's wording) or the shorter "1042: ..."."""
    return {f"For {short_id}: {text}", f"{short_id}: {text}"}


@pytest.fixture
def phoneless(line, clinic, run_cli):
    """Mama Neema, registered by her CHW by SMS without a phone, with a medicine."""
    (reply,) = line.text(GRACE, "REG Mama Neema F 1949")
    short_id = re.fullmatch(r"Registered Mama N\. as (\d{4,})\. Give them this ID\.", reply).group(1)
    patient = clinic.patients.by_short_id(short_id)
    assert patient.phone is None
    assert patient.chw_id == clinic.staff.by_phone(GRACE).id
    added = run_cli("meds", "add", short_id, "--name", "Metformin", "--dose", "500mg", "--quantity", "60")
    assert added.exit_code == 0, added.output
    return patient


def test_a_refill_answer_for_a_patient_without_a_phone_goes_to_their_chw(line, clinic, phoneless):
    # No phone to text REFILL from: the clinic records the request for her.
    (medicine,) = clinic.medications.for_patient(phoneless.id)
    with clinic.write():
        ref = clinic.next_ref("refill", "RF")
        clinic.refills.request(ref=ref, patient_id=phoneless.id, medication_id=medicine.id)
    assert line.text(PHARMACIST, f"{ref} OK") == [f"{ref}: your answer is on its way to patient {phoneless.short_id}."]
    (relayed,) = line.to(GRACE)
    assert relayed in led_by_id(
        phoneless.short_id, f"Your refill {ref} (Metformin 500mg x60) is ready. Collect it at: Lowband Clinic"
    )
    assert segments(relayed) == 1


def test_advice_for_a_patient_without_a_phone_goes_to_their_chw_in_one_sms(line, clinic, phoneless):
    with clinic.write():
        ref = clinic.next_ref("consult", "C")
        clinic.consults.open_consult(ref=ref, patient_id=phoneless.id, summary={"problem": "fever", "days": 2})
    # The longest advice a clinician may send, with the CHW relay's prefix on top.
    longest = ("Give paracetamol 500mg every 6 hours and plenty of fluids; bring her to the clinic if the fever "
               "lasts past Friday or she cannot drink.")[:ADVICE_MAX]
    assert len(longest) == ADVICE_MAX
    assert line.text(CLINICIAN, f"{ref} {longest}") == [
        f"{ref}: your advice is on its way to patient {phoneless.short_id}."
    ]
    (relayed,) = line.to(GRACE)
    assert relayed in led_by_id(phoneless.short_id, f"Nurse ({ref}): {longest}")
    assert segments(relayed) == 1


def test_a_message_relayed_through_the_chw_is_the_only_one_queued(line, clinic, phoneless):
    with clinic.write():
        ref = clinic.next_ref("consult", "C")
        clinic.consults.open_consult(ref=ref, patient_id=phoneless.id, summary={"problem": "cough", "days": 1})
    line.text(CLINICIAN, f"{ref} {ADVICE}")
    assert [(m.phone, m.purpose) for m in clinic.outbox.list()] == [(GRACE, "consult")]


def test_a_patients_reply_to_a_consult_is_kept_in_its_thread(twilio, clock, store):
    from tests.helpers.conversation_script import ScriptRunner

    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone="+254700100101")
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", "+254712345678", "pin=1111", "consent"])
    for body in ("NURSE", "1", "3", "no", "Hot body since Sunday"):
        twilio.sms("+254712345678", body)
    twilio.sms("+254700100101", "C1 Drink water and rest")
    assert twilio.sms("+254712345678", "C1 thank you, better today").messages == [
        "Thank you. Your message on C1 was passed on."]
    consult = store.consults.by_ref("C1")
    assert [r["words"] for r in consult.summary["replies"]] == ["thank you, better today"]
    assert consult.summary["words"] == "Hot body since Sunday"
