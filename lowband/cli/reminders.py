"""`lowband reminders`: medicine and reading reminders, in each patient's own time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import click

from flows.quiet_hours import in_quiet_hours
from flows.readings import KINDS
from lowband.cli.base import emit, json_option, parse_moment, runtime, settings, store
from lowband.cli.enrolling import find_patient, open_record
from scheduler.occurrence import WEEKDAYS
from scheduler.reminders import appointment_times, due_now, parse_times, schedule
from storage.errors import NotFound
from storage.store import iso

MAX_TIMES = 12  # times a day one rule may hold
DAY_NAMES = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}


@click.group()
def reminders() -> None:
    """Reminders at the patient's own local time, never in quiet hours (21:00-07:00)."""


@reminders.command("add")
@click.argument("patient_id")
@click.option("--medicine", help="A medicine the patient has (its name, as in `patients show`).")
@click.option("--reading", type=click.Choice(sorted(KINDS)), help="Remind to send this reading instead.")
@click.option("--appointment", help="Remind of a visit at this time (ISO with offset): the day before and 2 h before.")
@click.option("--times", help="Local times, like 08:00,20:00.")
@click.option("--until", help="Last day (ISO date or time with offset); no end when left out.")
@click.option("--days", default="", help="Only on these days, like mon,thu (every day when left out).")
@click.option("--start", help="First possible time (ISO with offset), e.g. when a treatment starts; default now.")
def reminders_add(patient_id: str, medicine: str | None, reading: str | None, appointment: str | None,
                  times: str | None, until: str | None, days: str, start: str | None) -> None:
    """Remind a patient of a medicine or a reading, at local times.

    PATIENT_ID is the short ID. Times are the patient's own (their time zone).
    """
    if sum(map(bool, (medicine, reading, appointment))) != 1:
        raise click.ClickException("give one of --medicine NAME, --reading KIND or --appointment TIME")
    if appointment:
        _add_appointment(patient_id, parse_moment(appointment, "--appointment"))
        return
    if not times:
        raise click.ClickException("--times is needed, like 08:00,20:00")
    try:
        wall_times = parse_times(times)
    except ValueError as error:
        raise click.ClickException(f"--times: {error}") from None
    if len(wall_times) > MAX_TIMES:
        raise click.ClickException(f"--times: at most {MAX_TIMES} times a day")
    weekdays = []
    for day in (d.strip().lower() for d in days.split(",") if d.strip()):
        # "mon" or "monday"; anything else ("mond", "funday") is refused, never guessed.
        short = day[:3] if day in DAY_NAMES else day
        if short not in WEEKDAYS:
            raise click.ClickException(f"--days takes {','.join(WEEKDAYS)} (or the whole names)")
        if short not in weekdays:
            weekdays.append(short)
    st = store()
    patient = open_record(st, patient_id, "adding a reminder")
    rule: dict = {"times": [t.strftime("%H:%M") for t in wall_times], "weekdays": weekdays}
    if medicine:
        wanted = " ".join(medicine.split()).casefold()
        medicines = st.medications.for_patient(patient.id)
        found = [m for m in medicines if m.label.casefold() == wanted or f"{m.name} {m.dose}".casefold() == wanted]
        found = found or [m for m in medicines if m.name.casefold() == wanted]
        if not found:
            raise click.ClickException(f"patient {patient.short_id} has no medicine {medicine!r}; "
                                       "`lowband meds add` first")
        if len(found) > 1:
            raise click.ClickException(f"patient {patient.short_id} has {len(found)} medicines called {medicine!r}: "
                                       f"say which, like {found[0].name + ' ' + found[0].dose!r}")
        rule.update(kind="medicine", medication_id=found[0].id, label=found[0].label)
    else:
        rule.update(kind="reading", reading=reading)
    if until:
        rule["until"] = _end_of(until, patient.time_zone)
    twin = next((r for r in st.reminders.for_patient(patient.id) if _same(r.rule, rule)), None)
    if twin is not None:
        raise click.ClickException(f"patient {patient.short_id} already has this reminder ({twin.id})")
    began = parse_moment(start, "--start") if start else st.now()
    # A start in the past is allowed (a treatment begun last week); the dispatcher catches
    # up at once rather than a day per pass.
    due, send = schedule(rule, patient.time_zone, began)
    if due is None:
        raise click.ClickException("that reminder would never go out (its last day has passed)")
    quiet = [t.strftime("%H:%M") for t in wall_times if in_quiet_hours(
        datetime.combine(datetime.now().date(), t, tzinfo=ZoneInfo(patient.time_zone)), patient.time_zone)]
    if quiet:
        click.echo(f"Note: {', '.join(quiet)} is in the quiet hours (21:00-07:00): it goes out at 07:00, or not at "
                   "all when another dose is due by then.", err=True)
    reminder = _save(st, patient, rule, due, send)
    click.echo(f"Reminder {reminder.id} for patient {patient.short_id}: next at {_local(send, patient.time_zone)} "
               f"({patient.time_zone}).")


def _save(st, patient, rule: dict, due: str, send: str):
    """The new rule and its audit entry, in one transaction."""
    with st.write():
        reminder = st.reminders.add(patient.id, rule, due, send)
        st.audit.record("cli", "reminder.add", f"patient:{patient.short_id}", f"reminder:{reminder.id}")
    return reminder


def _add_appointment(patient_id: str, at: datetime) -> None:
    st = store()
    patient = open_record(st, patient_id, "adding a reminder")
    if at <= st.now():
        raise click.ClickException("that appointment is in the past")
    rule = {"kind": "appointment", "appointment": iso(at), "at": appointment_times(at, patient.time_zone)}
    due, send = schedule(rule, patient.time_zone, st.now())
    if due is None:
        raise click.ClickException("that appointment is too soon to remind of (less than 2 hours away)")
    if datetime.fromisoformat(send) >= at:
        # Night visits: both reminders fall in the quiet hours and would be held past it.
        raise click.ClickException("its reminders would fall in the patient's quiet hours (21:00-07:00) and "
                                   "wait until after the visit; tell the patient another way")
    if any(r.rule.get("appointment") == rule["appointment"] for r in st.reminders.for_patient(patient.id)):
        raise click.ClickException(f"patient {patient.short_id} is already reminded of that visit")
    reminder = _save(st, patient, rule, due, send)
    click.echo(f"Reminder {reminder.id} for patient {patient.short_id}: the visit on "
               f"{_local(rule['appointment'], patient.time_zone)}, reminded from {_local(send, patient.time_zone)}.")


def _end_of(text: str, zone: str) -> str:
    """--until: a time with its offset, or a date, meaning the end of that day where the
    patient lives (not in UTC: in New York that would lose the evening dose)."""
    if "T" in text:
        return iso(parse_moment(text, "--until"))
    try:
        day = datetime.fromisoformat(text).date()
    except ValueError:
        raise click.ClickException("--until is a date like 2026-12-31, or a time with its offset") from None
    return iso(datetime.combine(day, datetime.max.time(), tzinfo=ZoneInfo(zone)).replace(microsecond=0))


def _same(one: dict, other: dict) -> bool:
    keys = ("kind", "medication_id", "reading", "times", "weekdays")
    return all(one.get(k) == other.get(k) for k in keys)


def _local(moment: str, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


@reminders.command("list")
@click.argument("patient_id", required=False)
@json_option
def reminders_list(patient_id: str | None, as_json: bool) -> None:
    """Active reminders (of one patient, or all), next first, in each patient's time."""
    st = store()
    chosen = [find_patient(st, patient_id)] if patient_id else None
    found = (st.reminders.for_patient(chosen[0].id) if chosen else st.reminders.active())
    patients = {p.id: p for p in (chosen or st.patients.all())}
    rows = []
    for r in found:
        patient = patients.get(r.patient_id) or st.patients.get(r.patient_id)
        kind = r.rule["kind"]
        what = {"medicine": r.rule.get("label"), "refill": f"refill of {r.rule.get('label')}",
                "appointment": "appointment", "followup": f"follow-up of {r.rule.get('ref')}"}.get(kind) or (
            f"{r.rule.get('reading')} reading")
        times = ",".join(r.rule["times"]) if "times" in r.rule else _local(r.rule.get("appointment") or
                                                                           r.rule["at"][-1], patient.time_zone)
        rows.append({"id": r.id, "patient": patient.short_id, "what": what, "times": times,
                     "days": ",".join(r.rule.get("weekdays") or ["every day"]) if "times" in r.rule else "-",
                     "next": _local(r.next_send_at, patient.time_zone) if r.next_send_at else "-"})
    emit(rows, as_json, [("id", "ID"), ("patient", "PATIENT"), ("what", "WHAT"), ("times", "TIMES"),
                         ("days", "DAYS"), ("next", "NEXT (LOCAL)")], "No reminders.")


@reminders.command("remove")
@click.argument("reminder_id", type=int)
def reminders_remove(reminder_id: int) -> None:
    """Stop a reminder (its history is kept)."""
    st = store()
    try:
        st.reminders.get(reminder_id)
    except NotFound:
        raise click.ClickException(f"no reminder {reminder_id}; see `lowband reminders list`") from None
    with st.write():
        if not st.reminders.remove(reminder_id):
            raise click.ClickException(f"reminder {reminder_id} is already stopped")
        st.audit.record("cli", "reminder.remove", f"reminder:{reminder_id}")
    click.echo(f"Reminder {reminder_id} stopped.")


@reminders.command("pause")
@click.argument("reminder_id", type=int)
@click.option("--days", type=click.IntRange(0, 365), required=True, help="How many days; 0 starts it again now.")
def reminders_pause(reminder_id: int, days: int) -> None:
    """Hold a reminder for some days (a stay in hospital, a trip), or start it again."""
    st = store()
    try:
        reminder = st.reminders.get(reminder_id)
    except NotFound:
        raise click.ClickException(f"no reminder {reminder_id}; see `lowband reminders list`") from None
    if not reminder.active:
        raise click.ClickException(f"reminder {reminder_id} is stopped; add it again to start it")
    until = iso(st.now() + timedelta(days=days)) if days else None
    with st.write():
        st.reminders.pause(reminder.id, until)
        st.audit.record("cli", "reminder.pause", f"reminder:{reminder.id}", f"days={days}")
    click.echo(f"Reminder {reminder.id} paused until {until}." if until else f"Reminder {reminder.id} is on again.")


@reminders.command("due")
@click.option("--at", "at", help="The moment to ask about (ISO with offset); now when left out.")
@json_option
def reminders_due(at: str | None, as_json: bool) -> None:
    """What a dispatcher pass would send at that moment, without sending anything."""
    from lowband.wiring import conversation_service

    st = runtime().store()
    moment = parse_moment(at, "--at") if at else st.now()
    service = conversation_service(settings())
    rows = [{"id": r.id, "patient": st.patients.get(r.patient_id).short_id, "due": r.next_due_at,
             "send_at": r.next_send_at, "to": phone if as_json else phone[:4] + "...", "text": text}
            for r, phone, text in due_now(st, service, moment)]
    emit(rows, as_json, [("id", "ID"), ("patient", "PATIENT"), ("send_at", "SEND AT (UTC)"), ("text", "TEXT")],
         f"Nothing due at {iso(moment)}.")
