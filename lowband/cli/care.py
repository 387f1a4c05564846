"""The clinic's view of care: who is on call, and the alerts, refills and consultations
waiting for someone."""

from __future__ import annotations

import click

from flows.enrolment import clean_phone
from lowband.cli.base import (
    emit,
    first,
    json_option,
    listing,
    newest,
    page_size,
    paging_options,
    parse_moment,
    settings,
    sound,
    store,
)
from storage.records import damage_in
from storage.store import iso


@click.group(short_help="The on-call rota for alerts and refills.")
def oncall() -> None:
    """The on-call rota: who gets alerts (clinicians) and refills (pharmacists).

    With no shift covering a moment, every clinician (or pharmacist) is on call.
    """


@oncall.command("add")
@click.option("--phone", required=True, help="The staff user's phone.")
@click.option("--from", "starts", required=True, help="Shift start, like 2026-11-22T08:00+03:00.")
@click.option("--until", "ends", required=True, help="Shift end, like 2026-11-22T20:00+03:00.")
def oncall_add(phone: str, starts: str, ends: str) -> None:
    """Put a staff user on call for a shift."""
    st = store()
    user = st.staff.by_phone(clean_phone(phone, settings().region))
    if user is None:
        raise click.ClickException("no staff user with that phone; add one with `lowband users add`")
    start, end = parse_moment(starts, "--from"), parse_moment(ends, "--until")
    if end <= start:
        raise click.ClickException("--until must be after --from")
    with st.write():
        shift = st.rota.add(user.id, iso(start), iso(end))
        st.audit.record("cli", "oncall.add", f"staff:{user.id}", f"shift={shift.id}")
    click.echo(f"{user.name} ({user.role}) is on call from {iso(start)} until {iso(end)}.")


@oncall.command("list")
@json_option
@paging_options
def oncall_list(as_json: bool, limit: int | None, show_all: bool) -> None:
    """Shifts now and to come, soonest first. Someone whose number texted STOP is
    skipped by the rota (nothing sent to them arrives): NOTE says so."""
    size = page_size(limit, show_all)
    st = listing()
    staff = {u.id: u for u in sound(st.staff.all())}
    stopped = {i for i, u in staff.items() if st.contacts.is_opted_out(st.phone_index(u.phone))}
    rows = [
        {"shift": s.id, "name": staff[s.staff_id].name if s.staff_id in staff else "?",
         "role": staff[s.staff_id].role if s.staff_id in staff else "?", "from": s.starts_at, "until": s.ends_at,
         "note": "skipped: texted STOP" if s.staff_id in stopped else ""}
        for s in first(st.rota.shifts(st.now_iso()), size)
    ]
    emit(rows, as_json, [("shift", "SHIFT"), ("name", "NAME"), ("role", "ROLE"), ("from", "FROM"),
                         ("until", "UNTIL"), ("note", "NOTE")], "No shifts: every clinician and pharmacist is on call.")
    if not rows and stopped and not as_json:
        click.echo(f"Skipped because they texted STOP: {', '.join(staff[i].name for i in sorted(stopped))}.", err=True)


@oncall.command("remove")
@click.argument("shift", type=int)
def oncall_remove(shift: int) -> None:
    """Remove a shift (its number from `oncall list`)."""
    st = store()
    with st.write():
        if not st.rota.remove(shift):
            raise click.ClickException(f"no shift {shift}; see `lowband users oncall list`")
        st.audit.record("cli", "oncall.remove", f"shift:{shift}")
    click.echo(f"Shift {shift} removed.")


def _patient_ids(st) -> dict[int, str]:
    return {p.id: p.short_id for p in sound(st.patients.all())}


@click.command()
@click.option("--status", type=click.Choice(["open", "acknowledged", "withdrawn"]), help="Only these.")
@click.option("--undelivered", is_flag=True, help="Only alerts no clinician or admin could be reached for.")
@json_option
@paging_options
def alerts(status: str | None, undelivered: bool, as_json: bool, limit: int | None, show_all: bool) -> None:
    """Alerts raised by readings and triage, and whether they reached anyone.

    DELIVERY is reached (a carrier took an alert SMS), pending (still trying, up to
    the other clinicians and the admins) or UNDELIVERED (nobody could be reached:
    phone the patient). The newest 50 unless --limit or --all.
    """
    size = page_size(limit, show_all)
    st = listing()
    ids = _patient_ids(st)
    found = [a for a in sound(st.alerts.list(status)) if not undelivered or a.delivery == "undelivered"]
    rows = [{"ref": a.ref, "patient": ids.get(a.patient_id), "status": a.status,
             "delivery": a.delivery.upper() if a.delivery == "undelivered" else a.delivery, "reason": a.reason,
             "raised": a.created_at} for a in newest(found, size)]
    emit(rows, as_json, [("ref", "REF"), ("patient", "PATIENT"), ("status", "STATUS"), ("delivery", "DELIVERY"),
                         ("raised", "RAISED"), ("reason", "REASON")], "No alerts.")


@click.command()
@click.option("--status", type=click.Choice(["requested", "ready", "refused"]), help="Only these.")
@json_option
@paging_options
def refills(status: str | None, as_json: bool, limit: int | None, show_all: bool) -> None:
    """Medicine refill requests and their answers.

    The newest 50 unless --limit or --all.
    """
    size = page_size(limit, show_all)
    st = listing()
    ids = _patient_ids(st)
    rows = []
    for r in newest(sound(st.refills.list(status)), size):
        medication = st.medications.get(r.medication_id)
        medicine = "(damaged record)" if damage_in(medication) else medication.label
        rows.append({"ref": r.ref, "patient": ids.get(r.patient_id), "medicine": medicine, "status": r.status,
                     "answer": r.answer, "asked": r.created_at, "flagged": r.flagged_at})
    emit(rows, as_json, [("ref", "REF"), ("patient", "PATIENT"), ("medicine", "MEDICINE"), ("status", "STATUS"),
                         ("asked", "ASKED"), ("flagged", "FLAGGED")], "No refill requests.")


@click.command()
@click.option("--status", type=click.Choice(["open", "closed"]), help="Only these.")
@json_option
@paging_options
def consults(status: str | None, as_json: bool, limit: int | None, show_all: bool) -> None:
    """Questions to the nurse.

    The newest 50 unless --limit or --all.
    """
    size = page_size(limit, show_all)
    st = listing()
    ids = _patient_ids(st)
    rows = [{"ref": c.ref, "patient": ids.get(c.patient_id), "status": c.status,
             "problem": c.summary.get("problem"), "days": c.summary.get("days"), "asked": c.created_at}
            for c in newest(sound(st.consults.list(status)), size)]
    emit(rows, as_json, [("ref", "REF"), ("patient", "PATIENT"), ("status", "STATUS"), ("problem", "PROBLEM"),
                         ("days", "DAYS"), ("asked", "ASKED")], "No consultations.")
