"""Every step of every flow, in every language, as a caller hears it and as a texter
reads it: the TwiML parses and nests as TwiML allows, a caller is never told to reply or
send, the keypad waits for the right keys, and the SMS form (with its real options,
numbered by the engine) fits one segment."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest

from flows.catalog import LANGUAGES, default_catalog
from flows.context import Context, PatientView, ReminderRule
from flows.conversation import runner
from flows.engine import CHOICE, NUMBER, PAIR, PIN, TEXT, Message, Session
from flows.runner import prompt_of
from flows.segments import fits_one_segment, units
from ivr import speech
from ivr.call import CallTurn
from ivr.speech import Spoken
from tests.helpers.voice_call import check_twiml

CATALOG = default_catalog()
# Words that ask for a text: a caller can do neither.
SMS_WORDS = {"en": r"\b(reply|send|text)\b", "sw": r"\b(jibu|tuma)\b", "fr": r"\b(r[ée]pondez|envoyez)\b",
             "es": r"\b(responda|env[íi]e)\b"}
# Flows a caller never reaches: joining is by SMS (a caller is told how).
SMS_ONLY_FLOWS = {"join"}


class Directory:
    def medications(self, patient_id):
        return [(1, "Metformin 500mg x60"), (2, "Amlodipine 5mg x30"), (3, "Losartan 50mg x30")]

    def profile(self, patient_id):
        return "F", 1968

    def reminders(self, patient_id):
        return [ReminderRule(7, "Hydrochlorothiazide 25mg x30", "08:00,20:00", datetime(2026, 11, 30, 5, tzinfo=UTC))]


PEOPLE = (PatientView(1, "4376", "Bartholomew K.", "en", True, True),
          PatientView(2, "4377", "Halima Z.", "en", True, True))
CTX = Context(now=datetime(2026, 11, 29, tzinfo=UTC), sender="+254712345678", directory=Directory(), people=PEOPLE,
              catalog=CATALOG)
STEPS = [(flow, step) for flow in sorted(runner.registry.flows) for step in sorted(runner.registry.flows[flow].steps)]


def session_at(flow: str, step: str, kind: str = "bp") -> Session:
    return Session(patient_id=1, flow=flow, step=step, data={
        "kind": kind, "entered": "25", "name": "Bartholomew Kamau", "medicine": "Metformin 500mg x60"})


def render(language: str, message: Message, channel: str) -> str:
    params = {"clinic": "Homa Bay Town Clinic", "emergency": "+254 700 123456", **message.params}
    return CATALOG.render(language, Message(message.key, params), channel)


def test_the_walk_covers_every_flow_a_caller_reaches():
    walked = {flow for flow, _ in STEPS} - SMS_ONLY_FLOWS
    assert {"menu", "reading", "refill_pick", "nurse", "choose", "unlock", "consent", "language"} <= walked


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("flow", "step"), STEPS, ids=[f"{f}.{s}" for f, s in STEPS])
def test_every_step_as_a_caller_hears_it(language, flow, step):
    if flow in SMS_ONLY_FLOWS:
        pytest.skip("joining is by SMS; a caller is told how")
    definition = runner.registry.flows[flow].steps[step]
    for kind in ("bp", "glucose"):
        session = session_at(flow, step, kind)
        prompts = [prompt_of(definition, session, CTX)]
        if definition.hint:
            prompts.append(prompt_of(definition, session, CTX, definition.hint, short=True))
        for message in prompts:
            spoken = render(language, message, "voice")
            assert spoken and not re.search(SMS_WORDS[language], spoken, re.IGNORECASE), (message.key, spoken)
            gather = CallTurn._gather(definition, session)
            twiml = speech.ask([], [Spoken(spoken)], language, action="/voice/t/2", silence="/voice/t/2/silence",
                               gather=gather)
            root = ElementTree.fromstring(twiml)  # noqa: S314 (our own TwiML)
            check_twiml(root)
            [asked] = root.find("Gather")
            assert asked.tag == "Say" and asked.text == spoken
            expects = definition.expectation(session)
            waits = root.find("Gather").attrib
            if expects == CHOICE and definition.parse is None:
                assert waits.get("numDigits") == "1", "a short list is answered with one key"
            elif expects == PIN:
                assert waits.get("numDigits") == "4"
            elif expects in (NUMBER, PAIR):
                assert waits.get("finishOnKey") == "#" and "numDigits" not in waits
            else:
                assert expects in (CHOICE, TEXT)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("flow", "step"), STEPS, ids=[f"{f}.{s}" for f, s in STEPS])
def test_every_step_with_its_real_options_fits_one_sms(language, flow, step):
    definition = runner.registry.flows[flow].steps[step]
    session = session_at(flow, step)
    for message in (prompt_of(definition, session, CTX), prompt_of(definition, session, CTX, definition.hint,
                                                                     short=True) if definition.hint else None):
        if message is None:
            continue
        text = render(language, message, "sms")
        assert fits_one_segment(text), f"{units(text)} units: {text}"
        assert "{" not in text, text


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_voice_message_renders_as_valid_twiml(language):
    keys = [k for k in CATALOG.message_keys() if k.startswith("voice.") or k.endswith("@voice")]
    assert len(keys) > 40
    sample = {"clinic": "Lowband Clinic", "emergency": "112", "name": "Amina Z.", "digit": "1", "label": "Sugar",
              "first": "140", "second": "90", "value": "7.2", "tries": "4", "medicine": "Metformin 500mg x60",
              "ref": "C12", "readings": "BP 140/90", "medicines": "Metformin 500mg", "last": "5", "choices": "",
              "example": "BP 140/90", "limit": "130", "minutes": "30", "time": "10:00", "danger": "BP 190/125",
              "count": "2", "date": "06/12", "what": "Metformin 500mg x60", "reading": "BP",
              "times": "08:00 20:00", "when": "12/01 10:30"}
    for key in keys:
        text = CATALOG.render(language, Message(key, sample), "voice")
        assert text and "{" not in text, (key, text)
        check_twiml(ElementTree.fromstring(speech.goodbye([Spoken(text)], language)))  # noqa: S314
