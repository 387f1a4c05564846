"""Patients, their medicines, and staff users."""

from __future__ import annotations

import json

import click

from flows.enrolment import clean_name, clean_phone, new_patient
from flows.phones import mask
from lowband.cli.base import emit, json_option, listing, settings, sound, store, this_year
from lowband.cli.enrolling import chw_id_for, enrol, find_patient
from lowband.cli.readings import reading_lines, reading_rows
from storage import Store
from storage.patients import Patient
from storage.staff import ROLES

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
def patients_list(as_json: bool) -> None:
    """List every patient."""
    view = listing()
    chws = chw_names(view)
    rows = [_patient_row(view, p, chws) for p in sound(view.patients.all())]
    emit(
        rows, as_json,
        [("id", "ID"), ("name", "NAME"), ("phone", "PHONE"), ("birth_year", "BORN"), ("sex", "SEX"),
         ("language", "LANG"), ("time_zone", "TIME ZONE"), ("chw", "CHW")],
        "No patients yet. Add one with `lowband patients add`.",
    )


@patients.command("show")
@click.argument("patient_id")
@json_option
def patients_show(patient_id: str, as_json: bool) -> None:
    """Show one patient (by short ID), their medicines and latest readings.

    With --json: the patient on the first line, then every reading, newest first,
    one a line.
    """
    st, view = store(), listing()
    patient = find_patient(st, patient_id)
    row = _patient_row(st, patient, chw_names(view))
    row["medicines"] = [m.label for m in sound(view.medications.for_patient(patient.id))]
    readings = sound(view.readings.newest_for(patient.id, None if as_json else SHOWN_READINGS))
    total = view.readings.count_for(patient.id)
    if as_json:
        click.echo(json.dumps({**row, "readings": total}, ensure_ascii=False))
        for reading in reading_rows(patient, readings):
            click.echo(json.dumps(reading, ensure_ascii=False))
        return
    for key, value in row.items():
        if key == "medicines":
            value = "; ".join(value) or "-"
        click.echo(f"{key.replace('_', ' '):<11} {value if value not in (None, '') else '-'}")
    shown = f"{total}" if total <= len(readings) else f"{total}, the {len(readings)} newest shown (--json lists all)"
    click.echo(f"{'readings':<11} {shown if total else '-'}")
    for line in reading_lines(view, patient, readings):
        click.echo(f"  {line}")


@patients.command("set")
@click.argument("patient_id")
@click.option("--discreet/--no-discreet", default=None,
              help="Discreet: no SMS names a condition or medicine until the patient's PIN.")
@click.option("--language", help="en, sw, fr or es.")
@click.option("--tz", "time_zone", help="IANA time zone, like Africa/Nairobi.")
@click.option("--chw", "chw_phone", help="Phone of the CHW who visits this patient.")
def patients_set(patient_id: str, discreet: bool | None, language: str | None, time_zone: str | None,
                 chw_phone: str | None) -> None:
    """Change a patient's settings."""
    from flows.enrolment import clean_language, clean_time_zone

    st = store()
    patient = find_patient(st, patient_id)
    changes: dict = {}
    if discreet is not None:
        changes["discreet"] = int(discreet)
    if language:
        changes["language"] = clean_language(language)
    if time_zone:
        changes["time_zone"] = clean_time_zone(time_zone)
    if chw_phone:
        changes["chw_id"] = chw_id_for(st, chw_phone)
    if not changes:
        raise click.ClickException("nothing to change; see `lowband patients set --help`")
    with st.write():
        st.patients.update(patient.id, **changes)
        st.audit.record("cli", "patient.update", f"patient:{patient.short_id}", ",".join(sorted(changes)))
    click.echo(f"Updated patient {patient.short_id}: {', '.join(sorted(changes))}.")


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
def meds_add(patient_id: str, name: str, dose: str, quantity: int | None) -> None:
    """Add a medicine to a patient (by short ID)."""
    st = store()
    patient = find_patient(st, patient_id)
    name, dose = name.strip(), dose.strip()
    if not name or not dose or len(name) > 40 or len(dose) > 20:
        raise click.ClickException("give a medicine name (up to 40 characters) and a dose (up to 20)")
    with st.write():
        medication = st.medications.add(patient.id, name=name, dose=dose, quantity=quantity)
        st.audit.record("cli", "medication.add", f"patient:{patient.short_id}")
    click.echo(f"Added {medication.label} for patient {patient.short_id}.")


@click.group()
def users() -> None:
    """Staff users: clinicians, pharmacists, CHWs, supervisors, admins."""


@users.command("add")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What this person does.")
@click.option("--name", required=True, help="Full name.")
@click.option("--phone", required=True, help="Phone number they text from.")
@click.option("--email", help="Email address (optional).")
def users_add(role: str, name: str, phone: str, email: str | None) -> None:
    """Add a staff user."""
    st = store()
    user_name = clean_name(name)
    e164 = clean_phone(phone, settings().region)
    with st.write():
        if st.patients.count_on_phone(st.phone_index(e164)):
            # Staff texts are read as commands: the patients on this phone would lose the
            # patient service, their urgent readings included.
            raise click.ClickException(f"{mask(e164)} is a patient's phone; staff need a number of their own")
        user = st.staff.add(role=role, name=user_name, phone=e164, email=(email or "").strip() or None)
        st.audit.record("cli", "staff.add", f"staff:{user.id}", f"role={role}")
    click.echo(f"Added {role} {user.name}.")


@users.command("list")
@json_option
def users_list(as_json: bool) -> None:
    """List staff users."""
    rows = (
        {"role": u.role, "name": u.name, "phone": u.phone, "email": u.email, "active": u.active}
        for u in sound(listing().staff.all())
    )
    emit(rows, as_json, [("role", "ROLE"), ("name", "NAME"), ("phone", "PHONE"), ("email", "EMAIL")],
         "No staff users yet. Add one with `lowband users add`.")
