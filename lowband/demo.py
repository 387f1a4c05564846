"""Demo data for `lowband init --demo`: a small clinic to try every flow against.

The numbers are Kenyan-format and made up; the simulator can text as any of them.
"""

from __future__ import annotations

from flows.enrolment import new_patient
from lowband.settings import Settings
from storage import Store

STAFF = [
    ("clinician", "Dr Wanjiru Kamau", "+254700100101", "wanjiru@clinic.example"),
    ("pharmacist", "Otieno Ouma", "+254700100102", None),
    ("chw", "Grace Achieng", "+254700100103", None),
]

PATIENTS = [
    # name, phone, birth year, sex, language, medicines (name, dose, quantity)
    ("Amina Zawadi", "+254712345678", 1968, "F", "sw", [("Metformin", "500mg", 60), ("Amlodipine", "5mg", 30)]),
    ("Joseph Mwangi", "+254722300301", 1955, "M", "en", [("Losartan", "50mg", 30)]),
    # Shares Amina's phone: a family phone, the normal case in many homes.
    ("Halima Zawadi", "+254712345678", 1994, "F", "sw", [("Ferrous sulfate", "200mg", 30)]),
]


# The demo's reminders: a medicine twice a day, one at breakfast, and a weekly BP check.
REMINDER_TIMES = {"Metformin": ["08:00", "20:00"], "Losartan": ["08:00"]}
READING_REMINDERS = {"Joseph Mwangi": ["mon"]}


def _remind(store: Store, patient, rule: dict) -> None:
    from scheduler.reminders import schedule

    store.reminders.add(patient.id, rule, *schedule(rule, patient.time_zone, store.now()))


def load_demo(store: Store, settings: Settings, this_year: int) -> dict[str, list[str]]:
    """Enrol the demo clinic; return the short IDs made, for the admin to try."""
    made: dict[str, list[str]] = {"staff": [], "patients": []}
    chw_id = None
    with store.write():
        for role, name, phone, email in STAFF:
            user = store.staff.add(role=role, name=name, phone=phone, email=email)
            made["staff"].append(f"{role} {phone}")
            if role == "chw":
                chw_id = user.id
        for name, phone, birth_year, sex, language, medicines in PATIENTS:
            details = new_patient(
                name=name,
                phone=phone,
                region=settings.region,
                this_year=this_year,
                birth_year=birth_year,
                sex=sex,
                language=language,
                fallback_time_zone=settings.time_zone,
            )
            patient = store.patients.add(**vars(details), chw_id=chw_id)
            for med_name, dose, quantity in medicines:
                medication = store.medications.add(patient.id, name=med_name, dose=dose, quantity=quantity)
                times = REMINDER_TIMES.get(med_name)
                if times:
                    _remind(store, patient, {"kind": "medicine", "times": times, "weekdays": [],
                                             "medication_id": medication.id, "label": medication.label})
            if name in READING_REMINDERS:
                _remind(store, patient, {"kind": "reading", "reading": "bp", "times": ["07:30"],
                                         "weekdays": READING_REMINDERS[name]})
            made["patients"].append(f"{patient.short_id} {phone}")
        store.audit.record("cli", "demo.load", "", f"staff={len(STAFF)} patients={len(PATIENTS)}")
    return made
