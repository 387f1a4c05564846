"""The patient's care flows: a reading by menu, a medicine refill, a question to the
nurse (triage), discreet mode, and the inbox of messages held behind the PIN."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flows import care
from flows import effects as fx
from flows.catalog import default_catalog
from flows.compact import AMBIGUOUS_UNIT
from flows.context import Context
from flows.engine import (
    DONE,
    NUMBER,
    PAIR,
    Answer,
    Choices,
    Flow,
    Invalid,
    Option,
    Session,
    Step,
    Turn,
    match_option,
    msg,
)
from flows.patient_flows import YES_NO
from flows.readings import KINDS, MG_DL, MMOL_L, format_reading, glucose_reading
from flows.runner import Action, Registry
from flows.segments import fits_one_segment

READING_OPTIONS = tuple(
    Option(kind, msg(f"option.kind.{kind}"), f"words.kind.{kind}", msg(f"option.kind.{kind}.short"))
    for kind in ("bp", "glucose", "weight", "temperature", "spo2", "pulse")
)
PROBLEM_OPTIONS = tuple(
    Option(problem, msg(f"option.problem.{problem}"), f"words.problem.{problem}")
    for problem in ("fever", "cough", "pain", "pregnancy", "wound", "other")
)
GLUCOSE_UNITS = (Option(MMOL_L, msg("option.unit.mmol"), "words.unit.mmol"),
                 Option(MG_DL, msg("option.unit.mgdl"), "words.unit.mgdl"))
MAX_DAYS = 365
# The patient's own words for the nurse: one SMS to the clinician with the reference.
DESCRIPTION_MAX = 130
_SPACED_BP = re.compile(r"^\s*(\d{2,3})\s+(\d{2,3})\s*$")
HELD_PER_TEXT = 3


def person(turn: Turn):
    return turn.ctx.person(turn.session.patient_id)


# -- a reading by menu: which kind, the value, (the unit if glucose is ambiguous) -----------


def _example(ctx: Context, session: Session) -> Mapping[str, Any]:
    return {"example": KINDS[session.data["kind"]].example}


def parse_value(text: str, ctx: Context, data: Mapping[str, Any]) -> Any:
    kind = KINDS[data["kind"]]
    if kind.name == "bp":
        # "140 90" is how many people write a pressure they were just asked for.
        text = _SPACED_BP.sub(r"\1/\2", text)
    body = text if care.read(text, ctx).readings else f"{kind.codes[0]} {text}"
    result = care.read(body, ctx)
    matching = [r for r in result.readings if r.kind == kind.name]
    if matching and not result.problems:
        return matching[0]
    ambiguous = [p for p in result.problems if p.reason == AMBIGUOUS_UNIT]
    if ambiguous and kind.name == "glucose":
        # Kept as typed ("25"), so the question echoes exactly what the patient sent.
        return {"ambiguous": ambiguous[0].token.split()[-1].replace(",", ".")}
    raise Invalid("reading.ask_again", example=kind.example)


def value_entered(value: Any, turn: Turn) -> Answer:
    if isinstance(value, dict):
        return Answer(goto="unit", data={"entered": value["ambiguous"]})
    return _save(value, turn)


def unit_chosen(unit: str, turn: Turn) -> Answer:
    reading = glucose_reading(float(turn.data["entered"]), unit)
    if not KINDS["glucose"].measures["mmol_l"].plausible(reading.values["mmol_l"]):
        return Answer(say=(msg("reading.ask_again", example=KINDS["glucose"].example),), goto="value", prompt=False)
    return _save(reading, turn)


def _save(reading, turn: Turn) -> Answer:
    replies, effects = care.submit([reading], person(turn), turn.ctx)
    return Answer(say=tuple(replies), effects=tuple(effects), goto="@end")


def pending_readings(turn: Turn) -> Answer:
    """Readings kept until the sender finished setting up, saved now. On a shared phone
    nothing was kept: the person who just gave their PIN is asked to send theirs again."""
    pending = turn.session.pending
    if any(kept.get("resend") for kept in pending):
        return Answer(goto="@send_again", session={"pending": []})
    replies, effects = care.submit_kept(pending, person(turn), turn.ctx)
    return Answer(say=tuple(replies), effects=tuple(effects), session={"pending": []})


def parse_reading_text(text: str, ctx: Context, data: Mapping[str, Any]) -> str:
    if not care.carries_readings(text, ctx):
        raise Invalid("reading.send_again_hint")
    return text


def compact_readings(session: Session, text: str, ctx: Context) -> Answer:
    """`BP 140/90` typed at any point by a patient whose profile is known."""
    result = care.read(text, ctx)
    if care.is_talk(result) and result.readings:
        echo = " ".join(format_reading(r) for r in result.readings)
        return Answer(say=(msg("reading.did_you_mean", readings=echo),))
    replies, effects = care.submit(result.readings, ctx.person(session.patient_id), ctx, problems=result.problems)
    return Answer(say=tuple(replies), effects=tuple(effects))


# -- a medicine refill ----------------------------------------------------------------------


def refill_start(turn: Turn) -> Answer:
    medicines = turn.ctx.directory.medications(turn.session.patient_id)
    if not medicines:
        return Answer(say=(msg("refill.none"),))
    return Answer(goto="@refill_pick")


# Paging the medicine list, as USSD menus in East Africa do ("98 MORE"): never a medicine's
# number, since numbers stay the same on every page (with 12 medicines, 9 is a medicine).
MORE = "98"


def _shown(ctx: Context, data: Mapping[str, Any], session: Session | None = None) -> list[tuple[int, str]]:
    """The patient's medicines as first listed, kept for the whole question: a number means
    the same medicine on every page, even if the clinic changes the list meanwhile."""
    shown = data.get("shown")
    if shown is None:
        if session is None:
            raise Invalid("refill.which")
        shown = [[med_id, label] for med_id, label in ctx.directory.medications(session.patient_id)]
        session.data["shown"] = shown
    return [(int(med_id), str(label)) for med_id, label in shown]


def medicine_options(ctx: Context, session: Session) -> list[Option]:
    return [Option(str(med_id), label) for med_id, label in _shown(ctx, session.data, session)]


def _numbered(options: list[Option], first: int, last: int) -> Choices:
    return Choices(tuple((str(number + 1), options[number].label) for number in range(first, last + 1)))


def _page_of(options: list[Option], first: int, last: int) -> Choices:
    note = "refill.page_last" if last == len(options) - 1 else "refill.page_more"
    return Choices(_numbered(options, first, last).items,
                   msg(note, first=first + 1, last=last + 1, total=len(options)))


def medicine_page(ctx: Context, session: Session) -> dict[str, Any]:
    """The list as one SMS: all of it when it fits, else the page that starts at
    data["first"], as many whole names as fit, then "(1-4 of 6, 98 for more)"."""
    options = medicine_options(ctx, session)
    first, last = _page_span(ctx, session, options)
    if (first, last) == (0, len(options) - 1):
        return {"choices": _numbered(options, first, last)}
    return {"choices": _page_of(options, first, last)}


def _page_span(ctx: Context, session: Session, options: list[Option]) -> tuple[int, int]:
    catalog = ctx.catalog or default_catalog()

    def fits(choices: Choices) -> bool:
        return fits_one_segment(catalog.render(session.language, msg("refill.which", choices=choices)))

    if not options or fits(_numbered(options, 0, len(options) - 1)):
        return 0, len(options) - 1
    first = min(int(session.data.get("first", 0)), len(options) - 1)
    last = first
    while last + 1 < len(options) and fits(_page_of(options, first, last + 1)):
        last += 1
    return first, last


def _keep_list(ctx: Context, session: Session) -> tuple[Option, ...]:
    """Runs before every answer is read: the list the answer refers to is kept in the
    session (an answer to a question asked before lists were kept finds it too). No
    options for the engine to match: parse_medicine reads numbers, names and 98 itself."""
    _shown(ctx, session.data, session)
    return ()


def parse_medicine(text: str, ctx: Context, data: Mapping[str, Any]) -> str:
    """A medicine by its number (on any page) or its name, or 98 for the next page."""
    if text.strip().strip(".)#").strip() == MORE:
        return MORE
    options = [Option(str(med_id), label) for med_id, label in _shown(ctx, data)]
    option = match_option(text, options, lambda key: set())
    if option is None:
        raise Invalid("refill.which")
    return option.value


def medicine_chosen(value: str, turn: Turn) -> Answer:
    if value == MORE:
        session, ctx = turn.session, turn.ctx
        options = medicine_options(ctx, session)
        _, last = _page_span(ctx, session, options)
        return Answer(data={"first": last + 1 if last + 1 < len(options) else 0})
    label = dict(_shown(turn.ctx, turn.data))[int(value)]
    return Answer(goto="confirm", data={"medication_id": int(value), "medicine": label})


def refill_confirmed(choice: str, turn: Turn) -> Answer:
    if choice == "no":
        return Answer(say=(msg("refill.cancelled"),), goto="@end")
    patient = person(turn)
    ctx = turn.ctx
    ref = ctx.directory.allocate_ref("refill", "RF")
    medicine = turn.data["medicine"]
    notify = fx.NotifyStaff("pharmacist", msg(
        "refill.pharmacist", ref=ref, name=patient.display_name, patient_id=patient.short_id, medicine=medicine,
    ), purpose="refill")
    reply = msg("refill.requested_discreet", ref=ref) if patient.discreet else msg(
        "refill.requested", ref=ref, medicine=medicine)
    return Answer(
        say=(reply,), goto="@end",
        effects=(fx.RequestRefill(patient.id, turn.data["medication_id"], ref), notify),
    )


# -- a question to the nurse: problem, days, danger signs ------------------------------------


def parse_days(text: str, ctx: Context, data: Mapping[str, Any]) -> int:
    words = text.split()
    if words and words[0].isdigit() and 0 <= int(words[0]) <= MAX_DAYS:
        return int(words[0])
    raise Invalid("nurse.days_hint")


def danger_answered(choice: str, turn: Turn) -> Answer:
    if choice == "yes":
        return _danger_sign(turn, "triage.danger", "danger sign")
    return Answer(goto="describe")


def danger_unclear(turn: Turn) -> Answer:
    # Three answers we could not read to "any danger sign now?": treat it as yes. A
    # nurse calling back about nothing costs far less than a missed emergency.
    return _danger_sign(turn, "triage.unclear", "danger sign answer unclear")


def _danger_sign(turn: Turn, reason: str, what: str) -> Answer:
    patient = person(turn)
    problem, days = turn.data["problem"], turn.data["days"]
    # A danger sign ends triage: safety advice now, the clinician alerted now.
    alert = fx.RaiseAlert(patient.id, reason=reason, summary=f"{problem} {days}d {what}")
    return Answer(say=(msg("nurse.urgent"),), effects=(alert,), goto="@end")


def parse_description(text: str, ctx: Context, data: Mapping[str, Any]) -> str:
    if len(text) > DESCRIPTION_MAX:
        raise Invalid("nurse.describe_hint", limit=DESCRIPTION_MAX, over=len(text) - DESCRIPTION_MAX)
    return text


def described(description: str, turn: Turn) -> Answer:
    patient, ctx = person(turn), turn.ctx
    problem, days = turn.data["problem"], turn.data["days"]
    ref = ctx.directory.allocate_ref("consult", "C")
    sex, birth_year = ctx.directory.profile(patient.id)
    about = " ".join(p for p in (sex or "", f"{ctx.now.year - birth_year}y" if birth_year else "") if p)
    notify = fx.NotifyStaff("clinician", msg(
        "consult.clinician", ref=ref, name=patient.display_name, patient_id=patient.short_id, about=about,
        problem=msg(f"problem.{problem}"), days=days,
    ), purpose="consult")
    summary = {"problem": problem, "days": days, "words": description}
    if ctx.recording:
        # A caller's voice message: the clinician is told to listen or call back.
        summary["recording"] = dict(ctx.recording)
        words = fx.NotifyStaff("clinician", msg("consult.voice_message", ref=ref), purpose="consult")
    else:
        # The patient's own words go to the nurse whole, in a message of their own.
        words = fx.NotifyStaff("clinician", msg("consult.words", ref=ref, words=description), purpose="consult")
    return Answer(
        say=(msg("nurse.queued", ref=ref),), goto="@end",
        effects=(fx.OpenConsult(patient.id, ref, summary), notify, words),
    )


def _describe_prompt(ctx: Context, session: Session) -> Mapping[str, Any]:
    return {"limit": DESCRIPTION_MAX}


# -- discreet mode and the inbox -------------------------------------------------------------


def toggle_discreet(turn: Turn) -> Answer:
    patient = person(turn)
    on = not patient.discreet
    return Answer(say=(msg("discreet.on" if on else "discreet.off"),), effects=(fx.SetDiscreet(patient.id, on),))


def inbox(turn: Turn) -> Answer:
    held = turn.ctx.directory.held_messages(turn.session.patient_id)[:HELD_PER_TEXT]
    if not held:
        return Answer(say=(msg("inbox.empty"),))
    return Answer(
        say=tuple(msg("inbox.message", text=text) for _, text in held),
        effects=(fx.MarkHeldRead(tuple(i for i, _ in held)),),
    )


def undo_after_pin(turn: Turn) -> Answer:
    replies, effects = care.undo(turn.ctx)
    return Answer(say=tuple(replies), effects=tuple(effects))


# Menu items this module makes real, and the words that reach them from anywhere.
MENU_DESTINATIONS = {"reading": "reading", "refill": "refill", "nurse": "nurse"}
PATIENT_KEYWORDS = {"refill": "refill", "nurse": "nurse", "discreet": "discreet", "inbox": "inbox"}
__all__ = ["DONE", "MENU_DESTINATIONS", "PATIENT_KEYWORDS", "compact_readings"]


def register(registry: Registry) -> None:
    """Add this module's flows and actions to `registry` (see flows.flow_registry)."""
    registry.flow(
        Flow(
            name="reading",
            start="kind",
            steps={
                "kind": Step(prompt="reading.which", options=READING_OPTIONS, save="kind", next="value",
                             hint="reading.which_hint"),
                "value": Step(prompt="reading.ask", params=_example, parse=parse_value, then=value_entered,
                              expects=lambda session: PAIR if session.data.get("kind") == "bp" else NUMBER),
                "unit": Step(prompt="reading.unit", options=GLUCOSE_UNITS, then=unit_chosen,
                             params=lambda ctx, session: {"value": session.data.get("entered", "")}),
            },
        )
    )
    registry.action(Action("end", lambda turn: Answer()))
    registry.action(Action("pending_readings", pending_readings, private=True))
    # Open while the person who just gave their PIN sends their reading again (a reading
    # typed at any step is saved for the unlocked person by the conversation itself).
    registry.flow(
        Flow(
            name="send_again",
            start="reading",
            steps={"reading": Step(prompt="reading.send_again", parse=parse_reading_text,
                                   params=lambda ctx, session: {"name": ctx.person(session.patient_id).display_name},
                                   then=lambda text, turn: Answer(goto="@end"))},
            private=True,
        )
    )
    registry.action(Action("refill", refill_start, private=True))
    registry.flow(
        Flow(
            name="refill_pick",
            start="which",
            steps={
                "which": Step(prompt="refill.which", params=medicine_page, choose=_keep_list, parse=parse_medicine,
                              then=medicine_chosen, hint="refill.which"),
                "confirm": Step(prompt="refill.confirm", options=YES_NO, then=refill_confirmed, hint="refill.confirm",
                                numbered=False,
                                params=lambda ctx, session: {"medicine": session.data.get("medicine", "")}),
            },
        )
    )
    registry.flow(
        Flow(
            name="nurse",
            start="problem",
            steps={
                "problem": Step(prompt="nurse.problem", options=PROBLEM_OPTIONS, save="problem", next="days",
                                hint="nurse.problem"),
                "days": Step(prompt="nurse.days", parse=parse_days, save="days", next="danger", expects=NUMBER),
                "danger": Step(prompt="nurse.danger", options=YES_NO, then=danger_answered, hint="nurse.danger",
                               give_up=danger_unclear, numbered=False),
                "describe": Step(prompt="nurse.describe", parse=parse_description, then=described,
                                 params=_describe_prompt, free_text=True),
            },
        )
    )
    registry.action(Action("discreet", toggle_discreet, private=True))
    registry.action(Action("inbox", inbox, private=True))
    registry.action(Action("undo", undo_after_pin, private=True))
    registry.never_muted |= {"nurse"}
    registry.private_when_shared |= {"reading", "nurse", "refill_pick", "send_again"}
