"""Issue 3, acceptances 1 and 9, looked at from the database: what a registration over
the webhook stores (consent time and version, a slow PIN hash, encrypted name, language,
time zone), and that two patients sharing a phone each reach only their own medicines,
behind their own PIN.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from flows.catalog import default_catalog
from flows.engine import Message
from flows.patient_flows import menu_message
from flows.segments import fits_one_segment, segments
from storage.pins import verify_pin
from storage.store import iso
from tests.helpers.conversation_script import ScriptRunner

CATALOG = default_catalog()
NEW_NUMBER = "+254733400401"
FAMILY_NUMBER = "+254712345678"
THINKING = timedelta(minutes=1)  # between texts, so each exchange has its own time


def catalog_text(language: str, key: str, **params: str) -> str:
    return CATALOG.render(language, Message(key, {"clinic": "Lowband Clinic", "emergency": "112", **params}))


def join_done(language: str, name: str) -> re.Pattern:
    pattern = re.escape(catalog_text(language, "join.done", name=name, patient_id="XIDX"))
    return re.compile(pattern.replace("XIDX", r"(\d{4,10})"))


class Conversation:
    """Texts from one phone through the signed webhook; remembers every exchange."""

    def __init__(self, twilio, clock, phone: str):
        self.twilio, self.clock, self.phone = twilio, clock, phone
        self.exchanges: list[tuple[str, str, list[str]]] = []  # (time sent, text, replies)

    def send(self, body: str) -> list[str]:
        sent_at = iso(self.clock())
        reply = self.twilio.sms(self.phone, body)
        assert reply.status == 200 and reply.content_type == "text/xml", reply.raw
        self.exchanges.append((sent_at, body, reply.messages))
        self.clock.now += THINKING
        return reply.messages

    @property
    def replies(self) -> list[str]:
        return [text for _, _, replies in self.exchanges for text in replies]


def register(conversation: Conversation, answers: list[str], language: str, short_name: str) -> str:
    """Send `answers` until the welcome with an ID arrives; return the ID."""
    done = join_done(language, short_name)
    for answer in answers:
        replies = conversation.send(answer)
        assert len(replies) == 1, (answer, replies)
        match = done.fullmatch(replies[0])
        if match:
            return match.group(1)
    pytest.fail(f"not registered after {len(answers)} texts: {conversation.replies}")


# -- acceptance 1: a new number joins ---------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "zone"), [(NEW_NUMBER, "Africa/Nairobi"), ("+256772123456", "Africa/Kampala")], ids=["KE", "UG"]
)
def test_registration_stores_consent_pin_hash_language_and_time_zone(twilio, store, clock, installation, phone, zone):
    chat = Conversation(twilio, clock, phone)
    # Kiswahili is chosen at the welcome (SW), and the consent given in it (NDIO).
    short_id = register(chat, ["hi", "SW", "NDIO", "Wanjiku Njeri", "1990", "5831", "5831"], "sw", "Wanjiku N.")

    assert len(chat.exchanges) <= 7, [text for _, text, _ in chat.exchanges]
    for text in chat.replies:
        assert fits_one_segment(text), f"{segments(text)} SMS: {text!r}"

    [patient] = store.patients.with_phone(phone)
    assert patient.short_id == short_id
    assert (patient.name, patient.birth_year, patient.language, patient.time_zone) == (
        "Wanjiku Njeri", 1990, "sw", zone
    )
    # Consent: given with NDIO (the 3rd text), stored by the time the PIN was confirmed
    # (the 7th), on the clock the app was given, with the version of the text agreed to.
    said_yes_at, pin_confirmed_at = chat.exchanges[2][0], chat.exchanges[6][0]
    assert patient.consent_at is not None
    assert said_yes_at <= patient.consent_at <= pin_confirmed_at
    assert patient.consent_version == "consent-v1"
    assert patient.consent_declined_at is None
    # The PIN: a slow salted hash, never the PIN itself.
    assert patient.pin_hash.startswith("scrypt$")
    assert "5831" not in patient.pin_hash
    assert verify_pin(store.keys.pin_key, "5831", patient.pin_hash)
    assert not verify_pin(store.keys.pin_key, "5381", patient.pin_hash)
    assert patient.pin_failures == 0 and patient.locked_until is None
    assert [e.action for e in store.audit.entries()].count("patient.register") == 1

    # The name and number are nowhere in the database files in the clear.
    files = sorted(installation.db.parent.glob(installation.db.name + "*"))
    assert any(f.name.endswith("-wal") for f in files), files
    national = phone.removeprefix("+")[3:].encode()
    for path in files:
        data = path.read_bytes()
        for secret in (b"Wanjiku", b"Njeri", b"WANJIKU", "Wanjiku".encode("utf-16-le"), national):
            assert secret not in data, f"{secret!r} in {path.name}"


def test_the_consent_time_is_when_the_sender_said_yes(twilio, store, clock):
    chat = Conversation(twilio, clock, NEW_NUMBER)
    register(chat, ["hi", "YES", "Wanjiku Njeri", "1990", "5831", "5831", "1"], "en", "Wanjiku N.")
    [patient] = store.patients.with_phone(NEW_NUMBER)
    assert patient.consent_at == chat.exchanges[1][0]


def test_back_after_the_pin_is_confirmed_does_not_register_a_second_patient(twilio, store, clock):
    chat = Conversation(twilio, clock, NEW_NUMBER)
    for text in ["hi", "YES", "Wanjiku Njeri", "1990", "5831", "5831", "BACK", "4826", "4826", "1"]:
        chat.send(text)
    assert len(store.patients.with_phone(NEW_NUMBER)) == 1


@pytest.mark.parametrize("name", ["Алина Иванова", "محمد علي", "አበበ ቢቂላ"], ids=["cyrillic", "arabic", "geez"])
def test_a_name_in_another_script_is_asked_again_in_letters_sms_can_carry(twilio, store, clock, name):
    # Every greeting carries the name; one letter outside GSM-7 would make each of
    # those SMS cost 2-3x, so registration by SMS asks for the name in Latin letters.
    chat = Conversation(twilio, clock, NEW_NUMBER)
    for text in ["hi", "YES", name, "Alina Ivanova", "1990", "5831", "5831", "1"]:
        chat.send(text)
    assert chat.replies[2] == catalog_text("en", "join.name.hint")
    [patient] = store.patients.with_phone(NEW_NUMBER)
    assert patient.name == "Alina Ivanova"
    assert all(fits_one_segment(t) for t in chat.replies)


@pytest.mark.parametrize("name", ["Алина Иванова", "محمد علي"], ids=["cyrillic", "arabic"])
def test_a_clinic_enrolled_name_in_another_script_still_gets_one_segment_replies(twilio, store, clock, name):
    ScriptRunner.add_patient(store, ["4376", name, NEW_NUMBER])
    chat = Conversation(twilio, clock, NEW_NUMBER)
    for text in ["hi", "YES", "5831", "5831"]:
        chat.send(text)
    assert chat.replies[-1].startswith("Thank you "), chat.replies  # the greeting with the name
    assert all(fits_one_segment(t) for t in chat.replies), chat.replies


# -- acceptance 9: a family phone ---------------------------------------------------------------

AMINA_MEDICINES = ("Metformin", "Amlodipine")
HALIMA_MEDICINES = ("Ferrous-sulfate",)
WHO = catalog_text("en", "choose.who", choices="1 Amina Z. 2 Halima Z. 3 Someone new")


@pytest.fixture
def family(store):
    with store.write():
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", FAMILY_NUMBER, "pin=1111", "consent"])
        ScriptRunner.add_patient(store, ["5970", "Halima Zawadi", FAMILY_NUMBER, "pin=2222", "consent"])
        amina, halima = store.patients.by_short_id("4376"), store.patients.by_short_id("5970")
        store.medications.add(amina.id, name="Metformin", dose="500mg", quantity=60)
        store.medications.add(amina.id, name="Amlodipine", dose="5mg", quantity=30)
        store.medications.add(halima.id, name="Ferrous-sulfate", dose="200mg", quantity=30)
    return {"amina": amina.id, "halima": halima.id}


def mentions(replies: list[str], medicines: tuple[str, ...]) -> list[str]:
    return [r for r in replies if any(m.casefold() in r.casefold() for m in medicines)]


def as_member(chat: Conversation, choice: str, pin: str) -> list[str]:
    """Pick a profile, open My reminders, unlock it; returns the replies of this visit."""
    start = len(chat.replies)
    assert chat.send("hi") == [WHO]
    assert chat.send(choice) == [CATALOG.render("en", menu_message())]
    assert chat.send("4")[0].endswith("please send your 4-digit PIN to continue.")
    chat.send(pin)
    return chat.replies[start:]


def test_each_member_of_a_family_phone_sees_only_their_own_medicines(twilio, clock, family):
    chat = Conversation(twilio, clock, FAMILY_NUMBER)
    amina_visit = as_member(chat, "1", "1111")
    assert amina_visit[-1].startswith("Amina Z., no reminders are set. Your medicines: ")
    assert "Metformin 500mg x60" in amina_visit[-1] and "Amlodipine 5mg x30" in amina_visit[-1]
    # Amina's PIN opened one task, now done: the phone can change hands a minute later
    # and the next text asks who is texting (as_member checks).
    clock.now += timedelta(minutes=1)
    halima_visit = as_member(chat, "2", "2222")
    assert halima_visit[-1].startswith("Halima Z., no reminders are set. Your medicines: Ferrous-sulfate 200mg x30.")
    clock.now += timedelta(minutes=1)
    amina_again = as_member(chat, "1", "1111")

    assert not mentions(amina_visit + amina_again, HALIMA_MEDICINES)
    assert not mentions(halima_visit, AMINA_MEDICINES)
    assert not any("Amina Z., your" in r for r in halima_visit)


def test_the_other_members_pin_opens_nothing(twilio, store, clock, family):
    chat = Conversation(twilio, clock, FAMILY_NUMBER)
    assert chat.send("hi") == [WHO]
    assert chat.send("1") == [CATALOG.render("en", menu_message())]
    assert chat.send("4") == [catalog_text("en", "pin.ask", name="Amina Z.")]
    # Halima's PIN while Amina is chosen is just a wrong PIN for Amina.
    assert chat.send("2222") == [catalog_text("en", "pin.wrong", tries="4")]
    chat.send("4")  # still at the PIN question: not a PIN, so a hint, not the list
    chat.send("MY REMINDERS")
    assert chat.send("MENU") == [WHO]  # no profile is open
    assert chat.send("2") == [CATALOG.render("en", menu_message())]
    assert chat.send("4") == [catalog_text("en", "pin.ask", name="Halima Z.")]
    assert chat.send("1111") == [catalog_text("en", "pin.wrong", tries="4")]
    chat.send("reminders")

    assert not mentions(chat.replies, AMINA_MEDICINES + HALIMA_MEDICINES), chat.replies
    assert store.patients.get(family["amina"]).pin_failures == 1
    assert store.patients.get(family["halima"]).pin_failures == 1
    session = store.sessions.load(store.phone_index(FAMILY_NUMBER))
    assert session["unlocked_until"] is None


def test_a_profile_left_open_asks_the_next_person_for_that_pin(twilio, store, clock, family):
    """Amina picks herself and leaves the menu open; eleven minutes later Halima picks the
    phone up and asks for the reminders: she is asked for Amina's PIN, and her own PIN
    opens nothing."""
    chat = Conversation(twilio, clock, FAMILY_NUMBER)
    assert chat.send("hi") == [WHO]
    assert chat.send("1") == [CATALOG.render("en", menu_message())]
    clock.now += timedelta(minutes=11)
    start = len(chat.replies)
    assert chat.send("4") == [catalog_text("en", "pin.ask", name="Amina Z.")]
    assert chat.send("2222") == [catalog_text("en", "pin.wrong", tries="4")]
    assert not mentions(chat.replies[start:], AMINA_MEDICINES + HALIMA_MEDICINES)
