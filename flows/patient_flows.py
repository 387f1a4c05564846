"""The patient's flows, declared as data: joining, consent, PIN, who-is-texting, the
main menu and language. Later care flows (readings, refills, nurse) register here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flows import care
from flows import effects as fx
from flows.context import Context, PatientView
from flows.engine import (
    DONE,
    NUMBER,
    PIN,
    Answer,
    Flow,
    Invalid,
    Message,
    Option,
    Session,
    Step,
    Turn,
    msg,
    unlocked_until,
)
from flows.enrolment import EnrolmentError, clean_birth_year, clean_name
from flows.phones import default_time_zone
from flows.runner import RESUME, Action, Registry, answered
from flows.segments import GSM_7, encoding, fold_to_gsm

YES_NO = (Option("yes", msg("option.yes"), "words.yes"), Option("no", msg("option.no"), "words.no"))
LANGUAGE_OPTIONS = (
    Option("en", "English", "words.lang.en"),
    Option("sw", "Kiswahili", "words.lang.sw"),
    Option("fr", "Francais", "words.lang.fr"),
    Option("es", "Espanol", "words.lang.es"),
)
MENU_OPTIONS = tuple(
    Option(item, msg(f"option.menu.{item}"), f"words.menu.{item}", msg(f"option.menu.{item}.short"))
    for item in ("reading", "refill", "nurse", "reminders", "language")
)
# The welcome offers these by code, so a new number can switch at its first reply.
WELCOME_LANGUAGES = tuple(Option(o.value, o.value.upper(), o.words) for o in LANGUAGE_OPTIONS)
LANGUAGES = frozenset(o.value for o in LANGUAGE_OPTIONS)
# The most people one phone can hold: the picker lists them all and "Someone new" in one SMS.
MAX_PROFILES = 4
GONE = "gone"  # a person shown in the picker who is no longer on the phone


def short_name(name: str) -> str:
    """First name and initial, as shown on a possibly shared screen: "Amina Z."."""
    parts = name.split()
    return parts[0] if len(parts) < 2 else f"{parts[0]} {parts[-1][0]}."


# -- parsers ----------------------------------------------------------------------


def parse_name(text: str, ctx: Context, data: Mapping[str, Any]) -> str:
    try:
        name = clean_name(text)
    except EnrolmentError:
        raise Invalid("join.name.hint") from None
    # Every SMS that greets the patient carries the name: one letter GSM-7 cannot
    # carry would make each of them cost two or three SMS.
    if encoding(fold_to_gsm(name)) != GSM_7:
        raise Invalid("join.name.hint")
    return name


def parse_birth_year(text: str, ctx: Context, data: Mapping[str, Any]) -> int:
    try:
        return clean_birth_year(text, ctx.now.year)
    except EnrolmentError:
        raise Invalid("join.birth_year.hint") from None


def parse_pin(text: str, ctx: Context, data: Mapping[str, Any]) -> str:
    pin = text.replace(" ", "")
    if len(pin) == 4 and pin.isascii() and pin.isdigit():
        return pin
    raise Invalid("pin.choose.hint")


def _pin_digest(pin: str, sender: str) -> str:
    # The first entry is kept only as a digest until it is typed again, never as the PIN.
    return hashlib.sha256(f"{sender}\x1f{pin}".encode()).hexdigest()


# PINs found first in every list of guessed PINs: the keypad's middle column and its
# reverse, pairs and the years people think of first.
COMMON_PINS = frozenset({"2580", "0852", "1122", "1004", "2000", "1313", "6969", "1998", "2001", "0007"})


def guessable_pin(pin: str, birth_year: int | None = None) -> bool:
    """A PIN anyone would try first: 0000, a run up or down (1234, 9876), a repeated
    pair (1212), a well-known one (2580), or the person's own year of birth."""
    digits = [int(ch) for ch in pin]
    steps = {b - a for a, b in zip(digits, digits[1:], strict=False)}
    if len(steps) == 1 and steps <= {-1, 0, 1}:
        return True
    return pin[:2] == pin[2:] or pin in COMMON_PINS or (birth_year is not None and pin == str(birth_year))


def _birth_year(turn: Turn) -> int | None:
    if turn.data.get("birth_year"):
        return int(turn.data["birth_year"])
    person = turn.ctx.person(turn.session.patient_id)
    return turn.ctx.directory.profile(person.id)[1] if person else None


def remember_pin(pin: str, turn: Turn) -> Answer:
    if guessable_pin(pin, _birth_year(turn)):
        return Answer(goto=None, say=(msg("pin.weak"),), prompt=False)
    return Answer(goto="pin_again", data={"pin_digest": _pin_digest(pin, turn.ctx.sender)})


def mismatch(turn: Turn) -> Answer:
    return Answer(goto=None, say=(msg("pin.mismatch"),), prompt=False, session={"step": "pin"})


# -- joining (an unknown number) -----------------------------------------------------


def join_consent(choice: str, turn: Turn) -> Answer:
    if choice in LANGUAGES:
        # The welcome offers the other languages: switch, and ask again in that one.
        return Answer(goto=None, session={"language": choice})
    if choice == "no":
        # Nothing is stored for a person who says no: the session is simply dropped.
        return Answer(say=(msg("join.declined"),), goto="@goodbye")
    # Consent is given now, with this text version; it is recorded with the patient.
    return Answer(goto="name", data={"consent_at": turn.ctx.now.isoformat(timespec="seconds")})


def join_confirm_pin(pin: str, turn: Turn) -> Answer:
    ctx = turn.ctx
    if _pin_digest(pin, ctx.sender) != turn.data.get("pin_digest"):
        return mismatch(turn)
    if ctx.directory.people_on_phone(ctx.sender) >= MAX_PROFILES:
        # Someone else was enrolled on this phone while this person was joining.
        return Answer(say=(msg("choose.full", count=MAX_PROFILES),), goto="@goodbye")
    patient_id, short_id = ctx.directory.new_patient_ids()
    name, language = turn.data["name"], turn.session.language
    register = fx.RegisterPatient(
        patient_id=patient_id,
        short_id=short_id,
        name=name,
        birth_year=turn.data["birth_year"],
        pin=pin,
        language=language,
        consent_version=ctx.config.consent_version,
        consent_at=turn.data.get("consent_at") or ctx.now.isoformat(timespec="seconds"),
    )
    # Registered, and told their ID, the moment the PIN is confirmed (the language was
    # offered in the welcome; LANG changes it any time). Readings texted while joining
    # are saved now, under the new record.
    joined = PatientView(patient_id, short_id, short_name(name), language, has_pin=True, consented=True,
                         time_zone=default_time_zone(ctx.sender, ctx.config.time_zone))
    replies, effects = care.submit_kept(turn.session.pending, joined, ctx)
    return Answer(
        say=(msg("join.done", name=short_name(name), patient_id=short_id), *replies),
        effects=(register, *effects),
        goto=DONE,
        # Registered: BACK must not lead into the questions again (a second patient).
        session={"patient_id": patient_id, "trail": [], "pending": [],
                 "unlocked_until": unlocked_until(ctx.now, ctx.config.unlock_minutes)},
    )


def parse_new_name(text: str, ctx: Context, data: Mapping[str, Any]) -> str:
    name = parse_name(text, ctx, data)
    # The same person joining twice from one phone would split their record in two.
    if ctx.directory.likely_duplicate(name, None, ctx.sender, None):
        raise Invalid("join.already_here")
    return name


# -- consent and PIN for patients the clinic enrolled ------------------------------------


def _person_name(ctx: Context, session: Session) -> Mapping[str, Any]:
    person = ctx.person(session.patient_id)
    return {"name": person.display_name if person else ""}


def _person(turn: Turn):
    return turn.ctx.person(turn.session.patient_id)


def _unlock(turn: Turn) -> dict[str, str]:
    """The session change that opens the person's data for a while (their PIN was right)."""
    return {"unlocked_until": unlocked_until(turn.ctx.now, turn.ctx.config.unlock_minutes)}


def consent_answer(choice: str, turn: Turn) -> Answer:
    person = _person(turn)
    if choice == "no":
        return Answer(say=(msg("consent.declined"),), effects=(fx.DeclineConsent(person.id),), goto="@goodbye")
    consent = fx.RecordConsent(person.id, turn.ctx.config.consent_version)
    if person.has_pin:
        return Answer(effects=(consent,), goto=DONE, session=_unlock(turn))
    return Answer(effects=(consent,), goto="pin")


def set_pin_confirm(pin: str, turn: Turn) -> Answer:
    if _pin_digest(pin, turn.ctx.sender) != turn.data.get("pin_digest"):
        return mismatch(turn)
    person = _person(turn)
    return Answer(
        goto=DONE, effects=(fx.SetPin(person.id, pin),), data={"pin_digest": None}, session=_unlock(turn),
    )


def setup_finish(turn: Turn) -> Answer:
    person = _person(turn)
    # Readings texted before consent and PIN were given are saved now, not dropped.
    goto = "@pending_readings" if turn.session.pending else None
    return answered("setup.done", goto=goto, name=person.display_name if person else "")


PIN_STEPS = {
    "pin": Step(prompt="pin.choose", parse=parse_pin, then=remember_pin, expects=PIN),
    "pin_again": Step(prompt="pin.confirm", parse=parse_pin, then=set_pin_confirm, backable=False,
                      expects=PIN),
}


# -- who is texting, and the PIN check -------------------------------------------------


def profile_options(ctx: Context, session: Session) -> list[Option]:
    # Sorted by name so each person finds themselves at the same number every time.
    people = sorted(ctx.people, key=lambda p: (p.display_name.casefold(), p.short_id))[:MAX_PROFILES]
    shown = [p.display_name for p in people]
    # Two "Mary Z." on one phone could pick each other: those show their ID too.
    options = [Option(str(p.id), p.display_name if shown.count(p.display_name) == 1
                      else f"{p.display_name} {p.short_id}") for p in people]
    options.append(Option("new", msg("choose.new")))
    remembered = session.data.get("shown")
    if remembered:
        # The list as it was shown: a number means what it meant when it was read.
        by_value = {o.value: o for o in options}
        options = [by_value.get(value, Option(GONE, "?")) for value in remembered]
    return options


def profile_chosen(value: str, turn: Turn) -> Answer:
    # Whoever is picked, nobody's data stays open from before.
    closed = {"unlocked_until": None}
    if value == GONE:
        return Answer(goto=None, session=closed)  # that person left this phone meanwhile: ask again
    if value == "new":
        if len(turn.ctx.people) >= MAX_PROFILES:
            # One more would not fit the picker: it would be enrolled but unreachable.
            return Answer(goto=None, say=(msg("choose.full", count=MAX_PROFILES),), prompt=False, session=closed)
        return Answer(goto="@join", session={**closed, "patient_id": None})
    chosen = turn.session  # a copy: changed here only to ask where the chosen person goes
    chosen.patient_id, chosen.unlocked_until = int(value), None
    destination = destination_for(chosen.patient_id, chosen, turn.ctx, shared=True)
    if destination == "menu" and chosen.resume:
        destination = chosen.resume  # REFILL, NURSE...: what they texted for
    return Answer(goto="@" + destination, session={**closed, "patient_id": chosen.patient_id})


def destination_for(patient_id: int, session: Session, ctx: Context, *, shared: bool) -> str:
    """Where a known patient goes first: consent and PIN set-up until done; on a
    shared phone, the PIN before even the menu."""
    person = ctx.person(patient_id)
    if person is None:
        return "join"
    if not person.consented:
        return "consent"
    if not person.has_pin:
        return "newpin"
    # Readings kept before the sender said who they are: right after the PIN. Otherwise
    # the menu; on a shared phone the PIN is asked when an item needs it, so it opens
    # that one task and nothing else.
    return "unlock>pending_readings" if session.pending else "menu"


def check_pin(pin: str, turn: Turn) -> Answer:
    ctx, config = turn.ctx, turn.ctx.config
    person = _person(turn)
    if person is None:
        return Answer(goto="@" + ctx_home(turn.session, ctx))
    if person.locked(ctx.now):
        return Answer(say=(msg("pin.locked", minutes=config.pin_lock_minutes),), goto="@goodbye")
    if ctx.directory.check_pin(person.id, pin):
        return Answer(effects=(fx.PinPassed(person.id),), goto="@" + (turn.session.resume or "menu"),
                      session=_unlock(turn))
    # Failures are counted on the patient's record, so starting over does not reset them.
    left = config.pin_attempts - (person.pin_failures + 1)
    if left <= 0:
        return Answer(
            say=(msg("pin.locked", minutes=config.pin_lock_minutes),),
            effects=(fx.PinFailed(person.id, lock_minutes=config.pin_lock_minutes),),
            goto="@goodbye",
        )
    return Answer(say=(msg("pin.wrong", tries=left),), effects=(fx.PinFailed(person.id),), prompt=False)


# -- the main menu and what it leads to --------------------------------------------------


def menu_choice(choice: str, turn: Turn) -> Answer:
    return Answer(goto="@" + choice)


def language_chosen(language: str, turn: Turn) -> Answer:
    patient = turn.session.patient_id if turn.ctx.person(turn.session.patient_id) else None
    # On a shared phone a person's own setting changes only behind their PIN; otherwise
    # just this conversation switches language.
    if len(turn.ctx.people) > 1 and not turn.session.unlocked(turn.ctx.now):
        patient = None
    effects = (fx.SetLanguage(patient, language),) if patient else ()
    if turn.session.aside:
        # LANG in the middle of a question: carry on with it, now in the new language.
        return Answer(goto="@" + RESUME, effects=effects, session={"language": language})
    return Answer(goto=DONE, say=(msg("language.done"),), effects=effects, session={"language": language})


def profile_locked(session: Session, ctx: Context) -> bool:
    person = ctx.person(session.patient_id)
    return bool(person and person.locked(ctx.now))


def locked_notice(turn: Turn) -> Answer:
    """A locked profile says so, and until when, instead of asking for a PIN in vain."""
    person = _person(turn)
    until = person.locked_until.astimezone(ZoneInfo(person.time_zone)).strftime("%H:%M")
    return Answer(say=(msg("pin.locked_until", name=person.display_name, time=until),),
                  session={"patient_id": None, "unlocked_until": None})


# -- where a sender lands ----------------------------------------------------------------


def ctx_home(session: Session, ctx: Context) -> str:
    """The right first screen for whoever holds this phone."""
    if not ctx.people:
        return "join"
    if len(ctx.people) == 1:
        session.patient_id = ctx.people[0].id
        return destination_for(session.patient_id, session, ctx, shared=False)
    # A shared phone: whoever holds it now says who they are, every time.
    return "choose"


MENU_STEP = Step(prompt="menu.main", options=MENU_OPTIONS, then=menu_choice, hint="menu.hint")


def menu_message(key: str = "menu.main") -> Message:
    """The menu as `key` says it ("menu.lost", "menu.hint" with the short labels), its
    options numbered by the engine: for anything that shows the menu outside a step."""
    from flows.runner import prompt_of

    return prompt_of(MENU_STEP, Session(), None, key, short=key == "menu.hint")


def register(registry: Registry) -> None:
    """Add this module's flows and actions to `registry` (see flows.flow_registry)."""
    registry.flow(
        Flow(
            name="join",
            start="consent",
            steps={
                "consent": Step(prompt="join.welcome", options=YES_NO + WELCOME_LANGUAGES, then=join_consent,
                                hint="join.yes_no", numbered=False),
                "name": Step(prompt="join.name", parse=parse_new_name, save="name", next="birth_year"),
                "birth_year": Step(
                    prompt="join.birth_year",
                    parse=parse_birth_year,
                    save="birth_year",
                    next="pin",
                    params=lambda ctx, session: {"name": short_name(session.data.get("name", ""))},
                    expects=NUMBER,
                ),
                "pin": Step(prompt="pin.choose", parse=parse_pin, then=remember_pin, expects=PIN),
                "pin_again": Step(prompt="pin.confirm", parse=parse_pin, then=join_confirm_pin, backable=False,
                                  expects=PIN),
            },
        )
    )
    registry.action(Action("goodbye", lambda turn: Answer(session={"patient_id": None})))
    registry.flow(
        Flow(
            name="consent",
            start="consent",
            steps={
                "consent": Step(
                    prompt="consent.ask", options=YES_NO, then=consent_answer, hint="consent.yes_no",
                    params=_person_name, numbered=False,
                ),
                **PIN_STEPS,
            },
            finish=setup_finish,
        )
    )
    registry.flow(
        Flow(
            name="newpin",
            start="pin",
            steps={
                **PIN_STEPS,
                "pin": Step(prompt="pin.new_needed", parse=parse_pin, then=remember_pin, params=_person_name,
                            hint="pin.choose.hint", expects=PIN),
            },
            finish=setup_finish,
        )
    )
    registry.flow(
        Flow(
            name="choose",
            start="who",
            steps={"who": Step(prompt="choose.who", choose=profile_options, then=profile_chosen, hint="choose.hint",
                               keep_choices=True)},
        )
    )
    registry.flow(
        Flow(
            name="unlock",
            start="pin",
            steps={
                "pin": Step(prompt="pin.ask", parse=parse_pin, then=check_pin, hint="pin.choose.hint",
                            params=_person_name, backable=False, expects=PIN),
            },
        )
    )
    registry.flow(
        Flow(
            name="menu",
            start="main",
            steps={"main": MENU_STEP},
        )
    )
    registry.flow(
        Flow(
            name="language",
            start="pick",
            steps={"pick": Step(prompt="language.choose", options=LANGUAGE_OPTIONS, then=language_chosen,
                                hint="language.hint")},
        )
    )
    registry.action(Action("locked", locked_notice))
    registry.locked = profile_locked
    registry.home = ctx_home
