"""Commands staff send by SMS. Only numbers registered as staff reach this module.

For now: `PIN <patient ID>` resets a patient's PIN (CHWs for their own patients;
supervisors, clinicians and admins for anyone). Care commands join in later work.
"""

from __future__ import annotations

from flows import effects as fx
from flows.context import Context
from flows.engine import Outcome, Session, msg

MAY_RESET_ANY = {"chw_supervisor", "clinician", "admin"}


def respond(session: Session, text: str, ctx: Context) -> Outcome:
    words = text.split()
    command = words[0].casefold() if words else ""
    if command == "pin" and len(words) == 2:
        return reset_pin(session, words[1], ctx)
    return Outcome(session, [msg("staff.help")])


def reset_pin(session: Session, short_id: str, ctx: Context) -> Outcome:
    staff = ctx.staff
    directory = ctx.directory
    if not directory.short_id_valid(short_id):
        return Outcome(session, [msg("staff.bad_id", patient_id=short_id)])
    patient = directory.patient_by_short_id(short_id)
    if patient is None:
        return Outcome(session, [msg("staff.unknown_patient", patient_id=short_id)])
    if staff.role not in MAY_RESET_ANY and not (staff.role == "chw" and patient.chw_id == staff.id):
        return Outcome(
            session,
            [msg("staff.not_yours", patient_id=short_id)],
            [fx.Audit("staff.refused", f"patient:{short_id}", f"staff={staff.id} command=pin")],
        )
    return Outcome(
        session, [msg("staff.pin_reset", patient_id=short_id)], [fx.ResetPin(patient.id, by_staff_id=staff.id)]
    )
