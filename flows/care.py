"""Submitting readings, for a patient or by their CHW: repeats, care rules, alerts, the
reply, and UNDO. Pure: lookups go through the context's directory, writes are effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flows import effects as fx
from flows.compact import (
    AMBIGUOUS_UNIT,
    DUPLICATE,
    MISSING,
    NO_ID,
    RANGE,
    SYNTAX,
    UNIT,
    UNKNOWN,
    ParseResult,
    Problem,
    looks_like_compact,
    parse_compact,
)
from flows.context import Context, PatientView, StaffView
from flows.engine import Message, msg
from flows.readings import KINDS, Reading, format_reading

# Replies list at most this many readings each, so every reply stays one SMS.
READINGS_PER_REPLY = 2
ALERT_LEVELS = ("urgent",)
TREND_LEVELS = ("high", "urgent")
# Replies that tell someone to get care now: they go out even to a muted number.
SAFETY_ADVICE = frozenset({"reading.urgent", "reading.urgent_discreet", "nurse.urgent", "chw.urgent",
                           "safety.urgent", "chw.urgent_unsaved"})


def local_time(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def local_day_time(moment: datetime, zone: str) -> str:
    """A visit's day and time as the patient reads it: "31/12 09:30"."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%d/%m %H:%M")


def level_message(level: str, target: str | None) -> Message:
    if level in ("high", "low") and target:
        return msg(f"level.{level}", target=target)
    return msg(f"level.{level}" if level in ("normal", "high", "low", "urgent") else "level.normal")


def problem_tokens(problems: Sequence[Problem]) -> str:
    return ", ".join(p.token for p in problems if p.token)


def problem_hint(problems: Sequence[Problem]) -> Message:
    """What to send instead: the right form for the first kind that went wrong."""
    for problem in problems:
        if problem.suggestion:  # "T 101" is surely Fahrenheit: offer "T 101F"
            return msg("reading.right_form", example=problem.suggestion)
        if problem.reason == AMBIGUOUS_UNIT:
            return msg("reading.glucose_unit", token=problem.token)
        if problem.kind in KINDS and problem.reason in (SYNTAX, RANGE, MISSING, UNIT):
            return msg("reading.right_form", example=KINDS[problem.kind].example)
        if problem.reason == DUPLICATE and problem.kind in KINDS:
            return msg("reading.one_each", example=KINDS[problem.kind].example)
    return msg("reading.right_form", example="BP 140/90 GLU 7.2")


def _chunks(items: list[Message]) -> list[list[Message]]:
    return [items[i : i + READINGS_PER_REPLY] for i in range(0, len(items), READINGS_PER_REPLY)] or [[]]


def read(text: str, ctx: Context, *, expect_patient_id: bool = False) -> ParseResult:
    """The readings in a text, codes or the reading words of any shipped language."""
    return parse_compact(text, expect_patient_id=expect_patient_id, words=ctx.reading_words)


def is_talk(result: ParseResult) -> bool:
    """A sentence with a number in it ("sugar 2 spoons in tea", "my bp is 190/125"), not
    a reading: two or more words we could not read. Nothing from it is stored without
    the sender confirming (the safety net still acts on a dangerous value)."""
    return sum(1 for p in result.problems if p.reason == UNKNOWN and p.token.isalpha()) >= 2


def carries_readings(text: str, ctx: Context, *, expect_patient_id: bool = False) -> bool:
    return looks_like_compact(text, expect_patient_id=expect_patient_id, words=ctx.reading_words)


def submit(
    readings: Sequence[Reading],
    patient: PatientView,
    ctx: Context,
    *,
    problems: Sequence[Problem] = (),
    staff: StaffView | None = None,
    alerted: bool = False,
) -> tuple[list[Message], list]:
    """Store the readings (minus repeats), assess them, raise alerts; return the
    replies for the sender and the effects. `alerted`: an urgent value in these
    readings already raised an alert (sent before the sender could be told apart)."""
    directory, rules, now = ctx.directory, ctx.rules, ctx.now
    since = now - timedelta(minutes=ctx.config.repeat_minutes)
    fresh, repeated = [], []
    for reading in readings:
        assessment = rules.assess(reading)
        # A dangerous value sent again is a second measurement, never "already saved".
        when = None if assessment.level in ALERT_LEVELS else directory.duplicate_since(
            patient.id, reading.kind, reading.values, since)
        (repeated if when else fresh).append((reading, assessment, when))
    problems = [p for p in problems if p.reason != NO_ID]

    extra = [msg("reading.also_not_understood", tokens=problem_tokens(problems))] if problems else []
    name = patient.display_name
    if not fresh:
        if repeated:
            # Stored once; the sender is told so (and still told what was not understood).
            first = min(when for _, _, when in repeated)
            echo = " ".join(format_reading(r) for r, _, _ in repeated)
            if patient.discreet and not staff:
                return [msg("reading.repeat_discreet", name=name)] + extra, []
            when_saved = local_time(first, patient.time_zone)
            return [msg("reading.repeat", readings=echo, time=when_saved, name=name)] + extra, []
        return [msg("reading.not_understood", tokens=problem_tokens(problems), hint=problem_hint(problems))], []

    assessed = [(reading, a) for reading, a, _ in fresh]
    submitted_by = f"staff:{staff.id}" if staff else f"patient:{patient.short_id}"
    effects: list = [
        fx.SaveReadings(
            patient.id, tuple(fx.SavedReading(r.kind, dict(r.values), a.level) for r, a in assessed), submitted_by
        )
    ]
    urgent = [(r, a) for r, a in assessed if a.level in ALERT_LEVELS]
    window = now - timedelta(days=rules.trend_days)
    trending = [
        (r, a)
        for r, a in assessed
        if a.level in TREND_LEVELS
        and rules.trend(r.kind, [*directory.recent_levels(patient.id, r.kind, window), (now, a.level)], now)
    ]
    # One open alert is enough to get a clinician looking: a trend does not raise
    # another while one is open (an urgent reading always does).
    if trending and not urgent and directory.has_open_alert(patient.id):
        trending = []
    if (urgent or trending) and not (alerted and urgent):
        flagged = urgent or trending
        effects.append(fx.RaiseAlert(
            patient_id=patient.id,
            reason=",".join(a.rule or a.level for _, a in flagged) + ("" if urgent else ",trend"),
            summary=" ".join(format_reading(r) for r, _ in flagged),
            urgent=bool(urgent),
        ))

    items = [(a.level, r, msg("reading.item", reading=format_reading(r), level=level_message(a.level, a.target)))
             for r, a in assessed]
    # Repeats sent along with new readings are named too, so nothing is hidden.
    items += [("repeat", r, msg("reading.item", reading=format_reading(r), level=msg("level.repeat")))
              for r, _, _ in repeated]
    return _replies(patient, staff, items) + extra, effects


def submit_kept(kept: Sequence[dict], patient: PatientView, ctx: Context) -> tuple[list[Message], list]:
    """Readings kept until the sender was set up, every text of them, saved in the
    order they were sent."""
    replies: list[Message] = []
    effects: list = []
    seen: list[Reading] = []
    for entry in kept:
        result = read(entry.get("text", ""), ctx)
        # The same reading texted twice while waiting is one reading (as it would have
        # been had it been saved at once); a dangerous one is a new measurement each time.
        readings = [r for r in result.readings if r not in seen or ctx.rules.assess(r).level in ALERT_LEVELS]
        seen += readings
        if not readings and not result.problems:
            continue
        said, done = submit(readings, patient, ctx, problems=result.problems, alerted=bool(entry.get("alerted")))
        replies += said
        effects += done
    return replies, effects


def _replies(patient: PatientView, staff: StaffView | None, items: list[tuple[str, Reading, Message]]) -> list[Message]:
    """The sender's replies: the danger first (with what to do), then what was saved.
    Every reply names the patient, so on a shared phone a reading stored for the wrong
    person shows at once (and UNDO takes it back)."""
    who = {"patient_id": patient.short_id, "name": patient.display_name}
    danger = [reading for level, reading, _ in items if level in ALERT_LEVELS]
    rest = [item for level, _, item in items if level not in ALERT_LEVELS]
    if patient.discreet and not staff:
        # Nothing that names a condition before the PIN; safety advice still goes out.
        return [msg("reading.urgent_discreet" if danger else "reading.saved_discreet", name=patient.display_name)]
    if danger:
        # The first danger is named once, in the advice; any others are listed after it.
        first = msg("chw.urgent" if staff else "reading.urgent", danger=format_reading(danger[0]), **who)
        more = [item for level, _, item in items if level in ALERT_LEVELS][1:]
        return [first] + [msg("reading.more", readings=chunk) for chunk in _chunks(more + rest) if chunk]
    key = "chw.saved" if staff else "reading.saved"
    chunks = _chunks(rest)
    return [msg(key, readings=chunks[0], **who)] + [msg("reading.more", readings=c) for c in chunks[1:]]


def undo(ctx: Context) -> tuple[list[Message], list]:
    """Remove the last readings this phone sent, if within the undo window."""
    minutes = ctx.config.undo_minutes
    last = ctx.directory.last_submission(ctx.sender, ctx.now - timedelta(minutes=minutes))
    if last is None:
        return [msg("undo.nothing", minutes=minutes)], []
    patient = ctx.person(last.patient_id) or ctx.directory.patient(last.patient_id)
    if ctx.staff is None and patient.discreet:
        reply = msg("undo.done_discreet", name=patient.display_name)
    elif ctx.staff is not None:
        reply = msg("undo.done_for", patient_id=patient.short_id, readings=last.echo)
    else:
        reply = msg("undo.done", readings=last.echo, name=patient.display_name)
    return [reply], [fx.UndoSubmission(last.id)]
