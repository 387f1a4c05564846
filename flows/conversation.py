"""One inbound text in, the conversation's next move out.

Order matters and mirrors what a person expects: opt-out words always work; HELP,
MENU, BACK and LANG work from anywhere; staff commands come from staff numbers only;
a session idle too long starts over; otherwise the text answers the current step.
"""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import datetime, timedelta

from flows import care, care_flows, staff_commands
from flows import effects as fx
from flows.care_flows import PATIENT_KEYWORDS, compact_readings
from flows.catalog import Catalog
from flows.context import Context
from flows.danger import urgent_in
from flows.engine import Message, Outcome, Session, msg
from flows.flow_registry import build_registry
from flows.normalise import normalise
from flows.runner import Runner, prompt_of

runner = Runner(build_registry())

KEYWORDS = ("stop", "start", "help", "menu", "back", "lang", "undo", *PATIENT_KEYWORDS)
# The opt-out words the carrier (Twilio) acts on and confirms by itself. For any other stop
# word, in any language, nobody else will confirm: we do, with the way back.
CARRIER_STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
# And the words that lift the carrier's block (YES too, which we also take as opting in).
CARRIER_START_WORDS = frozenset({"start", "unstop", "yes"})


def keyword_in(text: str, language: str, catalog: Catalog | None) -> str | None:
    """Which keyword a normalised text is, in the sender's language or English; a stop
    word in any shipped language (a Kiswahili speaker enrolled as English can still stop).
    Punctuation around the word does not hide it ("STOP.", "¡Parar!")."""
    if catalog is None:
        return None
    word = bare_word(text)
    for name in ("stop", "start"):
        # Opting out or back in works in any shipped language, whatever the profile says.
        if any(word in catalog.words(lang, f"keywords.{name}") for lang in catalog.languages):
            return name
    for name in KEYWORDS:
        key = f"keywords.{name}"
        if word in catalog.words(language, key) or word in catalog.words("en", key):
            return name
    return None


def keyword(text: str, session: Session, ctx: Context) -> str | None:
    return keyword_in(text, session.language, ctx.catalog)


def keyword_at(text: str, session: Session, ctx: Context) -> str | None:
    """The keyword a text is at this point of the conversation. A number that answers
    the open question is that answer: "0" to "for how many days?" is zero days, and is
    MENU only where no question takes it."""
    word = keyword(text, session, ctx)
    step = runner.current_step(session)
    if word and bare_word(text).isdigit() and step is not None and (step.give_up or runner.accepts(session, text, ctx)):
        # At a safety question a stray "0" (meaning "none"?) is a miss that asks again,
        # never MENU dropping the question.
        return None
    if word in PATIENT_KEYWORDS and step is not None and step.free_text:
        return None  # "please call me" describing the problem is the description
    return word


def waiting_for_yes(session: Session) -> bool:
    """Is the current step a yes/no question? Then YES answers it, not an opt-in."""
    step = runner.current_step(session)
    return step is not None and any(option.value == "yes" for option in step.options)


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


# A safety question (any danger sign now?) stays open this long: someone who went to
# see to a sick child and answers YES an hour later is still heard.
SAFETY_QUESTION_HOURS = 24


def expired(session: Session, ctx: Context) -> bool:
    if not session.flow or not session.updated_at:
        return False
    idle = ctx.now - datetime.fromisoformat(session.updated_at)
    step = runner.current_step(session)
    if step is not None and step.give_up is not None:
        return idle > timedelta(hours=SAFETY_QUESTION_HOURS)
    return idle > timedelta(minutes=ctx.config.session_timeout_minutes)


def respond(session: Session, raw: str, ctx: Context) -> Outcome:
    """The step function: (session, input, context) -> (session, replies, effects)."""
    session = session.copy()
    text = normalise(raw)
    if len(ctx.people) > 1:
        _close_stale_tasks(session, ctx)
    word = keyword_at(text, session, ctx)
    if len(ctx.people) > 1 and (word == "menu" or word in PATIENT_KEYWORDS):
        # A new task on a shared phone: the last person's PIN does not carry over to it.
        session.unlocked_until = None
    asking, before = runner.current_step(session), session.copy()
    out = _respond(session, text, word, ctx)
    if asking is not None and asking.give_up is not None and runner.current_step(out.session) is not asking:
        _left_unanswered(before, out, ctx)
    if ctx.staff is None:
        _safety_net(text, out, ctx)
    elif not staff_commands.looks_like_staff_command(text):
        _staff_safety_net(text, out, ctx)
    if len(ctx.people) > 1 and out.session.flow is None:
        # On a shared phone a PIN opens one task, not the phone: once it is done, whoever
        # texts next says who they are before anything is stored or shown.
        out.session.unlocked_until = None
        out.session.patient_id = None
    return out


def _answers_reminder(session: Session, ctx: Context) -> bool:
    """A 1 or 2 answers the reminder (a medicine's or a visit's) when the reminder is the last thing the phone was
    asked: sent after the conversation's own last question."""
    if not session.updated_at:
        return True
    return ctx.reminder.sent_at > datetime.fromisoformat(session.updated_at)


def _reminder_answered(session: Session, first: bool, ctx: Context) -> Outcome:
    """1 or 2 to the reminder: taken or skipped, or (a visit) confirmed or another day."""
    reminder = ctx.reminder
    person = ctx.person(reminder.patient_id)
    name = person.display_name if person else ""
    if reminder.kind == "appointment":
        when = care.local_day_time(reminder.visit, person.time_zone if person else ctx.config.time_zone)
        answer = "confirmed" if first else "another day"
        reply = msg("reminder.appointment_confirmed" if first else "reminder.appointment_another_day",
                    name=name, when=when)
    elif first:
        answer = "taken"
        key = "reminder.taken_discreet" if person and person.discreet else "reminder.taken"
        reply = msg(key, name=name, medicine=reminder.label)
    else:
        answer = "skipped"
        reply = msg("reminder.skipped", name=name)
    # A question the phone was in the middle of (the nurse triage) stays open: the next
    # text goes on with it.
    return Outcome(session, [reply], [fx.AnswerReminder(reminder.send_id, answer)])


def _close_stale_tasks(session: Session, ctx: Context) -> None:
    """On a shared phone, nothing opened for one person outlives the moment they opened
    it in: a task whose unlock ran out half-way is closed (whoever holds the phone now
    says who they are again), "send your reading again" only follows straight on from
    the picker it was asked from, and readings kept for someone joining go with an
    unfinished registration."""
    if session.flow and runner.registry.private(session.flow, shared=True) and not session.unlocked(ctx.now):
        session.clear_flow()
        session.patient_id = None
    picking = session.flow == "choose" and not session.misses
    if any(p.get("resend") for p in session.pending) and not picking and session.flow != "unlock":
        session.pending = [p for p in session.pending if not p.get("resend")]
    if any("text" in p for p in session.pending) and session.flow not in ("join", "unlock"):
        # Readings kept for someone joining, or for the PIN of the person just picked,
        # who did not finish: never anyone else's.
        session.pending = [p for p in session.pending if "text" not in p]


def _respond(session: Session, text: str, word: str | None, ctx: Context) -> Outcome:
    if not text and ctx.media:
        return Outcome(session, [msg("media.unreadable")])
    if word == "stop":
        session.clear_flow()
        session.unlocked_until = None
        # The carrier confirms its own stop words; we confirm the others.
        carrier = bare_word(text) in CARRIER_STOP_WORDS
        return Outcome(session, [] if carrier else [msg("optout.done")], [fx.OptOut(carrier=carrier)])
    if ctx.opted_out and ctx.staff is not None and word != "start":
        # A staff member who opted out is off the rota, but their commands still work:
        # an answer to an alert or a refill must never be dropped.
        return staff_commands.respond(session, text, ctx)
    if ctx.opted_out:
        said_yes = text.casefold() in ctx.words(session.language, "words.yes")
        if word == "start" or (said_yes and not waiting_for_yes(session)):
            session.clear_flow()
            return _opt_in(session, text)
        # An opted-out number gets nothing back until it opts in again.
        return Outcome(session, [], [])
    if word == "start" and not ctx.people and session.flow is None:
        word = None  # a new number's first "start" is a greeting: the welcome, not "again"
    elif word == "start":
        return _opt_in(session, text)
    if ctx.staff is not None:
        # Staff have commands, not the patient menu: HELP, MENU or LANG list them.
        return staff_commands.respond(session, text, ctx)
    if ctx.reminder is not None and text.strip(" .") in ("1", "2") and _answers_reminder(session, ctx):
        return _reminder_answered(session, text.strip(" .") == "1", ctx)
    if word == "help":
        return Outcome(session, [msg("help")])
    if word == "menu":
        return runner.home(session, ctx)
    if word == "back":
        return runner.back(session, ctx)
    if word == "lang":
        return runner.detour("language", session, ctx)

    if staff_commands.looks_like_staff_command(text):
        return patient_reply(session, text, ctx) or staff_commands.refuse(session, text, ctx)
    if word == "undo":
        if len(ctx.people) > 1:
            # On a shared phone, only the person whose reading it is may remove it.
            last = ctx.directory.last_submission(ctx.sender, ctx.now - timedelta(minutes=ctx.config.undo_minutes))
            if last is not None and not (session.patient_id == last.patient_id and session.unlocked(ctx.now)):
                session.patient_id = last.patient_id
                return runner.enter("unlock>undo", session, ctx)
        replies, effects = care.undo(ctx)
        return Outcome(session, replies, effects)

    patient = ready_patient(session, ctx)
    if word in PATIENT_KEYWORDS and patient is not None:
        if len(ctx.people) > 1:
            # Who is asking, first; then their PIN, and straight on to what they asked for.
            out = runner.enter("choose", session, ctx)
            session.resume = PATIENT_KEYWORDS[word]
            return out
        return runner.enter(PATIENT_KEYWORDS[word], session, ctx)
    if care.carries_readings(text, ctx) and not (session.flow == "reading" and session.step == "value"):
        return _readings(session, text, patient, ctx)

    greeted = greeting_language(text, ctx) if not ctx.people else None
    if greeted and (session.flow is None or expired(session, ctx)):
        # "Habari" from a new number: the welcome in Swahili at once, not in the clinic's
        # language with a code to send back (a text each way saved, and what the voice
        # line tells callers to send works as they expect).
        session.language = greeted
    if expired(session, ctx):
        session.clear_flow()
        session.unlocked_until = None
        out = runner.home(session, ctx)
        if session.flow and session.flow != "menu" and runner.accepts(session, text, ctx):
            # The answer to the question it starts over with ("YES" to consent) counts.
            answered = runner.answer(session, text, ctx)
            return Outcome(answered.session, answered.replies, out.effects + answered.effects)
        if session.flow == "menu":
            out.replies = [Message("menu.expired", out.replies[-1].params)]  # the menu, said as timed out
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


# On a shared phone a reading typed just anywhere may come from whoever holds the phone
# now; it is stored straight away only as the answer to "send your reading".
ANSWERS_A_READING = ("send_again", "reading")


def _opt_in(session: Session, text: str) -> Outcome:
    return Outcome(session, [msg("optin.done")], [fx.OptIn(carrier=bare_word(text) in CARRIER_START_WORDS)])


def bare_word(text: str) -> str:
    """The text as a keyword is compared: casefolded, without the punctuation around it
    ("STOP.", "¡Parar!", "'stop'")."""
    return text.casefold().strip(_AROUND) or text.casefold()


_AROUND = string.punctuation + "\u00a1\u00bf "


def _readings(session: Session, text: str, patient, ctx: Context) -> Outcome:
    """Readings typed at any point. They are stored only for a person told apart on
    purpose; otherwise every text of them is kept until the sender is known and set up."""
    shared = len(ctx.people) > 1
    step = runner.current_step(session)
    safety_question = step is not None and step.give_up is not None
    if patient is not None and session.patient_id == patient.id and (
        not shared or (session.unlocked(ctx.now) and (session.flow in ANSWERS_A_READING or safety_question))
    ):
        answer = compact_readings(session, text, ctx)
        if safety_question:
            # Saved, and the danger-sign question still stands: triage is never dropped.
            return Outcome(session, [*answer.say, prompt_of(step, session, ctx)], list(answer.effects))
        session.clear_flow()
        return Outcome(session, list(answer.say), list(answer.effects))
    if session.flow == "join":
        # Someone joining (on a shared phone too) is who the readings are for: kept
        # until their registration is done, and the question stands.
        session.keep_pending(text)
        return Outcome(session, [prompt_of(step, session, ctx)])
    picked = ctx.person(session.patient_id)
    if shared and picked in ctx.people and picked.consented and picked.has_pin and session.flow == "menu":
        # A name was just picked: the reading waits for that person's PIN, and is saved
        # only if it comes (whoever cannot give it, cannot save it for them).
        session.keep_pending(text)
        return runner.enter("unlock>pending_readings", session, ctx)
    if patient is not None:
        # A shared phone, nobody told apart yet: the text itself is not kept, since the
        # phone may change hands before someone picks a name and a PIN. Whoever does is
        # asked to send the reading again (any urgent value is alerted at once below).
        session.pending = [{"resend": True}]
        return runner.enter("choose", session, ctx)
    session.keep_pending(text)
    step = runner.current_step(session)
    if step is not None and not expired(session, ctx):
        # Joining, consent or PIN set-up under way: the open question still stands.
        return Outcome(session, [prompt_of(step, session, ctx)])
    session.clear_flow()
    return runner.home(session, ctx)


def greeting_language(text: str, ctx: Context) -> str | None:
    """The language whose greeting the text starts with ("bonjour", "hola!"), if one."""
    words = text.split()
    if not words or ctx.catalog is None:
        return None
    first = bare_word(words[0])
    return next((lang for lang in ctx.catalog.languages if first in ctx.catalog.words(lang, "words.greeting")), None)


def patient_reply(session: Session, text: str, ctx: Context) -> Outcome | None:
    """`C2 thank you` from a patient: their reply joins the thread of their own consult
    (or refill), and reaches the staff who handle it."""
    match = staff_commands.REF.match(text)
    kind = staff_commands.KINDS_BY_PREFIX[match.group(1).upper()] if match else None
    if kind not in ("consult", "refill") or not match.group(3).strip():
        return None
    ref = staff_commands.ref_of(match)
    request = ctx.directory.request(kind, ref)
    patient = ctx.person(request.patient_id) if request else None
    if patient is None:
        return None
    words = match.group(3).strip()
    if len(words) > care_flows.DESCRIPTION_MAX:
        return Outcome(session, [msg("consult.reply_too_long", ref=ref, limit=care_flows.DESCRIPTION_MAX)])
    role = "clinician" if kind == "consult" else "pharmacist"
    said = msg("consult.patient_reply", ref=ref, patient_id=patient.short_id, words=words)
    # To the clinician who owns the consult; before anyone answered, to those on call.
    notify = fx.NotifyStaffMember(request.owner_id, said, purpose=kind) if request.owner_id else fx.NotifyStaff(
        role, said, purpose=kind)
    kept = fx.ReplyToConsult(ref, words) if kind == "consult" else fx.Audit("request.patient_reply", f"{kind}:{ref}")
    return Outcome(session, [msg("consult.reply_sent", ref=ref)], [notify, kept])


def _left_unanswered(session: Session, out: Outcome, ctx: Context) -> None:
    """The danger-sign question left without an answer (MENU, REFILL, STOP...): the
    clinician hears of it, since nobody knows whether there was a danger sign."""
    answered = any(isinstance(e, fx.RaiseAlert) for e in out.effects) or any(
        isinstance(e, fx.OpenConsult) for e in out.effects) or runner.current_step(out.session) is not None and (
        out.session.flow == session.flow)
    detour = (out.session.aside or {}).get("flow") == session.flow  # LANG: it comes back to it
    person = ctx.person(session.patient_id)
    if answered or detour or person is None:
        return
    out.effects.append(fx.NotifyStaff("clinician", msg(
        "triage.left", name=person.display_name, patient_id=person.short_id,
        problem=msg(f"problem.{session.data.get('problem', 'other')}"), days=session.data.get("days", "?"),
    ), purpose="alert"))


def _alert_the_rest(urgent: list[str], out: Outcome) -> bool:
    """When an alert was raised for the readings we could read, a dangerous value we
    could not store (GLU 30, unit unclear) still goes to the clinician in an alert of
    its own. True when an alert was raised (the safety net has nothing more to do)."""
    raised = [e for e in out.effects if isinstance(e, fx.RaiseAlert) and e.urgent]
    if not raised:
        return False
    named = " ".join(e.summary for e in raised)
    missed = [value for value in urgent if value not in named]
    if missed:
        out.effects.append(replace(raised[0], reason="urgent.not_saved", summary=" ".join(missed)))
    return True


def _staff_safety_net(text: str, out: Outcome, ctx: Context) -> None:
    """A CHW's relay refused for any reason (an ID mistyped or not on their panel, a
    form we cannot read) still alerts the clinician if it holds a dangerous value."""
    urgent = urgent_in(text, ctx)
    if not urgent or _alert_the_rest(urgent, out):
        return
    typed = care.read(text, ctx, expect_patient_id=True).patient_id
    patient = ctx.directory.patient_by_short_id(typed) if typed and ctx.directory.short_id_valid(typed) else None
    out.effects.append(fx.RaiseAlert(
        patient_id=patient.id if patient else None, reason="urgent.relay_refused", summary=" ".join(urgent),
        candidates=() if patient else (typed or "?",), relayed=True,
    ))
    out.replies.insert(0, msg("chw.urgent_unsaved", danger=urgent[0]))


def _safety_net(text: str, out: Outcome, ctx: Context) -> None:
    """An urgent value is never lost, whatever state the sender is in (opted out, not
    yet set up, declined, locked out, half-way through another question, unknown, or
    not yet told apart on a shared phone): the clinician is alerted with the reading,
    and the sender gets the safety advice wherever we may still text them."""
    urgent = urgent_in(text, ctx)
    if not urgent or _alert_the_rest(urgent, out):
        return
    pending = out.session.pending
    if pending and pending[-1].get("text") == text:
        pending[-1]["alerted"] = True  # saved later without a second alert
    people = ctx.people
    patient = people[0] if len(people) == 1 else None
    out.effects.append(fx.RaiseAlert(
        patient_id=patient.id if patient else None,
        reason="urgent.unconfirmed_sender" if patient is None else "urgent.not_saved",
        summary=" ".join(urgent),
        candidates=tuple(p.short_id for p in people) if patient is None else (),
        reachable=not ctx.carrier_blocked,
    ))
    if not ctx.carrier_blocked:
        out.replies.insert(0, msg("safety.urgent", danger=urgent[0]))
