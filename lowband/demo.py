"""Demo data for `lowband init --demo`: a small clinic to try every flow against.

The numbers are Kenyan-format and made up; the simulator can text as any of them.
"""

from __future__ import annotations

from datetime import timedelta

from console.auth import hash_password
from flows.enrolment import new_patient
from lowband.settings import Settings
from storage import Store
from storage.store import iso

STAFF = [
    ("clinician", "Dr Wanjiru Kamau", "+254700100101", "wanjiru@clinic.example"),
    ("pharmacist", "Otieno Ouma", "+254700100102", "otieno@clinic.example"),
    ("chw", "Grace Achieng", "+254700100103", None),
    ("admin", "Faith Njeri", "+254700100104", "faith@clinic.example"),
]
# The demo's console sign-in, the same for every demo user with an email. Demo data only:
# a real clinic's users choose their own at `lowband users add --email`.
DEMO_PASSWORD = "lowband-demo"  # noqa: S105 (demo data only: `make run` prints it)
DEMO_FLAG = "demo_clinic"

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
    enrolled: dict = {}
    chw_id = None
    with store.write():
        for role, name, phone, email in STAFF:
            user = store.staff.add(role=role, name=name, phone=phone, email=email)
            made["staff"].append(f"{role} {phone}" + (f", console {email}" if email else ""))
            if email:
                store.console_logins.set_password(user.id, email, hash_password(DEMO_PASSWORD))
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
            enrolled[name] = patient
        _activity(store, enrolled)
        store.meta_set(DEMO_FLAG, "1")
        store.audit.record("cli", "demo.load", "", f"staff={len(STAFF)} patients={len(PATIENTS)}")
    return made


# Two weeks of Joseph's blood pressure, climbing to an urgent reading today.
BP_DAYS = [(13, 148, 94, "high"), (11, 144, 92, "high"), (9, 139, 88, "normal"), (7, 152, 96, "high"),
           (5, 158, 99, "high"), (3, 165, 104, "high"), (1, 172, 108, "high"), (0, 186, 122, "urgent")]
GLUCOSE_DAYS = [(6, 7.8, "normal"), (4, 11.2, "high"), (2, 9.4, "normal"), (0, 12.6, "high")]


def _activity(store: Store, enrolled: dict) -> None:
    """What a clinician finds on the console: readings to chart, an urgent alert, a
    question for the nurse and a refill to approve."""
    now = store.now()

    def readings(patient, days: list, kind: str, values) -> None:
        for entry in days:
            ago, *measured, level = entry
            store.readings.add(patient_id=patient.id, submission_id=store.new_id(), kind=kind,
                               measured=values(*measured), level=level, sender_index=store.phone_index(patient.phone),
                               submitted_by=f"patient:{patient.short_id}", taken_at=iso(now - timedelta(days=ago,
                                                                                                          hours=2)))

    joseph, amina, halima = enrolled["Joseph Mwangi"], enrolled["Amina Zawadi"], enrolled["Halima Zawadi"]
    readings(joseph, BP_DAYS, "bp", lambda s, d: {"systolic": s, "diastolic": d})
    readings(amina, GLUCOSE_DAYS, "glucose", lambda v: {"mmol_l": v, "entered": v, "unit": "mmol/L"})
    store.alerts.raise_alert(ref=store.next_ref("alert", "A"), patient_id=joseph.id, reason="BP 186/122 urgent",
                             submission_id=None)
    store.consults.open_consult(ref=store.next_ref("consult", "C"), patient_id=amina.id,
                                summary={"problem": "fever", "days": 2, "words": "Fever at night and a headache"})
    [iron] = store.medications.for_patient(halima.id)
    store.refills.request(ref=store.next_ref("refill", "RF"), patient_id=halima.id, medication_id=iron.id)
