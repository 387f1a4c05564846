"""Patients, their medicines, and staff users."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from console.auth import hash_password, password_problem
from console.permissions import CONSOLE_ROLES
from flows.catalog import LIMITS
from flows.enrolment import clean_name, clean_phone, new_patient
from lowband.cli.base import (
    emit,
    first,
    json_option,
    listing,
    note_more,
    page_size,
    paging_options,
    settings,
    sound,
    store,
    this_year,
)
from lowband.cli.enrolling import chw_id_for, enrol, find_patient, open_record, staff_phone_problem
from lowband.cli.history import request_lines, request_rows
from lowband.cli.readings import reading_lines, reading_rows, when_local
from storage import Store
from storage.patients import Patient
from storage.staff import ROLES
from storage.store import iso

SHOWN_READINGS = 10


def _patient_row(store: Store, patient: Patient, chws: dict[int, str] | None = None) -> dict:
    return {
        "id": patient.short_id,
        "name": patient.name,
        "phone": patient.phone,
        "birth_year": patient.birth_year,
        "sex": patient.sex,
        "language": patient.language,
        "time_zone": patient.time_zone,
        "chw": (chws or {}).get(patient.chw_id) if patient.chw_id else None,
        "enrolled": patient.created_at,
    }


def chw_names(view: Store) -> dict[int, str]:
    """CHW names by id, through a listing view (a damaged CHW is left out)."""
    return {u.id: u.name for u in sound(view.staff.all("chw"))}


@click.group()
def patients() -> None:
    """Enrol, list and look up patients."""


@patients.command("add")
@click.option("--name", required=True, help='Full name, e.g. "Amina Zawadi".')
@click.option("--phone", help="Phone number; national form is read with LOWBAND_REGION.")
@click.option("--birth-year", help="Year of birth, e.g. 1968.")
@click.option("--sex", type=click.Choice(["F", "M"], case_sensitive=False), help="F or M.")
@click.option("--language", default="en", show_default=True, help="en, sw, fr or es.")
@click.option("--tz", "time_zone", help="IANA time zone; default: the phone number's own.")
@click.option("--chw", "chw_phone", help="Phone of the CHW who visits this patient.")
@click.option("--allow-duplicate", is_flag=True,
              help="Enrol even though a patient with the same name and phone or birth year exists.")
def patients_add(name, phone, birth_year, sex, language, time_zone, chw_phone, allow_duplicate) -> None:
    """Enrol a patient; prints the short ID to give them.

    Refused when the person looks already enrolled (same name and phone, or same name
    and birth year) unless --allow-duplicate, and when the phone already has as many
    patients as its picker can show.
    """
    s = settings()
    details = new_patient(
        name=name, phone=phone, region=s.region, this_year=this_year(), birth_year=birth_year,
        sex=sex, language=language, time_zone=time_zone, fallback_time_zone=s.time_zone,
    )
    st = store()
    patient = enrol(st, details, chw_id_for(st, chw_phone), allow_duplicate=allow_duplicate)
    click.echo(f"Enrolled patient {patient.short_id} ({patient.time_zone}).")


@patients.command("list")
@json_option
@click.option("--include-closed", is_flag=True, help="Closed records too, with when they were closed.")
@paging_options
def patients_list(as_json: bool, include_closed: bool, limit: int | None, show_all: bool) -> None:
    """List patients, in the order they were enrolled.

    The first 50 unless --limit or --all; closed records only with --include-closed.
    """
    size = page_size(limit, show_all)
    view = listing()
    chws = chw_names(view)
    total = view.patients.count_listed(include_closed=include_closed)
    listed = view.patients.listed(include_closed=include_closed, limit=size)
    rows = []
    for patient in sound(listed):
        row = _patient_row(view, patient, chws)
        if include_closed:
            row["closed_at"] = patient.closed_at
        rows.append(row)
    columns = [("id", "ID"), ("name", "NAME"), ("phone", "PHONE"), ("birth_year", "BORN"), ("sex", "SEX"),
               ("language", "LANG"), ("time_zone", "TIME ZONE"), ("chw", "CHW")]
    closed = 0 if include_closed or total else view.patients.count_listed(include_closed=True)
    empty = (f"No open patient records ({closed} closed; --include-closed lists them)." if closed
             else "No patients yet. Add one with `lowband patients add`.")
    emit(rows, as_json, columns + ([("closed_at", "CLOSED")] if include_closed else []), empty)
    note_more(len(listed), total)


@patients.command("show")
@click.argument("patient_id")
@json_option
def patients_show(patient_id: str, as_json: bool) -> None:
    """Show one patient (by short ID), their medicines and latest readings.

    Then their alerts, consultations and refill requests: reference, status and when.

    With --json: the patient on the first line, then every reading, newest first, one
    a line; then their alerts, consultations and refills, each with a "type" field.
    """
    st, view = store(), listing()
    patient = find_patient(st, patient_id)
    row = _patient_row(st, patient, chw_names(view))
    row["medicines"] = [m.label for m in sound(view.medications.for_patient(patient.id))]
    readings = sound(view.readings.newest_for(patient.id, None if as_json else SHOWN_READINGS))
    total = view.readings.count_for(patient.id)
    requests = request_rows(view, patient)
    merged_into = st.patients.get(patient.merged_into).short_id if patient.merged_into else None
    adherence = view.reminders.adherence(patient.id, iso(st.now() - timedelta(days=ADHERENCE_DAYS)))
    visits = [{"visit": at, "answer": answer} for at, answer in view.reminders.visit_answers(patient.id)]
    if as_json:
        counts = {f"{kind}s": len(rows) for kind, rows in requests.items()}
        head = {**row, "readings": total, **counts, "closed_at": patient.closed_at, "merged_into": merged_into,
                "adherence": adherence, "visits": visits}
        click.echo(json.dumps(head, ensure_ascii=False))
        for item in [*reading_rows(patient, readings), *(r for rows in requests.values() for r in rows)]:
            click.echo(json.dumps(item, ensure_ascii=False))
        return
    if patient.closed_at:
        row["closed"] = patient.closed_at + (f" (merged into patient {merged_into})" if merged_into else "")
    for key, value in row.items():
        if key == "medicines":
            value = "; ".join(value) or "-"
        click.echo(f"{key.replace('_', ' '):<11} {value if value not in (None, '') else '-'}")
    shown = f"{total}" if total <= len(readings) else f"{total}, the {len(readings)} newest shown (--json lists all)"
    click.echo(f"{'readings':<11} {shown if total else '-'}")
    for line in reading_lines(view, patient, readings):
        click.echo(f"  {line}")
    for kind, rows in requests.items():
        click.echo(f"{kind + 's':<11} {len(rows) or '-'}")
        for line in request_lines(rows, patient) if rows else []:
            click.echo(f"  {line}")
    click.echo(f"{'adherence':<11} {'-' if not adherence else f'last {ADHERENCE_DAYS} days, from reminders'}")
    for label, tally in adherence.items():
        click.echo(f"  {label}: {tally['taken']} taken, {tally['skipped']} skipped, "
                   f"{tally['unanswered']} not answered, {tally['missed']} missed")
    click.echo(f"{'visits':<11} {'-' if not visits else 'reminded, with the answer'}")
    for visit in visits:
        click.echo(f"  {when_local(visit['visit'], patient.time_zone)}: {visit['answer']}")


@patients.command("reset-pin")
@click.argument("patient_id")
def patients_reset_pin(patient_id: str) -> None:
    """Clear a forgotten or locked PIN.

    The patient chooses a new one at their next text.
    """
    st = store()
    patient = find_patient(st, patient_id)
    with st.write():
        st.patients.update(patient.id, pin_hash=None, pin_failures=0, locked_until=None)
        st.audit.record("cli", "pin.reset", f"patient:{patient.short_id}")
    click.echo(f"PIN reset for patient {patient.short_id}. They will choose a new one at their next text.")


@click.group()
def meds() -> None:
    """Record a patient's medicines."""


@meds.command("add")
@click.argument("patient_id")
@click.option("--name", required=True, help='Medicine, e.g. "Metformin".')
@click.option("--dose", required=True, help='Dose as the pharmacist writes it, e.g. "500mg".')
@click.option("--quantity", type=click.IntRange(1, 10000), help="Units dispensed per refill, e.g. 60.")
@click.option("--times", help="Remind the patient at these local times, like 08:00,20:00.")
@click.option("--per-day", type=click.FloatRange(0.1, 100), help="Units taken a day: with --quantity, a reminder "
              "to ask for a refill 3 days before they run out.")
def meds_add(patient_id: str, name: str, dose: str, quantity: int | None, times: str | None,
             per_day: float | None) -> None:
    """Add a medicine to a patient (by short ID), with reminders if --times."""
    st = store()
    patient = open_record(st, patient_id, "adding a medicine")
    name, dose = name.strip(), dose.strip()
    if not name or not dose or len(name) > 40 or len(dose) > 20:
        raise click.ClickException("give a medicine name (up to 40 characters) and a dose (up to 20)")
    label = f"{name} {dose}" + (f" x{quantity}" if quantity else "")
    if len(label) > MEDICINE_ROOM:
        # Longer would be cut in the SMS that name it ("Hydrochlorothiazide 25m.."): a
        # dose must never be shortened on a patient's or pharmacist's phone.
        raise click.ClickException(
            f"'{label}' is {len(label)} characters; SMS have room for {MEDICINE_ROOM}: shorten the name "
            "(e.g. HCTZ for hydrochlorothiazide)"
        )
    rule = None
    if times:
        from scheduler.reminders import parse_times

        try:
            rule = {"kind": "medicine", "times": [t.strftime("%H:%M") for t in parse_times(times)], "weekdays": []}
        except ValueError as error:
            raise click.ClickException(f"--times: {error}") from None
    with st.write():
        medication = st.medications.add(patient.id, name=name, dose=dose, quantity=quantity)
        st.audit.record("cli", "medication.add", f"patient:{patient.short_id}")
        if rule:
            from scheduler.reminders import schedule

            rule.update(medication_id=medication.id, label=medication.label)
            st.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, st.now()))
            st.audit.record("cli", "reminder.add", f"patient:{patient.short_id}")
        if quantity and per_day:
            from scheduler.reminders import refill_time, schedule

            refill = {"kind": "refill", "medication_id": medication.id, "label": medication.label,
                      "at": [refill_time(quantity, per_day, patient.time_zone, st.now())]}
            due, send = schedule(refill, patient.time_zone, st.now())
            if due:
                st.reminders.add(patient.id, refill, due, send)
                click.echo(f"A refill reminder goes out {send[:10]} (3 days before {quantity} run out).")
            else:
                click.echo(f"No refill reminder: {quantity} run out within 3 days; ask for the refill now.")
    click.echo(f"Added {medication.label} for patient {patient.short_id}"
               + (f", reminded at {', '.join(rule['times'])} ({patient.time_zone})." if rule else "."))


MEDICINE_ROOM = LIMITS["medicine"]
ADHERENCE_DAYS = 30


@click.group()
def users() -> None:
    """Staff users: clinicians, pharmacists, CHWs, supervisors, admins."""


@users.command("add")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What this person does.")
@click.option("--name", required=True, help="Full name.")
@click.option("--phone", required=True, help="Phone number they text from.")
@click.option("--email", help="Email address: their console sign-in (a password is asked for).")
def users_add(role: str, name: str, phone: str, email: str | None) -> None:
    """Add a staff user.

    With --email, a clinician, pharmacist, CHW supervisor or admin also gets a console
    sign-in: the password is asked for at a prompt, never given on the command line.
    """
    st = store()
    user_name = clean_name(name)
    e164 = clean_phone(phone, settings().region)
    email = (email or "").strip() or None
    console = email is not None and role in CONSOLE_ROLES
    if console:
        if st.console_logins.email_taken(email):
            raise click.ClickException("another staff user signs in with that email")
        password = ask_password()
    with st.write():
        problem = staff_phone_problem(st, e164)
        if problem:
            raise click.ClickException(problem)
        user = st.staff.add(role=role, name=user_name, phone=e164, email=email)
        if console:
            st.console_logins.set_password(user.id, email, hash_password(password))
        st.audit.record("cli", "staff.add", f"staff:{user.id}", f"role={role}")
    click.echo(f"Added {role} {user.name}." + (" They can sign in to the console." if console else ""))


def ask_password() -> str:
    """A console password, typed twice at a prompt (never an argument: shells keep those)."""
    password = click.prompt("Console password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem:
        raise click.ClickException(problem)
    return password


@users.command("password")
@click.argument("email")
def users_password(email: str) -> None:
    """Set a new console password for the user with this email; signs them out."""
    st = store()
    matches = [u for u in st.staff.by_email(email) if u.active]
    if not matches:
        raise click.ClickException("no active staff user with that email; add one with `lowband users add --email`")
    user = matches[0]
    if user.role not in CONSOLE_ROLES:
        raise click.ClickException(f"a {user.role} works by SMS and has no console sign-in")
    if st.console_logins.email_taken(email, by_other_than=user.id):
        raise click.ClickException("another staff user signs in with that email")
    password = ask_password()
    with st.write():
        st.console_logins.set_password(user.id, email, hash_password(password))
        st.audit.record("cli", "console.password_set", f"staff:{user.id}")
    click.echo(f"New console password set for {user.name}; their open console sessions are signed out.")


@users.command("list")
@json_option
@paging_options
def users_list(as_json: bool, limit: int | None, show_all: bool) -> None:
    """List staff users, deactivated ones too.

    The first 50 unless --limit or --all.
    """
    size = page_size(limit, show_all)
    rows = (
        {"role": u.role, "name": u.name, "phone": u.phone, "email": u.email, "active": u.active,
         "status": "active" if u.active else "deactivated"}
        for u in first(sound(listing().staff.all()), size)
    )
    emit(rows, as_json, [("role", "ROLE"), ("name", "NAME"), ("phone", "PHONE"), ("email", "EMAIL"),
                         ("status", "STATUS")],
         "No staff users yet. Add one with `lowband users add`.")
