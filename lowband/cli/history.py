"""A patient's alerts, consultations and refill requests, as `patients show` lists them:
the reference, its status and when, and nothing clinical (the reason for an alert, the
problem told to the nurse, stay in `lowband alerts` and `lowband consults`)."""

from __future__ import annotations

from lowband.cli.base import sound, table
from lowband.cli.readings import when_local
from storage import Store
from storage.patients import Patient

# type -> its table, and the store's repository of the same name
KINDS = {"alert": "alerts", "consult": "consults", "refill": "refills"}


def request_rows(view: Store, patient: Patient) -> dict[str, list[dict]]:
    """Each kind's rows for this patient, newest first; a damaged one is left out (said
    on stderr by `sound`)."""
    found: dict[str, list[dict]] = {}
    for kind, name in KINDS.items():
        refs = [r[0] for r in view.execute(
            f"SELECT ref FROM {name} WHERE patient_id = ? ORDER BY created_at DESC, id DESC",  # noqa: S608
            (patient.id,),
        ).fetchall()]
        repository = getattr(view, name)
        items = sound(item for item in (repository.by_ref(ref) for ref in refs) if item is not None)
        found[kind] = [{"type": kind, "patient": patient.short_id, "ref": item.ref, "status": item.status,
                        "created_at": item.created_at} for item in items]
    return found


def request_lines(rows: list[dict], patient: Patient) -> list[str]:
    shown = [{**row, "when": when_local(row["created_at"], patient.time_zone)} for row in rows]
    return table(shown, [("ref", "REF"), ("status", "STATUS"), ("when", "WHEN")])
