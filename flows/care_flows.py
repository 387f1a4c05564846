"""The patient's care flows: a reading by menu, a medicine refill, a question to the
nurse (triage), discreet mode, and the inbox of messages held behind the PIN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flows import care
from flows import effects as fx
from flows.compact import AMBIGUOUS_UNIT, parse_compact
from flows.context import Context
from flows.engine import DONE, Answer, Flow, Invalid, Option, Session, Step, Turn, msg
from flows.patient_flows import YES_NO, registry
from flows.readings import KINDS, MG_DL, MMOL_L, glucose_reading
from flows.runner import Action

READING_OPTIONS = tuple(
    Option(kind, KINDS[kind].label, f"words.kind.{kind}")
    for kind in ("bp", "glucose", "weight", "temperature", "spo2", "pulse")
)
PROBLEM_OPTIONS = tuple(
    Option(problem, problem, f"words.problem.{problem}")
    for problem in ("fever", "cough", "pain", "pregnancy", "wound", "other")
)
GLUCOSE_UNITS = (Option(MMOL_L, "mmol/L", "words.unit.mmol"), Option(MG_DL, "mg/dL", "words.unit.mgdl"))
MAX_DAYS = 365
HELD_PER_TEXT = 3


def person(turn: Turn):
    return turn.ctx.person(turn.session.patient_id)


# -- a reading by menu: which kind, the value, (the unit if glucose is ambiguous) -----------


def _example(ctx: Context, session: Session) -> Mapping[str, Any]:
    return {"example": KINDS[session.data["kind"]].example}


def parse_value(text: str, ctx: Context, data: Mapping[str, Any]) -> Any:
    kind = KINDS[data["kind"]]
    body = text if parse_compact(text).readings else f"{kind.codes[0]} {text}"
    result = parse_compact(body)
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


registry.flow(
    Flow(
        name="reading",
        start="kind",
        steps={
            "kind": Step(prompt="reading.which", options=READING_OPTIONS, save="kind", next="value",
                         hint="reading.which_hint"),
            "value": Step(prompt="reading.ask", params=_example, parse=parse_value, then=value_entered),
            "unit": Step(prompt="reading.unit", options=GLUCOSE_UNITS, then=unit_chosen,
                         params=lambda ctx, session: {"value": session.data.get("entered", "")}),
        },
    )
)
registry.action(Action("end", lambda turn: Answer()))


def pending_readings(turn: Turn) -> Answer:
    """Readings texted from a shared phone, saved once the sender said who they are."""
    text, turn.session.pending = turn.session.pending, None
    result = parse_compact(text or "")
    replies, effects = care.submit(result.readings, person(turn), turn.ctx, problems=result.problems)
    return Answer(say=tuple(replies), effects=tuple(effects))


registry.action(Action("pending_readings", pending_readings, private=True))


def compact_readings(session: Session, text: str, ctx: Context) -> Answer:
    """`BP 140/90` typed at any point by a patient whose profile is known."""
    result = parse_compact(text)
    replies, effects = care.submit(result.readings, ctx.person(session.patient_id), ctx, problems=result.problems)
    return Answer(say=tuple(replies), effects=tuple(effects))


# -- a medicine refill ----------------------------------------------------------------------


def refill_start(turn: Turn) -> Answer:
    medicines = turn.ctx.directory.medications(turn.session.patient_id)
    if not medicines:
        return Answer(say=(msg("refill.none"),))
    return Answer(goto="@refill_pick")


def medicine_options(ctx: Context, session: Session) -> list[Option]:
    return [Option(str(med_id), label) for med_id, label in ctx.directory.medications(session.patient_id)]


def medicine_chosen(value: str, turn: Turn) -> Answer:
    label = dict((str(i), lbl) for i, lbl in turn.ctx.directory.medications(turn.session.patient_id))[value]
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


registry.action(Action("refill", refill_start, private=True))
registry.flow(
    Flow(
        name="refill_pick",
        start="which",
        steps={
            "which": Step(prompt="refill.which", choose=medicine_options, then=medicine_chosen, hint="refill.which"),
            "confirm": Step(prompt="refill.confirm", options=YES_NO, then=refill_confirmed, hint="refill.confirm",
                            params=lambda ctx, session: {"medicine": session.data.get("medicine", "")}),
        },
    )
)


# -- a question to the nurse: problem, days, danger signs ------------------------------------


def parse_days(text: str, ctx: Context, data: Mapping[str, Any]) -> int:
    words = text.split()
    if words and words[0].isdigit() and 0 <= int(words[0]) <= MAX_DAYS:
        return int(words[0])
    raise Invalid("nurse.days_hint")


def danger_answered(choice: str, turn: Turn) -> Answer:
    patient, ctx = person(turn), turn.ctx
    problem, days = turn.data["problem"], turn.data["days"]
    if choice == "yes":
        # A danger sign ends triage: safety advice now, the clinician alerted now.
        alert = fx.RaiseAlert(patient.id, reason="triage.danger", summary=f"{problem} {days}d danger sign")
        return Answer(say=(msg("nurse.urgent"),), effects=(alert,), goto="@end")
    ref = ctx.directory.allocate_ref("consult", "C")
    sex, birth_year = ctx.directory.profile(patient.id)
    about = " ".join(p for p in (sex or "", f"{ctx.now.year - birth_year}y" if birth_year else "") if p)
    notify = fx.NotifyStaff("clinician", msg(
        "consult.clinician", ref=ref, name=patient.display_name, patient_id=patient.short_id, about=about,
        problem=msg(f"problem.{problem}"), days=days,
    ), purpose="consult")
    return Answer(
        say=(msg("nurse.queued", ref=ref),), goto="@end",
        effects=(fx.OpenConsult(patient.id, ref, {"problem": problem, "days": days}), notify),
    )


registry.flow(
    Flow(
        name="nurse",
        start="problem",
        steps={
            "problem": Step(prompt="nurse.problem", options=PROBLEM_OPTIONS, save="problem", next="days",
                            hint="nurse.problem"),
            "days": Step(prompt="nurse.days", parse=parse_days, save="days", next="danger"),
            "danger": Step(prompt="nurse.danger", options=YES_NO, then=danger_answered, hint="nurse.danger"),
        },
    )
)


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


registry.action(Action("discreet", toggle_discreet, private=True))
registry.action(Action("inbox", inbox, private=True))

# Menu items this module makes real, and the words that reach them from anywhere.
MENU_DESTINATIONS = {"reading": "reading", "refill": "refill", "nurse": "nurse"}
PATIENT_KEYWORDS = {"refill": "refill", "nurse": "nurse", "discreet": "discreet", "inbox": "inbox"}
__all__ = ["DONE", "MENU_DESTINATIONS", "PATIENT_KEYWORDS", "compact_readings"]
