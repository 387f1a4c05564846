"""Correcting the clinic's patient records: a patient's details, two records of one
person merged into one, and a record closed (or reopened).

Every change is audited by short ID and field names, never by a value; a reason an
admin gives is kept, sealed, in the audit log (the help says admins read it)."""

from __future__ import annotations

import click

from flows.enrolment import (
    NewPatient,
    clean_birth_year,
    clean_language,
    clean_name,
    clean_phone,
    clean_sex,
    clean_time_zone,
)
from flows.phones import mask
from lowband.cli.base import REASON_HELP, clean_reason, settings, store, this_year
from lowband.cli.enrolling import chw_id_for, closed_hint, find_patient, lookalikes, looks_like, phone_full
from storage import Store
from storage.patients import Patient


def forget_conversation(st: Store, phone: str | None, patient_id: int, replacement: int | None = None) -> None:
    """The conversation open on `phone` for this patient, if any: handed to `replacement`
    (the same person's record on the same phone) or ended, so no half-done task stores
    or shows anything under a record that no longer answers on this phone."""
    if not phone:
        return
    index = st.phone_index(phone)
    state = st.sessions.load(index)
    if not state or state.get("patient_id") != patient_id:
        return
    if replacement is None:
        st.sessions.delete(index)
    else:
        st.sessions.save(index, {**state, "patient_id": replacement})


def refuse_lookalikes(st: Store, patient: Patient, details: NewPatient, allow_duplicate: bool, doing: str) -> str:
    """Stop when, with these details, the patient looks like another record (H20);
    returns the audit note when the admin said --allow-duplicate."""
    matches = [p for p in lookalikes(st, details) if p.id != patient.id]
    if not matches:
        return ""
    if not allow_duplicate:
        raise click.ClickException(
            f"{doing}, patient {patient.short_id} {looks_like(matches, details)}; merge the records with "
            f"`lowband patients merge {matches[0].short_id} {patient.short_id} --reason ...`, or use --allow-duplicate"
        )
    return f" allow_duplicate={','.join(p.short_id for p in matches)}"


def details_of(patient: Patient, changes: dict) -> NewPatient:
    merged = {**{k: getattr(patient, k) for k in ("name", "phone", "birth_year", "sex", "language", "time_zone")},
              **{k: v for k, v in changes.items() if k in NewPatient.__dataclass_fields__}}
    return NewPatient(**merged)


@click.command("set")
@click.argument("patient_id")
@click.option("--name", help='Full name, e.g. "Amina Zawadi".')
@click.option("--phone", help="New phone number (refused for a staff number or a phone already holding 4 patients).")
@click.option("--birth-year", help="Year of birth, e.g. 1968.")
@click.option("--sex", type=click.Choice(["F", "M"], case_sensitive=False), help="F or M.")
@click.option("--discreet/--no-discreet", default=None,
              help="Discreet: no SMS names a condition or medicine until the patient's PIN.")
@click.option("--calls/--texts", "prefers_voice", default=None,
              help="Reminders as phone calls (for someone who cannot read), or as SMS.")
@click.option("--language", help="en, sw, fr or es.")
@click.option("--tz", "time_zone", help="IANA time zone, like Africa/Nairobi.")
@click.option("--chw", "chw_phone", help="Phone of the CHW who visits this patient.")
@click.option("--allow-duplicate", is_flag=True,
              help="Change even though the new details look like another patient's record.")
def patients_set(patient_id: str, name: str | None, phone: str | None, birth_year: str | None, sex: str | None,
                 discreet: bool | None, prefers_voice: bool | None, language: str | None, time_zone: str | None,
                 chw_phone: str | None, allow_duplicate: bool) -> None:
    """Change a patient's details or settings.

    A new phone is refused when it is a staff number (staff texts are read as commands,
    so the patient's readings would never reach them) or already holds as many patients
    as its picker shows. New details that look like another record are refused unless
    --allow-duplicate. The audit log names the fields changed, never their values.
    """
    changes: dict = {}
    if name is not None:
        changes["name"] = clean_name(name)
    if phone is not None:
        changes["phone"] = clean_phone(phone, settings().region)
    if birth_year is not None:
        changes["birth_year"] = clean_birth_year(birth_year, this_year())
    if sex:
        changes["sex"] = clean_sex(sex)
    if discreet is not None:
        changes["discreet"] = int(discreet)
    if prefers_voice is not None:
        changes["prefers_voice"] = int(prefers_voice)
    if language:
        changes["language"] = clean_language(language)
    if time_zone:
        changes["time_zone"] = clean_time_zone(time_zone)
    st = store()
    if chw_phone:
        changes["chw_id"] = chw_id_for(st, chw_phone)
    if not changes:
        raise click.ClickException("nothing to change; see `lowband patients set --help`")
    with st.write():
        patient = find_patient(st, patient_id)
        if "phone" in changes:
            if changes["phone"] == patient.phone:
                raise click.ClickException(f"patient {patient.short_id} already has that phone")
            problem = phone_full(st, changes["phone"])
            if problem:
                raise click.ClickException(problem)
        note = ""
        if {"name", "phone", "birth_year"} & changes.keys():
            note = refuse_lookalikes(st, patient, details_of(patient, changes), allow_duplicate, "with these details")
        st.patients.update(patient.id, **changes)
        if "phone" in changes:
            forget_conversation(st, patient.phone, patient.id)
        st.audit.record("cli", "patient.update", f"patient:{patient.short_id}", ",".join(sorted(changes)) + note)
    click.echo(f"Updated patient {patient.short_id}: {', '.join(sorted(changes))}.")


@click.command("close")
@click.argument("patient_id")
@click.option("--reason", required=True, help=REASON_HELP)
def patients_close(patient_id: str, reason: str) -> None:
    """Close a patient's record (moved away, died, or no longer a patient here).

    Nothing is deleted. The record leaves its phone's list of people, its CHW's TASKS
    and `patients list`; texts from its phone are answered as if it were not there, and
    its ID reaches no one by SMS. For the same person enrolled twice, use `merge`.
    Undo with `lowband patients reopen`.
    """
    reason = clean_reason(reason)
    st = store()
    with st.write():
        patient = find_patient(st, patient_id)
        if not patient.active:
            raise click.ClickException(f"patient {patient.short_id} is already closed ({closed_hint(st, patient)})")
        st.patients.close(patient.id)
        forget_conversation(st, patient.phone, patient.id)
        st.audit.record("cli", "patient.closed", f"patient:{patient.short_id}", f"reason={reason}")
        still_open = _open_requests(st, patient.id)
    click.echo(f"Closed patient {patient.short_id}; `lowband patients reopen {patient.short_id}` undoes it.")
    if still_open:
        click.echo(f"Still open for them: {still_open} (answer or close them as usual).")


def _open_requests(st: Store, patient_id: int) -> str:
    counts = [
        (st.one("SELECT count(*) FROM alerts WHERE patient_id = ? AND status = 'open'", (patient_id,))[0], "alert"),
        (st.one("SELECT count(*) FROM consults WHERE patient_id = ? AND status = 'open'", (patient_id,))[0],
         "consultation"),
        (st.one("SELECT count(*) FROM refills WHERE patient_id = ? AND status = 'requested'", (patient_id,))[0],
         "refill request"),
    ]
    return ", ".join(f"{n} {what}{'s' if n > 1 else ''}" for n, what in counts if n)


@click.command("reopen")
@click.argument("patient_id")
@click.option("--allow-duplicate", is_flag=True,
              help="Reopen even though the record looks like another open patient's.")
def patients_reopen(patient_id: str, allow_duplicate: bool) -> None:
    """Reopen a closed patient's record.

    Refused for a record merged into another (its history is there now), when its phone
    has since become a staff number or holds as many patients as its picker shows, and
    when it looks like another open record (unless --allow-duplicate).
    """
    st = store()
    with st.write():
        patient = find_patient(st, patient_id)
        if patient.active:
            raise click.ClickException(f"patient {patient.short_id} is not closed")
        if patient.merged_into:
            raise click.ClickException(f"patient {patient.short_id} is closed; {closed_hint(st, patient)}")
        problem = phone_full(st, patient.phone)
        if problem:
            raise click.ClickException(f"cannot reopen patient {patient.short_id}: {problem}")
        note = refuse_lookalikes(st, patient, details_of(patient, {}), allow_duplicate, "reopened")
        st.patients.reopen(patient.id)
        st.audit.record("cli", "patient.reopened", f"patient:{patient.short_id}", note.strip())
        chw_gone = patient.chw_id is not None and not st.staff.get(patient.chw_id).active
    click.echo(f"Reopened patient {patient.short_id}.")
    if chw_gone:
        click.echo(f"Their CHW is deactivated: give them another with `lowband patients set {patient.short_id} --chw`.")


@click.command("merge")
@click.argument("keep_id")
@click.argument("duplicate_id")
@click.option("--reason", required=True, help=REASON_HELP)
def patients_merge(keep_id: str, duplicate_id: str, reason: str) -> None:
    """Merge two records of one person: KEEP_ID keeps everything.

    DUPLICATE_ID's readings, alerts, refills, consultations, held messages and medicines
    move to KEEP_ID, and DUPLICATE_ID is closed (its ID then reaches no one by SMS), all
    in one transaction. KEEP_ID's name, phone, PIN and settings stay as they are.
    """
    reason = clean_reason(reason)
    st = store()
    with st.write():
        keep, duplicate = find_patient(st, keep_id), find_patient(st, duplicate_id)
        if keep.id == duplicate.id:
            raise click.ClickException(f"patient {keep.short_id} cannot be merged into itself")
        for patient in (keep, duplicate):
            if not patient.active:
                raise click.ClickException(f"patient {patient.short_id} is closed; {closed_hint(st, patient)}")
        moved = st.patients.merge(keep.id, duplicate.id)
        same_phone = bool(duplicate.phone) and duplicate.phone == keep.phone
        forget_conversation(st, duplicate.phone, duplicate.id, keep.id if same_phone else None)
        counts = " ".join(f"{table}={n}" for table, n in sorted(moved.items()) if n)
        st.audit.record("cli", "patient.merged", f"patient:{keep.short_id}",
                        f"from={duplicate.short_id} into={keep.short_id} {counts} reason={reason}".replace("  ", " "))
    summary = ", ".join(f"{n} {table.replace('_', ' ')}" for table, n in sorted(moved.items()) if n) or "nothing"
    click.echo(f"Merged patient {duplicate.short_id} into patient {keep.short_id} (moved {summary}); "
               f"{duplicate.short_id} is closed.")
    if duplicate.phone and not same_phone:
        click.echo(f"Patient {duplicate.short_id}'s phone {mask(duplicate.phone)} is on no open record now; "
                   f"if they text from it, `lowband patients set {keep.short_id} --phone` it.")
    if duplicate.chw_id and not keep.chw_id:
        click.echo(f"Patient {duplicate.short_id} had a CHW and {keep.short_id} has none: "
                   f"`lowband patients set {keep.short_id} --chw`.")
