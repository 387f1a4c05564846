"""What a clinic's admin must be able to do (issue "Clinical safety on the clinic's side"):
take a staff user off (and back on), change their number; correct a patient's details;
merge two records of one person; close a record and reopen it; see a patient's alerts,
consultations and refills; review the clinic's readings; and page every list without
anything cut silently. Every change is audited without names, numbers or health data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from flows.patient_flows import MAX_PROFILES
from flows.phones import mask
from storage.errors import StorageError
from storage.store import iso
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.phone_line import Line

WANJIRU = "+254700100101"  # clinician
KEVIN = "+254700100105"  # clinician
OTIENO = "+254700100102"  # pharmacist
GRACE = "+254700100103"  # CHW
BARAKA = "+254700100104"  # CHW
GRACE_EMAIL = "grace@clinic.example"
FAMILY = "+254712345678"  # Amina (4376) and Halima (5970)
JOSEPH = "+254722300301"  # Joseph (1045)
NEW_PHONE = "+254733400401"

# The SMS clock starts at 2026-11-22T08:00Z; this shift covers it.
SHIFT_FROM, SHIFT_UNTIL = "2026-11-22T10:00+03:00", "2026-11-22T14:00+03:00"


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def clinic(store):
    with store.write():
        for role, name, phone, email in (
            ("clinician", "Wanjiru Kamau", WANJIRU, None), ("clinician", "Kevin Mutua", KEVIN, None),
            ("pharmacist", "Otieno Ouma", OTIENO, None), ("chw", "Grace Achieng", GRACE, GRACE_EMAIL),
            ("chw", "Baraka Otieno", BARAKA, None),
        ):
            store.staff.add(role=role, name=name, phone=phone, email=email)
        for args in (
            ["4376", "Amina Zawadi", FAMILY, "pin=1111", "consent", f"chw={GRACE}", "born=1968", "sex=F"],
            ["5970", "Halima Zawadi", FAMILY, "pin=2222", "consent", "born=1994", "sex=F"],
            ["1045", "Joseph Mwangi", JOSEPH, "pin=3333", "consent", f"chw={GRACE}", "born=1955", "sex=M"],
        ):
            ScriptRunner.add_patient(store, args)
    return store


@pytest.fixture
def line(clinic, twilio, clock):
    return Line(twilio, clock, clinic)


def patient(store, short_id: str):
    return store.patients.by_short_id(short_id, include_closed=True)


def last_audit(store, action: str):
    return [e for e in store.audit.entries() if e.action == action][-1]


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def add_reading(store, patient_id: int, kind: str, measured: dict, taken_at: datetime, *, by: str = "patient:x",
                level: str = "normal") -> int:
    return store.readings.add(
        patient_id=patient_id, submission_id=store.new_id(), kind=kind, measured=measured, level=level,
        sender_index=store.phone_index(FAMILY), submitted_by=by, taken_at=iso(taken_at),
    )


# -- staff: deactivate and activate -------------------------------------------------------------


def test_a_deactivated_chws_texts_are_no_longer_staff_commands(line, clinic, run_cli):
    assert line.text(GRACE, "TASKS")[0].startswith("Tasks")

    result = ok(run_cli("users", "deactivate", "0700 100 103", "--panel-to", BARAKA))

    assert "Deactivated chw Grace Achieng" in result.stdout and "2 patients moved" in result.stdout
    assert not line.text(GRACE, "TASKS")[0].startswith(("Tasks", "No tasks"))
    tasks = line.text(BARAKA, "TASKS")[0]
    assert "4376" in tasks and "1045" in tasks  # her panel went to Baraka
    listed = {u["name"]: u for u in jsonl(run_cli("users", "list", "--json").stdout)}
    assert listed["Grace Achieng"]["active"] is False and listed["Grace Achieng"]["status"] == "deactivated"
    entry = last_audit(clinic, "staff.deactivated")
    grace = clinic.staff.by_phone(GRACE, include_inactive=True)
    assert (entry.actor, entry.subject) == ("cli", f"staff:{grace.id}")
    assert entry.detail == "role=chw shifts_removed=0 panel_moved=2"
    assert clinic.audit.verify().ok


def test_activate_by_email_makes_the_texts_staff_commands_again(line, clinic, run_cli):
    ok(run_cli("users", "deactivate", GRACE, "--panel-to", "none"))
    assert clinic.patients.by_short_id("4376").chw_id is None

    ok(run_cli("users", "activate", "GRACE@clinic.example"))

    assert line.text(GRACE, "TASKS")[0].startswith(("Tasks", "No tasks"))
    grace = clinic.staff.by_phone(GRACE)
    assert grace.active and last_audit(clinic, "staff.activated").subject == f"staff:{grace.id}"


def test_a_chw_with_patients_is_not_deactivated_until_someone_takes_them(clinic, run_cli, cli_error):
    cli_error(run_cli("users", "deactivate", GRACE), "2 patients have this CHW", "--panel-to")
    cli_error(run_cli("users", "deactivate", GRACE, "--panel-to", GRACE), "being deactivated")
    cli_error(run_cli("users", "deactivate", GRACE, "--panel-to", WANJIRU), "no CHW")
    assert clinic.staff.by_phone(GRACE).active
    assert clinic.patients.by_short_id("4376").chw_id == clinic.staff.by_phone(GRACE).id


def test_a_deactivated_clinician_leaves_the_rota_and_gets_no_alerts(line, clinic, run_cli):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    for starts, ends in ((SHIFT_FROM, SHIFT_UNTIL), (soon.isoformat(), (soon + timedelta(hours=8)).isoformat())):
        ok(run_cli("users", "oncall", "add", "--phone", WANJIRU, "--from", starts, "--until", ends))
    assert {m.phone for m in line.queued(FAMILY, "BP 190/125")} == {WANJIRU}  # she is the one on shift

    result = ok(run_cli("users", "deactivate", WANJIRU))

    assert "off 1 shift" in result.stdout  # the one to come; the SMS clock's shift is over in real time
    assert run_cli("users", "oncall", "list", "--json").stdout == ""
    assert {m.phone for m in line.queued(JOSEPH, "BP 195/125")} == {KEVIN}
    assert last_audit(clinic, "staff.deactivated").detail == "role=clinician shifts_removed=1 panel_moved=0"


def test_the_last_active_clinician_or_pharmacist_cannot_be_deactivated(clinic, run_cli, cli_error):
    ok(run_cli("users", "deactivate", WANJIRU))
    cli_error(run_cli("users", "deactivate", KEVIN), "only active clinician", "urgent alerts")
    cli_error(run_cli("users", "deactivate", OTIENO), "only active pharmacist", "refill requests")
    assert clinic.staff.by_phone(KEVIN).active and clinic.staff.by_phone(OTIENO).active


def test_deactivate_and_activate_mistakes_are_one_line(clinic, run_cli, cli_error):
    cli_error(run_cli("users", "deactivate", "0799 999 999"), "no staff user")
    cli_error(run_cli("users", "deactivate", "nobody@clinic.example"), "no staff user")
    cli_error(run_cli("users", "activate", KEVIN), "already active")
    ok(run_cli("users", "deactivate", KEVIN))
    cli_error(run_cli("users", "deactivate", KEVIN), "already deactivated")


def test_a_number_that_became_a_patients_is_not_given_back_to_staff(clinic, run_cli, cli_error):
    ok(run_cli("users", "deactivate", KEVIN))
    ok(run_cli("patients", "add", "--name", "Rehema Ali", "--phone", KEVIN))

    line = cli_error(run_cli("users", "activate", KEVIN), "patient's phone", "staff texts are read as commands",
                     "users set")

    assert "100105" not in line
    assert not clinic.staff.by_phone(KEVIN, include_inactive=True).active


# -- staff: a new phone -----------------------------------------------------------------------------


def test_a_staff_users_new_phone_carries_their_commands(line, clinic, run_cli):
    ok(run_cli("users", "set", GRACE_EMAIL, "--phone", "0733 400 401"))

    assert line.text(NEW_PHONE, "TASKS")[0].startswith("Tasks")
    assert not line.text(GRACE, "TASKS")[0].startswith("Tasks")
    grace = clinic.staff.by_phone(NEW_PHONE)
    assert grace.name == "Grace Achieng" and clinic.staff.by_phone(GRACE, include_inactive=True) is None
    entry = last_audit(clinic, "staff.update")
    assert (entry.subject, entry.detail) == (f"staff:{grace.id}", "phone")


def test_a_staff_phone_is_never_a_patients_or_another_staff_users(clinic, run_cli, cli_error):
    """Staff texts are read as commands: patients on that number would lose the patient
    service, their urgent readings included."""
    line = cli_error(run_cli("users", "set", GRACE, "--phone", "0712 345 678"), "patient's phone",
                     "staff texts are read as commands")
    assert "345678" not in line
    cli_error(run_cli("users", "set", GRACE, "--phone", KEVIN), "another staff user")
    cli_error(run_cli("users", "set", GRACE, "--phone", GRACE), "already their number")
    cli_error(run_cli("users", "set", GRACE, "--phone", "12"), "phone number")
    cli_error(run_cli("users", "set", GRACE), "nothing to change")
    assert clinic.staff.by_phone(GRACE).name == "Grace Achieng"


# -- patients set: details --------------------------------------------------------------------------


def test_patients_set_changes_details_and_audits_field_names_only(clinic, run_cli):
    result = ok(run_cli("patients", "set", "1045", "--name", "Joseph Kamau Mwangi", "--phone", "0733 400 401",
                        "--birth-year", "1956", "--sex", "m"))

    assert "Updated patient 1045: birth_year, name, phone, sex." in result.stdout
    row = next(r for r in jsonl(run_cli("patients", "list", "--json").stdout) if r["id"] == "1045")
    assert (row["name"], row["phone"], row["birth_year"], row["sex"]) == ("Joseph Kamau Mwangi", NEW_PHONE, 1956, "M")
    entry = last_audit(clinic, "patient.update")
    assert (entry.subject, entry.detail) == ("patient:1045", "birth_year,name,phone,sex")
    every = " ".join(f"{e.subject} {e.detail}" for e in clinic.audit.entries())
    assert "Kamau" not in every and "400401" not in every and "1956" not in every


def test_a_patient_is_reached_on_their_new_phone_and_no_longer_on_the_old(line, clinic, run_cli):
    ok(run_cli("patients", "set", "1045", "--phone", NEW_PHONE))

    assert "saved BP 150/95" in line.text(NEW_PHONE, "BP 150/95")[0]
    assert line.text(JOSEPH, "hi")[0].startswith("Welcome")  # the old number is nobody's now
    assert [r.kind for r in clinic.readings.for_patient(patient(clinic, "1045").id)] == ["bp"]


def test_patients_set_refuses_a_staff_number_with_the_reason(clinic, run_cli, cli_error):
    line = cli_error(run_cli("patients", "set", "1045", "--phone", GRACE), "staff number",
                     "staff texts are read as commands")
    assert "100103" not in line
    assert patient(clinic, "1045").phone == JOSEPH


def test_patients_set_refuses_a_fifth_person_on_a_phone(clinic, run_cli, cli_error):
    for name in ("Baraka Zawadi", "Neema Zawadi"):
        ok(run_cli("patients", "add", "--name", name, "--phone", FAMILY))

    cli_error(run_cli("patients", "set", "1045", "--phone", FAMILY),
              f"{mask(FAMILY)} already has {MAX_PROFILES} patients")
    cli_error(run_cli("patients", "set", "4376", "--phone", FAMILY), "already has that phone")
    assert patient(clinic, "1045").phone == JOSEPH


def test_patients_set_refuses_details_that_make_a_likely_duplicate(clinic, run_cli, cli_error):
    cli_error(run_cli("patients", "set", "5970", "--name", "Amina Zawadi"),
              "looks like patient 4376 (same name and phone)", "patients merge 4376 5970", "--allow-duplicate")
    assert patient(clinic, "5970").name == "Halima Zawadi"
    ok(run_cli("patients", "set", "5970", "--name", "Amina Zawadi", "--allow-duplicate"))
    assert last_audit(clinic, "patient.update").detail == "name allow_duplicate=4376"


@pytest.mark.parametrize(("args", "expected"), [
    (["--birth-year", "1880"], "year of birth"),
    (["--name", "R2D2"], "name"),
    (["--phone", "0712 3456"], "phone number"),
    ([], "nothing to change"),
])
def test_patients_set_mistakes_are_one_line(clinic, run_cli, cli_error, args, expected):
    cli_error(run_cli("patients", "set", "1045", *args), expected)
    cli_error(run_cli("patients", "set", "9999", "--name", "Joseph Mwangi"), "no patient with ID 9999")


# -- patients merge ---------------------------------------------------------------------------------

START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@pytest.fixture
def duplicate(clinic):
    """Joseph enrolled again as 2089 (no phone), with a reading, an alert, a refill of a
    medicine, a consultation and a held message, all on the duplicate."""
    store = clinic
    with store.write():
        ScriptRunner.add_patient(store, ["2089", "Joseph Mwangi", "-", "born=1955"])
        dup = patient(store, "2089")
        bp = {"systolic": 150, "diastolic": 95, "pulse": 72}
        reading = add_reading(store, dup.id, "bp", bp, START, by="staff:1")
        store.alerts.raise_alert(ref="A7", patient_id=dup.id, reason="high BP", submission_id=None)
        medicine = store.medications.add(dup.id, name="Amlodipine", dose="5mg")
        store.refills.request(ref="RF3", patient_id=dup.id, medication_id=medicine.id)
        store.consults.open_consult(ref="C2", patient_id=dup.id, summary={"problem": "fever", "days": 2})
        store.held.hold(dup.id, "Your refill is ready")
    return {"dup": dup, "reading": reading, "bp": bp}


def test_merge_moves_everything_to_the_record_kept_and_closes_the_duplicate(clinic, duplicate, run_cli):
    store, keep, dup = clinic, patient(clinic, "1045"), duplicate["dup"]

    result = ok(run_cli("patients", "merge", "1045", "2089", "--reason", "enrolled twice by CHW"))

    assert "Merged patient 2089 into patient 1045" in result.stdout and "2089 is closed" in result.stdout
    assert "1 readings" in result.stdout and "1 medications" in result.stdout
    assert [r.id for r in store.readings.for_patient(keep.id)] == [duplicate["reading"]]
    # The repeat check finds it under the record kept, and no longer under the duplicate.
    assert store.readings.duplicate_since(keep.id, "bp", duplicate["bp"], iso(START)) == iso(START)
    assert store.readings.duplicate_since(dup.id, "bp", duplicate["bp"], iso(START)) is None
    assert store.alerts.by_ref("A7").patient_id == keep.id
    assert store.refills.by_ref("RF3").patient_id == keep.id
    assert store.consults.by_ref("C2").patient_id == keep.id
    assert [body for _, body in store.held.unread(keep.id)] == ["Your refill is ready"]
    assert [m.label for m in store.medications.for_patient(keep.id)] == ["Amlodipine 5mg"]
    for table in ("readings", "alerts", "refills", "consults", "held_messages", "medications"):
        assert store.one(f"SELECT count(*) FROM {table} WHERE patient_id = ?", (dup.id,))[0] == 0  # noqa: S608
    closed = patient(store, "2089")
    assert not closed.active and closed.merged_into == keep.id and closed.closed_at
    assert store.patients.by_short_id("2089") is None  # its ID reaches no one by SMS
    entry = last_audit(store, "patient.merged")
    assert (entry.actor, entry.subject) == ("cli", "patient:1045")
    assert entry.detail.startswith("from=2089 into=1045 ")
    assert entry.detail.endswith(" reason=enrolled twice by CHW") and "Joseph" not in entry.detail
    assert store.audit.verify().ok


def test_a_merged_record_shows_where_it_went_and_cannot_be_reopened(clinic, duplicate, run_cli, cli_error):
    ok(run_cli("patients", "merge", "1045", "2089", "--reason", "enrolled twice"))
    head = json.loads(run_cli("patients", "show", "2089", "--json").stdout.splitlines()[0])
    assert head["merged_into"] == "1045" and head["closed_at"]
    assert "merged into patient 1045" in run_cli("patients", "show", "2089").stdout
    cli_error(run_cli("patients", "reopen", "2089"), "merged into patient 1045")
    cli_error(run_cli("meds", "add", "2089", "--name", "Metformin", "--dose", "500mg"), "closed", "1045")


@pytest.mark.parametrize(("keep", "dup", "expected"), [
    ("1045", "1045", "cannot be merged into itself"),
    ("1045", "9999", "no patient with ID 9999"),
    ("1046", "2089", "check digit"),
    ("1045", "5970", "closed"),
    ("5970", "2089", "closed"),
])
def test_merge_refusals_are_one_line_and_change_nothing(clinic, duplicate, run_cli, cli_error, keep, dup, expected):
    ok(run_cli("patients", "close", "5970", "--reason", "moved away"))
    cli_error(run_cli("patients", "merge", keep, dup, "--reason", "enrolled twice"), expected)
    assert [r.id for r in clinic.readings.for_patient(duplicate["dup"].id)] == [duplicate["reading"]]
    assert patient(clinic, "2089").active


def test_merge_needs_a_reason(clinic, duplicate, run_cli, cli_error):
    cli_error(run_cli("patients", "merge", "1045", "2089", "--reason", "  "), "reason")


def test_a_merge_is_one_transaction(clinic, duplicate, run_cli, cli_error, monkeypatch):
    """A failure at the very end (the audit entry) leaves both records as they were."""
    from storage.audit import AuditLog

    record = AuditLog.record

    def failing(self, actor, action, subject="", detail=""):
        if action == "patient.merged":
            raise StorageError("the disk is full")
        return record(self, actor, action, subject, detail)

    monkeypatch.setattr(AuditLog, "record", failing)
    cli_error(run_cli("patients", "merge", "1045", "2089", "--reason", "enrolled twice"), "the disk is full")
    dup = patient(clinic, "2089")
    assert dup.active and dup.merged_into is None
    assert [r.id for r in clinic.readings.for_patient(dup.id)] == [duplicate["reading"]]
    assert clinic.alerts.by_ref("A7").patient_id == dup.id


# -- patients close and reopen --------------------------------------------------------------------


def test_a_closed_patient_leaves_the_picker_tasks_and_list(line, clinic, run_cli):
    assert "Amina" in line.text(FAMILY, "hi")[0]  # the shared phone's picker

    result = ok(run_cli("patients", "close", "4376", "--reason", "moved to Mombasa"))

    assert "Closed patient 4376" in result.stdout
    # "1" was Amina in the list as shown: she is gone from this phone, so nobody is picked.
    replies = line.text(FAMILY, "1")
    assert "Amina" not in " ".join(replies) and "Halima" in " ".join(replies)
    assert "4376" not in line.text(GRACE, "TASKS")[0]
    assert "4376" not in [r["id"] for r in jsonl(run_cli("patients", "list", "--json").stdout)]
    listed = {r["id"]: r for r in jsonl(run_cli("patients", "list", "--include-closed", "--json").stdout)}
    assert listed["4376"]["closed_at"] and listed["5970"]["closed_at"] is None
    entry = last_audit(clinic, "patient.closed")
    assert (entry.subject, entry.detail) == ("patient:4376", "reason=moved to Mombasa")


def test_a_chw_relay_for_a_closed_record_stores_nothing(line, clinic, run_cli):
    ok(run_cli("patients", "close", "1045", "--reason", "moved away"))

    reply = line.text(GRACE, "BP 1045 150/95")[0]

    assert "No patient has ID 1045" in reply
    assert clinic.readings.for_patient(patient(clinic, "1045").id) == []


def test_texts_from_a_closed_patients_own_phone_are_as_from_a_new_number(line, clinic, run_cli):
    ok(run_cli("patients", "close", "1045", "--reason", "moved away"))
    assert line.text(JOSEPH, "hi")[0].startswith("Welcome")
    assert clinic.readings.for_patient(patient(clinic, "1045").id) == []


def test_reopen_puts_the_record_back(line, clinic, run_cli):
    ok(run_cli("patients", "close", "4376", "--reason", "moved away"))

    ok(run_cli("patients", "reopen", "4376"))

    assert "4376" in [r["id"] for r in jsonl(run_cli("patients", "list", "--json").stdout)]
    assert "4376" in line.text(GRACE, "TASKS")[0]
    assert "Amina" in line.text(FAMILY, "hi")[0]
    assert last_audit(clinic, "patient.reopened").subject == "patient:4376"


def test_reopen_is_refused_when_the_phone_became_a_staff_number(clinic, run_cli, cli_error):
    ok(run_cli("patients", "close", "1045", "--reason", "moved away"))
    ok(run_cli("users", "add", "--role", "chw", "--name", "Rehema Ali", "--phone", JOSEPH))

    cli_error(run_cli("patients", "reopen", "1045"), "staff number", "staff texts are read as commands")

    assert not patient(clinic, "1045").active


def test_close_and_reopen_mistakes_are_one_line(clinic, run_cli, cli_error):
    cli_error(run_cli("patients", "reopen", "1045"), "not closed")
    cli_error(run_cli("patients", "close", "1045", "--reason", ""), "reason")
    ok(run_cli("patients", "close", "1045", "--reason", "moved away"))
    cli_error(run_cli("patients", "close", "1045", "--reason", "again"), "already closed", "patients reopen 1045")
    cli_error(run_cli("readings", "move", "1", "--to", "1045", "--reason", "x"), "no reading 1")


def test_a_reading_is_not_moved_onto_a_closed_record(clinic, run_cli, cli_error):
    reading = add_reading(clinic, patient(clinic, "4376").id, "weight", {"kg": 61.5}, START)
    ok(run_cli("patients", "close", "1045", "--reason", "moved away"))
    cli_error(run_cli("readings", "move", str(reading), "--to", "1045", "--reason", "wrong person"), "closed")


# -- patients show: alerts, consultations, refills --------------------------------------------------


def test_patients_show_lists_alerts_consults_and_refills_without_clinical_detail(clinic, run_cli):
    amina = patient(clinic, "4376")
    with clinic.write():
        clinic.alerts.raise_alert(ref="A4", patient_id=amina.id, reason="urgent.bp BP 190/125", submission_id=None)
        clinic.consults.open_consult(ref="C9", patient_id=amina.id, summary={"problem": "chest", "days": 1})
        medicine = clinic.medications.add(amina.id, name="Metformin", dose="500mg")
        clinic.refills.request(ref="RF5", patient_id=amina.id, medication_id=medicine.id)

    text = ok(run_cli("patients", "show", "4376")).stdout

    assert "REF" in text and "STATUS" in text
    for label, ref, status in (("alerts", "A4", "open"), ("consults", "C9", "open"), ("refills", "RF5", "requested")):
        assert any(line.startswith(label) for line in text.splitlines())
        assert any(ref in line and status in line for line in text.splitlines()), ref
    assert "190" not in text and "chest" not in text
    head, *items = jsonl(run_cli("patients", "show", "4376", "--json").stdout)
    assert (head["alerts"], head["consults"], head["refills"]) == (1, 1, 1)
    assert [(i["type"], i["ref"], i["status"]) for i in items] == [
        ("alert", "A4", "open"), ("consult", "C9", "open"), ("refill", "RF5", "requested")]
    assert all(set(i) == {"type", "patient", "ref", "status", "created_at"} for i in items)


# -- readings: the clinic's review ------------------------------------------------------------------


@pytest.fixture
def readings(clinic):
    """Five readings an hour apart, alternating Amina and Joseph; the newest Grace relayed."""
    amina, joseph, grace = patient(clinic, "4376"), patient(clinic, "1045"), clinic.staff.by_phone(GRACE)
    ids = []
    for hour in range(4):
        who = amina if hour % 2 == 0 else joseph
        ids.append(add_reading(clinic, who.id, "glucose", {"mmol_l": 5.0 + hour, "entered": 5.0 + hour,
                                                           "unit": "mmol/L"}, START + timedelta(hours=hour),
                               by=f"patient:{who.short_id}"))
    ids.append(add_reading(clinic, amina.id, "bp", {"systolic": 150, "diastolic": 95, "pulse": 72},
                           START + timedelta(hours=4), by=f"staff:{grace.id}", level="high"))
    return ids[::-1]


def test_readings_lists_the_clinics_readings_newest_first(readings, run_cli):
    rows = jsonl(ok(run_cli("readings", "--json")).stdout)

    assert [r["id"] for r in rows] == readings
    assert [r["patient"] for r in rows] == ["4376", "1045", "4376", "1045", "4376"]
    assert rows[0]["text"] == "BP 150/95 P72" and rows[0]["level"] == "high"
    text = run_cli("readings").stdout.splitlines()
    assert text[0].split()[:4] == ["READING", "ID", "PATIENT", "READING"]
    bp_line = next(line for line in text if str(readings[0]) in line)
    assert "4376" in bp_line and "BP 150/95 P72" in bp_line and "Grace Achieng (chw)" in bp_line
    assert "2026-11-20 13:00 EAT" in bp_line  # 10:00 UTC, the patient's own time
    glucose_line = next(line for line in text if str(readings[1]) in line)
    assert "GLU 8" in glucose_line and "1045" in glucose_line and "patient" in glucose_line


def test_readings_since_and_limit(readings, run_cli, cli_error):
    since = ok(run_cli("readings", "--since", "2026-11-20T11:00+03:00", "--json"))  # 08:00 UTC
    assert [r["id"] for r in jsonl(since.stdout)] == readings[:3]
    assert since.stderr == ""

    limited = ok(run_cli("readings", "--json", "--limit", "2"))
    assert [r["id"] for r in jsonl(limited.stdout)] == readings[:2]
    assert limited.stderr.strip() == "showing 2 of 5; use --all or --limit"
    assert "No readings since then." in run_cli("readings", "--since", "2027-01-01T00:00+00:00").stdout
    cli_error(run_cli("readings", "--since", "yesterday"), "--since")
    cli_error(run_cli("readings", "--since", "2026-11-20T08:00"), "UTC offset")
    cli_error(run_cli("readings", "--json", "move", "1", "--to", "1045", "--reason", "x"), "without a command")


# -- every list pages explicitly -------------------------------------------------------------------


def test_patients_list_shows_50_and_says_how_many_more(store, run_cli, cli_error):
    with store.write():
        for n in range(55):
            store.patients.add(name=f"Patient {chr(65 + n % 26)}{chr(65 + n // 26)}", phone=None,
                               time_zone="Africa/Nairobi")


    shown = ok(run_cli("patients", "list"))
    assert len(shown.stdout.splitlines()) == 1 + 50
    assert shown.stderr.strip() == "showing 50 of 55; use --all or --limit"
    every = ok(run_cli("patients", "list", "--all", "--json"))
    assert len(jsonl(every.stdout)) == 55 and every.stderr == ""
    assert len(jsonl(run_cli("patients", "list", "--limit", "3", "--json").stdout)) == 3
    cli_error(run_cli("patients", "list", "--limit", "3", "--all"), "--limit or --all")


def test_the_outbox_is_never_cut_silently_at_a_thousand(store, run_cli):
    with store.write():
        sent = [store.outbox.enqueue(JOSEPH, f"Reminder {n}", "reminder").id for n in range(1001)]

    every = [m["id"] for m in jsonl(ok(run_cli("outbox", "--all", "--json")).stdout)]
    assert sorted(every) == sorted(sent)
    page = ok(run_cli("outbox", "--json"))
    assert [m["id"] for m in jsonl(page.stdout)] == every[-50:]  # the newest, oldest first as always
    assert page.stderr.strip() == "showing 50 of 1001 (the newest); use --all or --limit"
    assert len(jsonl(run_cli("outbox", "--json", "--limit", "1001").stdout)) == 1001


def test_alerts_keep_the_newest_when_cut(clinic, run_cli):
    amina = patient(clinic, "4376")
    for n in (1, 2, 3):
        clinic.alerts.raise_alert(ref=f"A{n}", patient_id=amina.id, reason="high BP", submission_id=None)
    page = ok(run_cli("alerts", "--json", "--limit", "2"))
    assert [a["ref"] for a in jsonl(page.stdout)] == ["A2", "A3"]
    assert page.stderr.strip() == "showing 2 of 3 (the newest); use --all or --limit"


@pytest.mark.parametrize("command", [["users", "list"], ["users", "oncall", "list"], ["alerts"], ["refills"],
                                     ["consults"], ["outbox"], ["readings"], ["patients", "list"]])
def test_every_list_takes_limit_and_all(clinic, run_cli, cli_error, command):
    ok(run_cli(*command, "--limit", "1", "--json"))
    ok(run_cli(*command, "--all", "--json"))
    cli_error(run_cli(*command, "--limit", "1", "--all"), "--limit or --all")


def test_a_medicine_label_too_long_for_an_sms_is_refused_not_cut(run_cli, cli_error):
    """'Hydrochlorothiazide 25mg x30' fits; a longer label would reach the patient cut."""
    assert run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712345678").exit_code == 0
    short_id = [line.split()[0] for line in run_cli("patients", "list").stdout.splitlines()[1:]][0]
    assert run_cli("meds", "add", short_id, "--name", "Hydrochlorothiazide", "--dose", "25mg",
                   "--quantity", "30").exit_code == 0
    cli_error(run_cli("meds", "add", short_id, "--name", "Hydrochlorothiazide-amiloride", "--dose", "25mg/2.5mg"),
              "room for 28")
