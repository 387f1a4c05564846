"""Staff users who leave, come back, or change their number.

A staff number's texts are read as staff commands: a deactivated user's are not, and a
number is either a staff user's or patients', never both (staff_phone_problem)."""

from __future__ import annotations

import click

from flows.enrolment import clean_phone
from lowband.cli.base import settings, store
from lowband.cli.enrolling import chw_id_for, find_staff, staff_phone_problem
from storage import Store
from storage.staff import StaffUser

WHO = "PHONE_OR_EMAIL"
# Roles whose last active member leaves a duty with no one: urgent alerts (clinicians)
# and refill requests (pharmacists) would be sent to nobody.
SOLE_DUTY = {"clinician": "urgent alerts", "pharmacist": "refill requests"}


def _others_active(st: Store, user: StaffUser) -> int:
    return st.one("SELECT count(*) FROM staff WHERE role = ? AND active = 1 AND id != ?", (user.role, user.id))[0]


@click.command("deactivate")
@click.argument("who", metavar=WHO)
@click.option("--panel-to", help='Phone of the CHW who takes over this CHW\'s patients, or "none" to leave them '
                                 "without a CHW.")
def users_deactivate(who: str, panel_to: str | None) -> None:
    """Deactivate a staff user, named by phone number or email.

    For someone who has left, or lost their phone: from then on their texts are not read
    as staff commands, and they leave every shift not yet over. Refused for the last
    active clinician (urgent alerts would reach no clinician) or pharmacist, and for a CHW
    with patients until --panel-to says who takes them (messages for a patient without
    a phone go through their CHW).
    """
    st = store()
    with st.write():
        user = find_staff(st, who)
        if not user.active:
            raise click.ClickException(f"this {user.role} is already deactivated")
        if user.role in SOLE_DUTY and not _others_active(st, user):
            raise click.ClickException(f"this is the only active {user.role}: {SOLE_DUTY[user.role]} would reach "
                                       f"no {user.role}; add another with `lowband users add` first")
        panel = st.one("SELECT count(*) FROM patients WHERE chw_id = ? AND active = 1", (user.id,))[0]
        moved = 0
        if panel_to is not None:
            target = None if panel_to.strip().lower() == "none" else chw_id_for(st, panel_to)
            if target == user.id:
                raise click.ClickException("--panel-to names the CHW being deactivated; name another CHW, or none")
            moved = st.patients.move_panel(user.id, target)
        elif panel:
            raise click.ClickException(
                f"{panel} patient{'s have' if panel > 1 else ' has'} this CHW (messages for patients without a phone "
                "go through their CHW); say who takes them with --panel-to CHW_PHONE, or --panel-to none")
        shifts = st.staff.set_active(user.id, False)
        st.sessions.delete(st.phone_index(user.phone))
        st.audit.record("cli", "staff.deactivated", f"staff:{user.id}",
                        f"role={user.role} shifts_removed={shifts} panel_moved={moved}")
    click.echo(f"Deactivated {user.role} {user.name}: their texts are no longer staff commands"
               f"{f'; off {shifts} shift' + ('s' if shifts > 1 else '') if shifts else ''}"
               f"{f'; {moved} patients moved' if moved else ''}.")


@click.command("activate")
@click.argument("who", metavar=WHO)
def users_activate(who: str) -> None:
    """Activate a deactivated staff user again (by phone number or email).

    Refused while their number is a patient's (staff texts are read as commands). They
    are on no shift until added with `lowband users oncall add`.
    """
    st = store()
    with st.write():
        user = find_staff(st, who)
        if user.active:
            raise click.ClickException(f"this {user.role} is already active")
        problem = staff_phone_problem(st, user.phone, user.id)
        if problem:
            raise click.ClickException(f"{problem}; give them another with `lowband users set {WHO} --phone`")
        st.staff.set_active(user.id, True)
        st.sessions.delete(st.phone_index(user.phone))
        st.audit.record("cli", "staff.activated", f"staff:{user.id}", f"role={user.role}")
    click.echo(f"Activated {user.role} {user.name}.")


@click.command("set")
@click.argument("who", metavar=WHO)
@click.option("--phone", help="Their new phone number (not a patient's, nor another staff user's).")
@click.option("--supervisor", help='A CHW\'s supervisor (their phone or email), or "none": the supervisor sees '
                                   "this CHW's patients in the console.")
def users_set(who: str, phone: str | None, supervisor: str | None) -> None:
    """Change a staff user's phone number, or a CHW's supervisor.

    Name them by their current number or their email. A new number is refused when it
    belongs to patients (staff texts are read as commands, so those patients would lose
    the patient service) or to another staff user. Texts from the old number are no
    longer staff commands.
    """
    if phone is None and supervisor is None:
        raise click.ClickException("nothing to change; see `lowband users set --help`")
    if supervisor is not None:
        _set_supervisor(who, supervisor)
        if phone is None:
            return
    e164 = clean_phone(phone, settings().region)
    st = store()
    with st.write():
        user = find_staff(st, who)
        if e164 == user.phone:
            raise click.ClickException("that is already their number")
        problem = staff_phone_problem(st, e164, user.id)
        if problem:
            raise click.ClickException(problem)
        st.staff.set_phone(user.id, e164)
        # A half-done staff command on the old number ends there.
        st.sessions.delete(st.phone_index(user.phone))
        st.audit.record("cli", "staff.update", f"staff:{user.id}", "phone")
    click.echo(f"Changed the phone of {user.role} {user.name}.")


def _set_supervisor(who: str, supervisor: str) -> None:
    st = store()
    with st.write():
        chw = find_staff(st, who)
        if chw.role != "chw":
            raise click.ClickException(f"only a CHW has a supervisor; {chw.name} is a {chw.role.replace('_', ' ')}")
        boss = None if supervisor.strip().lower() == "none" else find_staff(st, supervisor)
        if boss is not None and (boss.role != "chw_supervisor" or not boss.active):
            raise click.ClickException(f"{boss.name} is not an active CHW supervisor")
        st.staff.set_supervisor(chw.id, boss.id if boss else None)
        st.audit.record("cli", "staff.update", f"staff:{chw.id}", "supervisor")
    click.echo(f"{chw.name} is supervised by {boss.name}." if boss else f"{chw.name} has no supervisor now.")
