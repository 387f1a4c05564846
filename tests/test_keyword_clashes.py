"""No prompt or hint invites a word that means something else at that step.

For every step of every flow, in every shipped language, the words its prompt and its
miss reply invite (numbers and words in capitals) are read as the conversation reads
them: a word the step takes as its answer must not be taken first as a global keyword
("Send 0 if it started today" while 0 meant MENU dropped the triage), and a word it
does not take must at least be a keyword (or the hint leads nowhere). The words that
choose an option are checked the same way. And no stop word is a word our own
messages use, so nobody unsubscribes by answering "Alto" to a reading marked ALTO.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from flows.catalog import LANGUAGES, default_catalog, strip_accents
from flows.context import Context, FlowConfig, PatientView, ReminderRule
from flows.conversation import keyword_at, runner
from flows.engine import Message, Session
from flows.runner import prompt_of

CATALOG = default_catalog()
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
PEOPLE = (
    PatientView(1, "4376", "Amina Z.", "en", has_pin=True, consented=True, time_zone="Africa/Nairobi"),
    PatientView(2, "5970", "Halima Z.", "en", has_pin=True, consented=True, time_zone="Africa/Nairobi"),
)
# What a step already knows when its question is asked.
DATA = {"kind": "bp", "entered": "25.5", "medicine": "Metformin 500mg x60", "name": "Wanjiku Njeri",
        "birth_year": 1990, "problem": "fever", "days": 3}
# Capitalised words in prompts that name things, never words to send.
NAMES = {"BP", "GLU", "WT", "PIN", "SMS", "ID", "CHW", "SPO2", "SW", "FR", "ES", "DANGER", "HIGH", "LOW", "OK",
         "C", "RF", "A"}
# A number or a word in capitals, standing alone ("4-digit", "25.5" and the time "08:00"
# are not invitations). "4 digits" counts digits; it invites nothing.
QUANTITIES = re.compile(r"\b4[ -](digit|digits|chiffres|d[ií]gitos|n[uú]meros)\b|\btarakimu 4\b", re.IGNORECASE)
INVITED = re.compile(r"(?<![\w/.:-])([0-9]+|[A-Z][A-Z0-9']*[A-Z0-9])(?![\w/:-]|\.[0-9])")


class Directory:
    """Just enough of the read port to render every step's prompt."""

    def medications(self, patient_id):
        return [(11, "Metformin 500mg x60"), (12, "Amlodipine 5mg x30")]

    def profile(self, patient_id):
        return "F", 1968

    def check_pin(self, patient_id, pin):
        return False

    def likely_duplicate(self, *args):
        return None

    def reminders(self, patient_id):
        return [ReminderRule(7, "Metformin 500mg x60", "08:00", datetime(2026, 11, 30, 5, tzinfo=UTC))]

    def __getattr__(self, name):
        raise AssertionError(f"a prompt should not need directory.{name}")


def context() -> Context:
    return Context(now=NOW, sender="+254712345678", directory=Directory(), people=PEOPLE, catalog=CATALOG,
                   config=FlowConfig(time_zone="Africa/Nairobi"))


def session_at(language: str, flow: str, step: str) -> Session:
    return Session(language=language, flow=flow, step=step, data=dict(DATA), patient_id=1, updated_at=NOW.isoformat())


STEPS = [(flow.name, name) for flow in runner.registry.flows.values() for name in flow.steps]


def render(language: str, message: Message) -> str:
    return CATALOG.render(language, Message(message.key, {"clinic": "Lowband Clinic", "emergency": "112",
                                                          **message.params}))


def rendered(language: str, flow: str, step: str) -> list[str]:
    """The step's prompt and what a sender who answers nonsense is told."""
    ctx = context()
    session = session_at(language, flow, step)
    texts = [render(language, prompt_of(runner.registry.flows[flow].steps[step], session, ctx))]
    if not runner.accepts(session_at(language, flow, step), "@@", ctx):  # free text has no miss
        miss = runner.answer(session_at(language, flow, step), "@@", ctx)
        texts += [render(language, m) for m in miss.replies]
    return texts


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("flow", "step"), STEPS, ids=[f"{f}.{s}" for f, s in STEPS])
def test_no_hint_invites_a_keyword_that_means_something_else(language, flow, step):
    ctx = context()
    texts = [QUANTITIES.sub("", text) for text in rendered(language, flow, step)]
    invited = {w for text in texts for w in INVITED.findall(text)} - NAMES
    for word in sorted(invited):
        session = session_at(language, flow, step)
        keyword = keyword_at(word, session, ctx)
        answers = runner.accepts(session, word, ctx)
        assert not (keyword and answers), f"{language} {flow}.{step}: {word!r} answers the step but is {keyword}"
        assert keyword or answers, f"{language} {flow}.{step}: the hint invites {word!r}, which does nothing here"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("flow", "step"), STEPS, ids=[f"{f}.{s}" for f, s in STEPS])
def test_option_words_are_not_keywords(language, flow, step):
    ctx = context()
    same_meaning = {"language": "lang", "refill": "refill", "nurse": "nurse"}
    session = session_at(language, flow, step)
    for option in runner.registry.flows[flow].steps[step].options_for(ctx, session):
        for word in ctx.words(language, option.words) if option.words else ():
            keyword = keyword_at(word, session_at(language, flow, step), ctx)
            assert keyword in (None, same_meaning.get(option.value)), (
                f"{language} {flow}.{step}: {word!r} picks {option.value} but is the keyword {keyword}")


def _message_words(language: str) -> dict[str, set[str]]:
    words: dict[str, set[str]] = {}
    for key, text in CATALOG.messages[language].items():
        if key.startswith(("words.", "keywords.", "voice.")) or key.endswith("@voice") or key in (
                "help", "optout.done"):
            continue  # lists are matched, not sent; voice is heard, never texted back; these two tell how to stop
        for word in re.findall(r"[^\W\d_]+", strip_accents(text.casefold())):
            words.setdefault(word, set()).add(key)
    return words


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_stop_word_is_a_word_our_messages_use(language):
    used = _message_words(language)
    # A stop word of any language stops anyone (a patient may be enrolled in the wrong one).
    stop = set().union(*(CATALOG.words(lang, "keywords.stop") for lang in LANGUAGES))
    clashes = {word: sorted(used[word]) for word in stop if word in used}
    assert not clashes, f"{language}: stop words our own messages use: {clashes}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_answer_words_are_never_keywords(language):
    keywords = set().union(*(CATALOG.words(lang, f"keywords.{k}") for lang in LANGUAGES
                             for k in ("stop", "start", "help", "menu", "back", "undo")))
    for key in ("words.yes", "words.no"):
        clash = CATALOG.words(language, key) & keywords
        assert not clash, f"{language} {key} holds keywords {clash}"
    assert not CATALOG.words(language, "words.yes") & CATALOG.words(language, "words.no")


def test_the_extraction_finds_the_words_a_hint_invites():
    texts = rendered("en", "nurse", "days")
    assert {"3", "0"} <= {w for text in texts for w in INVITED.findall(QUANTITIES.sub("", text))}


def test_the_check_would_catch_the_old_triage_hint():
    """Proof the test can fail: MENU's "0" answering "how many days?" is caught as a
    clash if the step did not claim it."""
    ctx = context()
    session = session_at("en", "nurse", "days")
    assert runner.accepts(session, "0", ctx)
    assert keyword_at("0", session, ctx) is None
    assert keyword_at("0", session_at("en", "menu", "main"), ctx) == "menu"
