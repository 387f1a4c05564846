"""One inbound text in, the conversation's next move out.

Order matters and mirrors what a person expects: opt-out words always work; HELP,
MENU, BACK and LANG work from anywhere; staff commands come from staff numbers only;
a session idle too long starts over; otherwise the text answers the current step.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flows import care, staff_commands
from flows import effects as fx
from flows.care_flows import PATIENT_KEYWORDS, compact_readings
from flows.catalog import Catalog
from flows.compact import looks_like_compact
from flows.context import Context
from flows.engine import Outcome, Session, msg
from flows.normalise import normalise
from flows.patient_flows import registry
from flows.runner import Runner

runner = Runner(registry)

KEYWORDS = ("stop", "start", "help", "menu", "back", "lang", "undo", *PATIENT_KEYWORDS)


def keyword_in(text: str, language: str, catalog: Catalog | None) -> str | None:
    """Which keyword a normalised text is, in the sender's language or English."""
    if catalog is None:
        return None
    word = text.casefold()
    for name in KEYWORDS:
        key = f"keywords.{name}"
        if word in catalog.words(language, key) or word in catalog.words("en", key):
            return name
    return None


def keyword(text: str, session: Session, ctx: Context) -> str | None:
    return keyword_in(text, session.language, ctx.catalog)


def waiting_for_yes(session: Session) -> bool:
    """Is the current step a yes/no question? Then YES answers it, not an opt-in."""
    if not session.flow:
        return False
    step = registry.flows[session.flow].steps[session.step]
    return any(option.value == "yes" for option in step.options)


def ready_patient(session: Session, ctx: Context):
    """The patient this phone's texts speak for, if they have consented and set a PIN.
    On a shared phone, someone ready stands in until the sender says who they are."""
    ready = [p for p in ctx.people if p.consented and p.has_pin]
    if not ready:
        return None
    if len(ctx.people) == 1:
        session.patient_id = ready[0].id
        return ready[0]
    current = ctx.person(session.patient_id)
    if current in ready and session.unlocked(ctx.now):
        return current
    return ready[0]


def expired(session: Session, ctx: Context) -> bool:
    if not session.flow or not session.updated_at:
        return False
    idle = ctx.now - datetime.fromisoformat(session.updated_at)
    return idle > timedelta(minutes=ctx.config.session_timeout_minutes)


def respond(session: Session, raw: str, ctx: Context) -> Outcome:
    """The step function: (session, input, context) -> (session, replies, effects)."""
    session = session.copy()
    text = normalise(raw)
    word = keyword(text, session, ctx)

    if word == "stop":
        # Twilio itself confirms STOP to the sender, so we stay silent.
        session.clear_flow()
        session.unlocked_until = None
        return Outcome(session, [], [fx.OptOut()])
    if ctx.opted_out:
        said_yes = text.casefold() in ctx.words(session.language, "words.yes")
        if word == "start" or (said_yes and not waiting_for_yes(session)):
            session.clear_flow()
            return Outcome(session, [msg("optin.done")], [fx.OptIn()])
        # An opted-out number gets nothing back until it opts in again.
        return Outcome(session, [], [])
    if word == "start":
        return Outcome(session, [msg("optin.done")], [fx.OptIn()])
    if ctx.staff is not None:
        # Staff have commands, not the patient menu: HELP, MENU or LANG list them.
        return staff_commands.respond(session, text, ctx)
    if word == "help":
        return Outcome(session, [msg("help")])
    if word == "menu":
        return runner.home(session, ctx)
    if word == "back":
        return runner.back(session, ctx)
    if word == "lang":
        return runner.enter("language", session, ctx)

    if staff_commands.looks_like_staff_command(text):
        return staff_commands.refuse(session, text, ctx)
    if word == "undo":
        replies, effects = care.undo(ctx)
        return Outcome(session, replies, effects)

    patient = ready_patient(session, ctx)
    if word in PATIENT_KEYWORDS and patient is not None:
        if session.patient_id != patient.id:
            return runner.enter("choose", session, ctx)
        return runner.enter(PATIENT_KEYWORDS[word], session, ctx)
    if looks_like_compact(text) and patient is not None:
        session.clear_flow()
        if session.patient_id == patient.id and (len(ctx.people) == 1 or session.unlocked(ctx.now)):
            answer = compact_readings(session, text, ctx)
            return Outcome(session, list(answer.say), list(answer.effects))
        # A shared phone: save the readings once the sender says who they are.
        session.pending = text
        return runner.enter("choose", session, ctx)
    if looks_like_compact(text) and ctx.people and session.flow is None:
        # Enrolled, but consent or a PIN is still missing: keep the readings until then.
        session.pending = text
        return runner.home(session, ctx)

    if expired(session, ctx):
        session.clear_flow()
        session.unlocked_until = None
        out = runner.home(session, ctx)
        if session.flow == "menu":
            out.replies = [msg("menu.expired")]
        return out

    if session.flow is None:
        out = runner.home(session, ctx)
        # A returning patient who types a menu number straight away gets that item.
        if session.flow == "menu" and text:
            answered = runner.answer(session, text, ctx)
            if not session.misses:
                return Outcome(answered.session, answered.replies, out.effects + answered.effects)
            session.misses = 0
        return out
    return runner.answer(session, text, ctx)
