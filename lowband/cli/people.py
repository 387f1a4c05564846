"""Patients, their medicines, and staff users."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from flows.enrolment import EnrolmentError, NewPatient, clean_name, clean_phone, new_patient
from lowband.cli.base import emit, json_option, settings, store, this_year
from lowband.settings import Settings
from storage import Store
from storage.patients import Patient
from storage.staff import ROLES


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


def _find_patient(s: Store, patient_id: str) -> Patient:
    patient = s.patients.by_short_id(patient_id.strip())
    if patient is None:
        from storage.short_ids import is_valid

        hint = "" if is_valid(patient_id.strip()) else " (its check digit is wrong: a digit mistyped?)"
        raise click.ClickException(f"no patient with ID {patient_id}{hint}")
    return patient


def _chw_id(s: Store, chw_phone: str | None) -> int | None:
    if not chw_phone:
        return None
    chw = s.staff.by_phone(clean_phone(chw_phone, settings().region))
    if chw is None or chw.role != "chw":
        raise click.ClickException("no CHW with that phone number; add one with `lowband users add --role chw`")
    return chw.id


def _enrol(s: Store, details: NewPatient, chw_id: int | None) -> Patient:
    with s.write():
        patient = s.patients.add(**vars(details), chw_id=chw_id)
        s.audit.record("cli", "patient.enrol", f"patient:{patient.short_id}")
    return patient


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
def patients_add(name, phone, birth_year, sex, language, time_zone, chw_phone) -> None:
    """Enrol a patient; prints the short ID to give them."""
    s = settings()
    details = new_patient(
        name=name, phone=phone, region=s.region, this_year=this_year(), birth_year=birth_year,
        sex=sex, language=language, time_zone=time_zone, fallback_time_zone=s.time_zone,
    )
    st = store()
    patient = _enrol(st, details, _chw_id(st, chw_phone))
    click.echo(f"Enrolled patient {patient.short_id} ({patient.time_zone}).")


@patients.command("list")
@json_option
def patients_list(as_json: bool) -> None:
    """List every patient."""
    st = store()
    chws = {u.id: u.name for u in st.staff.all("chw")}
    rows = (_patient_row(st, p, chws) for p in st.patients.all())
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
    """Show one patient (by short ID) and their medicines."""
    st = store()
    patient = _find_patient(st, patient_id)
    chws = {u.id: u.name for u in st.staff.all("chw")}
    row = _patient_row(st, patient, chws)
    row["medicines"] = [m.label for m in st.medications.for_patient(patient.id)]
    if as_json:
        click.echo(json.dumps(row, ensure_ascii=False))
        return
    for key, value in row.items():
        if key == "medicines":
            value = "; ".join(value) or "-"
        click.echo(f"{key.replace('_', ' '):<11} {value if value not in (None, '') else '-'}")


@patients.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def patients_import(csv_file: Path) -> None:
    """Enrol patients from a CSV file with a header row.

    Columns: name, phone, birth_year, sex, language, tz, chw (only name is required).
    Nothing is imported unless every row is valid; errors name the line.
    """
    s, st = settings(), store()
    try:
        pending = _read_import(csv_file, s, st)
    except UnicodeDecodeError:
        raise click.ClickException(f"{csv_file} is not UTF-8 text; save it as \"CSV UTF-8\" and try again") from None
    except csv.Error as error:
        raise click.ClickException(f"{csv_file} is not a readable CSV file ({error}); nothing imported") from None
    with st.write():
        for details, chw_id in pending:
            _enrol(st, details, chw_id)
    click.echo(f"Imported {len(pending)} patients.")


def _read_import(csv_file: Path, s: Settings, st: Store) -> list[tuple[NewPatient, int | None]]:
    with csv_file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "name" not in [f.strip().lower() for f in reader.fieldnames]:
            raise click.ClickException(f"{csv_file} needs a header row with at least a 'name' column")
        pending = []
        for raw in reader:
            line = reader.line_num  # the file's own line number, blank lines included
            if None in raw:  # DictReader files values beyond the header under the key None
                raise click.ClickException(
                    f"{csv_file} line {line}: more values than the header has columns; nothing imported"
                )
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            try:
                details = new_patient(
                    name=row.get("name", ""), phone=row.get("phone") or None, region=s.region,
                    this_year=this_year(), birth_year=row.get("birth_year") or None,
                    sex=row.get("sex") or None, language=row.get("language") or "en",
                    time_zone=row.get("tz") or None, fallback_time_zone=s.time_zone,
                )
                chw_id = _chw_id(st, row.get("chw") or None)
            except (EnrolmentError, click.ClickException) as error:
                message = error.message if isinstance(error, click.ClickException) else str(error)
                raise click.ClickException(f"{csv_file} line {line}: {message}; nothing imported") from None
            pending.append((details, chw_id))
    return pending


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
    patient = _find_patient(st, patient_id)
    changes: dict = {}
    if discreet is not None:
        changes["discreet"] = int(discreet)
    if language:
        changes["language"] = clean_language(language)
    if time_zone:
        changes["time_zone"] = clean_time_zone(time_zone)
    if chw_phone:
        changes["chw_id"] = _chw_id(st, chw_phone)
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
    patient = _find_patient(st, patient_id)
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
    patient = _find_patient(st, patient_id)
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
        user = st.staff.add(role=role, name=user_name, phone=e164, email=(email or "").strip() or None)
        st.audit.record("cli", "staff.add", f"staff:{user.id}", f"role={role}")
    click.echo(f"Added {role} {user.name}.")


@users.command("list")
@json_option
def users_list(as_json: bool) -> None:
    """List staff users."""
    rows = (
        {"role": u.role, "name": u.name, "phone": u.phone, "email": u.email, "active": u.active}
        for u in store().staff.all()
    )
    emit(rows, as_json, [("role", "ROLE"), ("name", "NAME"), ("phone", "PHONE"), ("email", "EMAIL")],
         "No staff users yet. Add one with `lowband users add`.")
