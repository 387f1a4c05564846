"""What every way of enrolling from the CLI shares: finding patients and CHWs by what the
admin types, and the checks before enrolling (the same person twice, a full phone)."""

from __future__ import annotations

import click

from flows.enrolment import NewPatient, clean_phone, looks_like_text
from flows.patient_flows import MAX_PROFILES
from flows.phones import mask
from lowband.cli.base import settings
from storage import Store
from storage.patients import Patient
from storage.staff import StaffUser


def find_patient(s: Store, patient_id: str) -> Patient:
    """The patient an admin named by short ID, closed records included (the command
    decides what it may do with one)."""
    patient = s.patients.by_short_id(patient_id.strip(), include_closed=True)
    if patient is None:
        from storage.short_ids import is_valid

        hint = "" if is_valid(patient_id.strip()) else " (its check digit is wrong: a digit mistyped?)"
        raise click.ClickException(f"no patient with ID {patient_id}{hint}")
    return patient


def open_record(s: Store, patient_id: str, doing: str) -> Patient:
    """find_patient, refusing a closed record (what it would be `doing` reaches no one)."""
    patient = find_patient(s, patient_id)
    if not patient.active:
        raise click.ClickException(f"patient {patient.short_id} is closed; {closed_hint(s, patient)} before {doing}")
    return patient


def closed_hint(s: Store, patient: Patient) -> str:
    if patient.merged_into:
        return f"it was merged into patient {s.patients.get(patient.merged_into).short_id}: use that record"
    return f"reopen it with `lowband patients reopen {patient.short_id}`"


def chw_id_for(s: Store, chw_phone: str | None) -> int | None:
    if not chw_phone:
        return None
    chw = s.staff.by_phone(clean_phone(chw_phone, settings().region))
    if chw is None or chw.role != "chw":
        raise click.ClickException("no CHW with that phone number; add one with `lowband users add --role chw`")
    return chw.id


def lookalikes(s: Store, details: NewPatient) -> list[Patient]:
    """Patients who are probably this person. The clinic's CLI looks across every
    patient, not one CHW's panel: the same person may be on another panel, or none."""
    index = s.phone_index(details.phone) if details.phone else None
    return s.patients.likely_duplicates(details.name, phone_index=index, birth_year=details.birth_year)


def looks_like(matches: list[Patient], details: NewPatient) -> str:
    """Why the admin is stopped, like: looks like patient 4376 (same name and birth year).
    Short IDs only, never names."""
    first = matches[0]
    return looks_like_text(
        [p.short_id for p in matches], same_phone=bool(details.phone) and first.phone == details.phone,
        same_birth_year=details.birth_year is not None and first.birth_year == details.birth_year)


def phone_full(s: Store, phone: str | None) -> str | None:
    """Why one more patient cannot go on this phone, or None when there is room."""
    if not phone:
        return None
    if s.staff.by_phone(phone):
        # Texts from a staff number are read as staff commands: this patient's readings,
        # an urgent one included, would never reach the patient side.
        return (f"{mask(phone)} is a staff number (staff texts are read as commands, so the patient's "
                "readings would never reach their record); use the patient's own phone, or none")
    already = s.patients.count_on_phone(s.phone_index(phone))
    if already < MAX_PROFILES:
        return None
    return f"{mask(phone)} already has {already} patients, the most one phone can choose between"


def enrol(s: Store, details: NewPatient, chw_id: int | None, *, allow_duplicate: bool = False) -> Patient:
    """Enrol after the checks, in one transaction (so two admins cannot both slip past)."""
    with s.write():
        matches = lookalikes(s, details)
        if matches and not allow_duplicate:
            raise click.ClickException(
                f"this person {looks_like(matches, details)}; use --allow-duplicate to enrol anyway"
            )
        problem = phone_full(s, details.phone)
        if problem:
            raise click.ClickException(problem)
        patient = s.patients.add(**vars(details), chw_id=chw_id)
        detail = f"allow_duplicate={','.join(p.short_id for p in matches)}" if matches else ""
        s.audit.record("cli", "patient.enrol", f"patient:{patient.short_id}", detail)
    return patient


def staff_phone_problem(s: Store, phone: str, user_id: int | None = None) -> str | None:
    """Why this number cannot be a staff user's (user_id: the user it would be for), or None."""
    holder = s.staff.by_phone(phone, include_inactive=True)
    if holder is not None and holder.id != user_id:
        inactive = " (deactivated)" if not holder.active else ""
        return f"{mask(phone)} already belongs to another staff user{inactive}; each needs a number of their own"
    if s.patients.count_on_phone(s.phone_index(phone)):
        # Staff texts are read as commands: the patients on this phone would lose the
        # patient service, their urgent readings included.
        return (f"{mask(phone)} is a patient's phone (staff texts are read as commands, so its patients' "
                "readings would never reach their records); staff need a number of their own")
    return None


def find_staff(s: Store, phone_or_email: str) -> StaffUser:
    """The staff user (active or not) an admin named by phone number or email."""
    typed = phone_or_email.strip()
    if "@" in typed:
        found = s.staff.by_email(typed)
        if len(found) > 1:
            raise click.ClickException(f"{len(found)} staff users have that email; name them by phone number")
        user = found[0] if found else None
    else:
        user = s.staff.by_phone(clean_phone(typed, settings().region), include_inactive=True)
    if user is None:
        raise click.ClickException("no staff user with that phone number or email; see `lowband users list`")
    return user
