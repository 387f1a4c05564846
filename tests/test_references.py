"""References are never clipped, and what is issued is what staff can type back.

A reference ("A12", "RF12", "C7") is typed back by staff to act on it; a clipped one
("RF10..") finds nothing. References are decimal, sized for ten years of a district's
traffic (2 million alerts: 7 digits), and every message that carries one is measured with
7 digits. Here the counters are seeded to 100,000, to the ten-year size and to the last
7-digit number, and every message is checked end to end through the webhook: the ref is
whole wherever it appears, and the staff reply to it (in any case, with leading zeros) works.
"""

from __future__ import annotations

import string

import pytest

from flows.catalog import LANGUAGES, PLACEHOLDERS, default_catalog
from flows.engine import Message
from flows.segments import fits_one_segment, segments, units
from flows.staff_commands import REF
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.phone_line import Line
from tests.test_catalog_segments import SENT_KEYS, nested

CATALOG = default_catalog()
CLINICIAN, PHARMACIST, CHW = "+254700100101", "+254700100102", "+254700100103"
AMINA, AMINA_ID = "+254712345678", "4376"
HALIMA, HALIMA_ID = "+254712345679", "5970"  # discreet
# The counter's value before the reference under test is issued.
SEEDS = {"100,000": 99_999, "ten years (2 million)": 1_999_999, "last of 7 digits": 9_999_998}
ALL_REFS = ["A100000", "RF100000", "C100000", "A2000000", "RF2000000", "C2000000", "A9999999", "RF9999999",
            "C9999999"]


def names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


REF_KEYS = [key for key in SENT_KEYS if "ref" in names(CATALOG.text("en", key))]


def test_the_budget_holds_seven_digits_after_the_longest_prefix():
    assert PLACEHOLDERS["ref"] == "RF1234567"
    assert len(REF_KEYS) >= 25, REF_KEYS  # the check below cannot pass vacuously


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", REF_KEYS)
def test_every_message_carrying_a_ref_shows_it_whole_in_one_sms(language, key):
    template = CATALOG.text(language, key)
    realistic = nested(language)
    for ref in ALL_REFS:
        params = {n: realistic.get(n, PLACEHOLDERS.get(n)) for n in names(template)} | {"ref": ref}
        text = CATALOG.render(language, Message(key, params))
        assert text.count(ref) == template.count("{ref}"), f"{language} {key}: {ref} cut in {text!r}"
        assert ".." not in text.replace("...", ""), text
        assert fits_one_segment(text), f"{language} {key}: {units(text)} units: {text!r}"


@pytest.mark.parametrize(("typed", "names"), [
    ("RF100000 OK", ("RF", 100_000)), ("rf100000 ok", ("rf", 100_000)), ("Rf0100000 OK", ("Rf", 100_000)),
    ("RF9999999 NO out", ("RF", 9_999_999)), ("a2000000 ok", ("a", 2_000_000)),
    ("c9999999 Drink water", ("c", 9_999_999)), ("RF000000012 OK", ("RF", 12)),
])
def test_the_parser_accepts_what_is_issued_in_any_case(typed, names):
    match = REF.match(typed)
    assert match is not None, typed
    assert (match.group(1), int(match.group(2))) == names


def test_a_clipped_or_overlong_ref_is_not_read_as_one():
    assert REF.match("RF10.. OK").group(2) == "10"  # RF10, never RF10000: it finds nothing or the wrong one
    assert REF.match("RF1234567890 OK") is None


@pytest.fixture
def clinic(store):
    with store.write():
        for role, name, phone in (("clinician", "Wanjiru Kamau", CLINICIAN), ("pharmacist", "Otieno Ouma", PHARMACIST),
                                  ("chw", "Grace Achieng", CHW)):
            store.staff.add(role=role, name=name, phone=phone)
        ScriptRunner.add_patient(store, [AMINA_ID, "Amina Zawadi", AMINA, "pin=1111", "consent", f"chw={CHW}",
                                         "born=1968", "sex=F"])
        ScriptRunner.add_patient(store, [HALIMA_ID, "Halima Zawadi", HALIMA, "pin=2222", "consent", "born=1970",
                                         "sex=F"])

        for short_id in (AMINA_ID, HALIMA_ID):
            store.medications.add(store.patients.by_short_id(short_id).id, name="Metformin", dose="500mg", quantity=60)
        store.patients.update(store.patients.by_short_id(HALIMA_ID).id, discreet=1)
    return store


@pytest.fixture
def line(clinic, twilio, clock):
    return Line(twilio, clock, clinic)


def seed(store, value: int) -> None:
    with store.write():
        for name in ("alert", "refill", "consult"):
            store.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                          "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (name, value))


def bodies(messages, phone: str) -> list[str]:
    return [m.body for m in messages if m.phone == phone]


@pytest.mark.parametrize("value", SEEDS.values(), ids=SEEDS.keys())
def test_alert_refs_are_whole_and_answered_end_to_end(line, clinic, value):
    seed(clinic, value)
    ref = f"A{value + 1}"
    (alert,) = bodies(line.queued(AMINA, "BP 190/125"), CLINICIAN)
    assert alert.startswith(f"URGENT {ref}: Amina Z. (4376) BP 190/125 at ")
    assert alert.endswith(f"Reply {ref} OK when handled.")
    assert segments(alert) == 1
    assert line.text(CLINICIAN, f"{ref.lower()} ok") == [f"{ref} marked as handled. Thank you."]
    assert clinic.alerts.by_ref(ref).status == "acknowledged"
    assert line.text(CLINICIAN, f"{ref} OK") == [f"{ref} was already answered or closed."]
    # An alert raised for an unknown number, and a CHW's relay, carry it whole too.
    (unknown,) = bodies(line.queued("+254733999001", "BP 200/130"), CLINICIAN)
    assert unknown.startswith(f"URGENT A{value + 2}: BP 200/130 at ") and unknown.endswith(f"A{value + 2} OK when done")
    (relayed,) = bodies(line.queued(CHW, f"BP {AMINA_ID} 195/125"), CLINICIAN)
    assert relayed.startswith(f"URGENT A{value + 3}: Amina Z. (4376) BP 195/125 at ")
    # UNDO of the relay tells the clinician, by the same whole ref.
    (undone,) = bodies(line.queued(CHW, "UNDO"), CLINICIAN)
    assert undone.startswith(f"A{value + 3}: the sender removed the reading with UNDO")


@pytest.mark.parametrize("value", SEEDS.values(), ids=SEEDS.keys())
def test_refill_refs_are_whole_and_answered_end_to_end(line, clinic, value):
    seed(clinic, value)
    ref = f"RF{value + 1}"
    line.text(AMINA, "REFILL")
    line.text(AMINA, "1111")
    line.text(AMINA, "1")
    assert line.text(AMINA, "YES") == [f"Refill {ref} for Metformin 500mg x60 is sent to the pharmacy. "
                                       "We will text you when it is ready."]
    assert line.to(PHARMACIST) == [f"{ref} Amina Z. (4376) Metformin 500mg x60. Reply {ref} OK or {ref} NO <why>"]
    # Typed back as a pharmacist types on a keypad: lower case, and once with a leading zero.
    assert line.text(PHARMACIST, f"{ref.lower()} ok window 2") == [f"{ref}: your answer is on its way to patient 4376."]
    assert line.to(AMINA) == [f"Your refill {ref} (Metformin 500mg x60) is ready. Collect it at: window 2"]
    assert clinic.refills.by_ref(ref).status == "ready"
    assert line.text(PHARMACIST, f"RF0{value + 1} NO late") == [f"{ref} was already answered or closed."]

    # A discreet patient: the neutral SMS, and what waits behind the PIN, both whole.
    discreet = f"RF{value + 2}"
    line.text(HALIMA, "REFILL")
    line.text(HALIMA, "2222")
    line.text(HALIMA, "1")
    assert line.text(HALIMA, "YES") == [f"Request {discreet} is sent. We will text you when it is ready."]
    assert line.text(PHARMACIST, f"{discreet} NO out of stock until Friday") == [
        f"{discreet}: your answer is on its way to patient 5970."]
    assert line.to(HALIMA) == [f"News on your request {discreet}. Reply INBOX, then your PIN, to read it."]
    held = line.text(HALIMA, "INBOX")
    if "PIN" in held[0]:
        held = line.text(HALIMA, "2222")
    assert held == [
        f"Sorry, refill {discreet} (Metformin 500mg x60) cannot be given: out of stock until Friday. "
        "Reply NURSE for help."]


@pytest.mark.parametrize("value", SEEDS.values(), ids=SEEDS.keys())
def test_consult_refs_are_whole_and_answered_end_to_end(line, clinic, value):
    seed(clinic, value)
    ref = f"C{value + 1}"
    queued = line.queued(AMINA, "NURSE", "1", "3", "NO", "Hot body and headache")
    assert bodies(queued, CLINICIAN) == [
        f"{ref} Amina Z. (4376) F 58y: Fever, 3 days, no danger signs. Reply {ref} <advice> or {ref} CLOSE",
        f"{ref} patient's words: Hot body and headache",
    ]
    assert line.text(CLINICIAN, f"{ref.lower()} Drink plenty of water.") == [
        f"{ref}: your advice is on its way to patient 4376."]
    assert line.to(AMINA) == [f"Nurse ({ref}): Drink plenty of water."]
    assert line.text(AMINA, f"{ref} thank you") == [f"Thank you. Your message on {ref} was passed on."]
    assert line.to(CLINICIAN)[-1] == f"{ref} from 4376: thank you"
    assert line.text(CLINICIAN, f"{ref} close") == [f"{ref} closed."]
    assert clinic.consults.by_ref(ref).status == "closed"


def test_an_unknown_long_ref_is_named_whole(line):
    assert line.text(CLINICIAN, "A9999999 OK") == ["There is no A9999999. Check the reference and send again."]
    assert line.text(PHARMACIST, "rf2000000 ok") == ["There is no RF2000000. Check the reference and send again."]
