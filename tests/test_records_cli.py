"""The clinic's records from the CLI: the same person is not enrolled twice by accident,
a phone holds no more patients than its picker shows, `patients show` lists what was
sent (and by whom), and a reading sent for the wrong patient can be moved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from flows.patient_flows import MAX_PROFILES
from flows.phones import mask
from storage.store import iso

FAMILY_PHONE = "+254712345678"
CHW_PHONE = "+254700100103"


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def enrol(run_cli, name: str, *args: str) -> str:
    result = run_cli("patients", "add", "--name", name, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.split()[2]


def patients(run_cli) -> list[dict]:
    return jsonl(run_cli("patients", "list", "--json").stdout)


# -- likely duplicates, in storage --------------------------------------------------------


@pytest.fixture
def panel(store):
    """A CHW; Amina on the family phone (born 1968, on the CHW's panel); Joseph elsewhere."""
    with store.write():
        chw = store.staff.add(role="chw", name="Grace Achieng", phone=CHW_PHONE)
        amina = store.patients.add(name="Amina Zawadi", phone=FAMILY_PHONE, time_zone="Africa/Nairobi",
                                   birth_year=1968, chw_id=chw.id)
        joseph = store.patients.add(name="Joseph Mwangi", phone="+254722300301", time_zone="Africa/Nairobi",
                                    birth_year=1955)
    return {"store": store, "chw": chw.id, "amina": amina, "joseph": joseph}


@pytest.mark.parametrize("typed", ["Amina Zawadi", "amina zawadi", "  AMINA   Zawadi ", "Amína Zawádi"])
def test_the_same_name_on_the_same_phone_is_a_likely_duplicate(panel, typed):
    store = panel["store"]
    found = store.patients.likely_duplicates(typed, phone_index=store.phone_index(FAMILY_PHONE))
    assert [p.id for p in found] == [panel["amina"].id]


def test_another_name_on_a_family_phone_is_not_a_duplicate(panel):
    store = panel["store"]
    assert store.patients.likely_duplicates("Halima Zawadi", phone_index=store.phone_index(FAMILY_PHONE)) == []


def test_the_same_name_and_birth_year_is_a_likely_duplicate_clinic_wide_or_in_the_panel(panel):
    store, amina, joseph = panel["store"], panel["amina"], panel["joseph"]
    assert [p.id for p in store.patients.likely_duplicates("amina zawadi", birth_year=1968)] == [amina.id]
    assert store.patients.likely_duplicates("Amina Zawadi", birth_year=1969) == []
    in_panel = store.patients.likely_duplicates("Amina Zawadi", birth_year=1968, chw_id=panel["chw"])
    assert [p.id for p in in_panel] == [amina.id]
    # Joseph is on no CHW's panel: a CHW enrolling "Joseph Mwangi, 1955" does not see him...
    assert store.patients.likely_duplicates("Joseph Mwangi", birth_year=1955, chw_id=panel["chw"]) == []
    # ...the clinic, looking at everyone, does.
    assert [p.id for p in store.patients.likely_duplicates("Joseph Mwangi", birth_year=1955)] == [joseph.id]


def test_a_name_alone_matches_only_someone_with_nothing_else_to_tell_them_apart(panel):
    store = panel["store"]
    with store.write():
        neema = store.patients.add(name="Neema Wairimu", phone=None, time_zone="Africa/Nairobi")
    assert [p.id for p in store.patients.likely_duplicates("Neema  Wairimu")] == [neema.id]
    assert store.patients.likely_duplicates("Amina Zawadi") == []  # Amina has a phone and a birth year


def test_count_on_phone(panel):
    store = panel["store"]
    assert store.patients.count_on_phone(store.phone_index(FAMILY_PHONE)) == 1
    with store.write():
        store.patients.add(name="Halima Zawadi", phone=FAMILY_PHONE, time_zone="Africa/Nairobi")
    assert store.patients.count_on_phone(store.phone_index(FAMILY_PHONE)) == 2
    assert store.patients.count_on_phone(store.phone_index("+254799999999")) == 0


# -- patients add -------------------------------------------------------------------------


def test_patients_add_refuses_the_same_name_and_birth_year(run_cli, cli_error):
    amina = enrol(run_cli, "Amina Zawadi", "--phone", "0712 345 678", "--birth-year", "1968")

    line = cli_error(run_cli("patients", "add", "--name", "amina  ZAWADI", "--birth-year", "1968"),
                     f"looks like patient {amina}", "same name and birth year", "--allow-duplicate")

    assert "Amina" not in line
    assert len(patients(run_cli)) == 1


def test_patients_add_refuses_the_same_name_on_the_same_phone(run_cli, cli_error):
    amina = enrol(run_cli, "Amina Zawadi", "--phone", "0712 345 678")
    cli_error(run_cli("patients", "add", "--name", "Amína Zawadi", "--phone", "+254 712 345 678"),
              f"looks like patient {amina}", "same name and phone")
    assert len(patients(run_cli)) == 1


def test_allow_duplicate_enrols_anyway_and_the_audit_log_says_so(installation, run_cli):
    amina = enrol(run_cli, "Amina Zawadi", "--birth-year", "1968")

    second = enrol(run_cli, "Amina Zawadi", "--birth-year", "1968", "--allow-duplicate")

    assert second != amina and len(patients(run_cli)) == 2
    store = installation.store()
    try:
        entry = store.audit.entries()[-1]
    finally:
        store.db.close()
    assert (entry.action, entry.subject) == ("patient.enrol", f"patient:{second}")
    assert entry.detail == f"allow_duplicate={amina}"


def test_a_family_shares_a_phone(run_cli):
    enrol(run_cli, "Amina Zawadi", "--phone", "0712 345 678", "--birth-year", "1968")
    enrol(run_cli, "Halima Zawadi", "--phone", "0712 345 678", "--birth-year", "1994")
    assert len(patients(run_cli)) == 2


def test_a_phone_holds_at_most_as_many_patients_as_its_picker_shows(run_cli, cli_error):
    names = ["Amina Zawadi", "Halima Zawadi", "Baraka Zawadi", "Neema Zawadi", "Juma Zawadi"]
    for name in names[:MAX_PROFILES]:
        enrol(run_cli, name, "--phone", "0712 345 678")

    line = cli_error(run_cli("patients", "add", "--name", names[MAX_PROFILES], "--phone", "0712 345 678"),
                     f"{mask(FAMILY_PHONE)} already has {MAX_PROFILES} patients",
                     "the most one phone can choose between")

    assert "712345678" not in line
    assert len(patients(run_cli)) == MAX_PROFILES
    enrol(run_cli, names[MAX_PROFILES], "--phone", "0722 300 301")  # another phone has room


# -- patients import ------------------------------------------------------------------------

CSV = (
    "name,phone,birth_year,sex,language,tz,chw\n"
    "Halima Zawadi,0712 345 678,1994,F,sw,,\n"
    "Baraka Otieno,+256 772 123456,1980,M,en,,\n"
    "Neema Wairimu,,,,,Africa/Nairobi,\n"
)


def write(installation, body: str):
    csv_file = installation.root / "patients.csv"
    csv_file.write_text(body)
    return str(csv_file)


def test_importing_the_same_file_twice_enrols_each_person_once(installation, run_cli):
    csv_file = write(installation, CSV)
    assert "Imported 3 patients" in run_cli("patients", "import", csv_file).stdout

    again = run_cli("patients", "import", csv_file)

    assert again.exit_code == 0, again.output
    assert "Imported 0 patients, skipped 3 already enrolled" in again.stdout
    assert "line 2: skipped, looks like patient" in again.stdout
    assert len(patients(run_cli)) == 3


def test_a_row_like_a_patient_enrolled_by_hand_is_skipped(installation, run_cli):
    halima = enrol(run_cli, "Halima Zawadi", "--birth-year", "1994")
    result = run_cli("patients", "import", write(installation, CSV))
    assert "Imported 2 patients, skipped 1 already enrolled" in result.stdout
    assert f"line 2: skipped, looks like patient {halima} (same name and birth year)" in result.stdout


def test_a_dry_run_says_what_would_happen_and_changes_nothing(installation, run_cli):
    csv_file = write(installation, CSV)

    dry = run_cli("patients", "import", "--dry-run", csv_file)

    assert dry.exit_code == 0, dry.output
    assert "would import 3 patients, skipped 0 already enrolled" in dry.stdout
    assert patients(run_cli) == []
    run_cli("patients", "import", csv_file)
    again = run_cli("patients", "import", "--dry-run", csv_file)
    assert "would import 0 patients, skipped 3 already enrolled" in again.stdout


def test_two_identical_rows_in_one_file_enrol_one_patient(installation, run_cli):
    body = CSV + "Halima Zawadi,0712 345 678,1994,F,sw,,\nneema   wairimu,,,,,,\n"
    result = run_cli("patients", "import", write(installation, body))
    assert result.exit_code == 0, result.output
    assert "Imported 3 patients, skipped 0 already enrolled, 2 repeated in the file" in result.stdout
    assert "line 5: skipped, the same person as line 2" in result.stdout
    assert sorted(p["name"] for p in patients(run_cli)) == ["Baraka Otieno", "Halima Zawadi", "Neema Wairimu"]


def test_an_import_that_would_put_a_fifth_person_on_a_phone_rejects_that_row(installation, run_cli):
    enrol(run_cli, "Amina Zawadi", "--phone", "0712 345 678")
    enrol(run_cli, "Halima Zawadi", "--phone", "0712 345 678")
    body = "name,phone\nBaraka Zawadi,0712345678\nNeema Zawadi,0712345678\nJuma Zawadi,0712345678\n"
    csv_file = write(installation, body)

    dry = run_cli("patients", "import", "--dry-run", csv_file)
    assert f"line 4: rejected, {mask(FAMILY_PHONE)} already has {MAX_PROFILES} patients" in dry.stdout
    assert len(patients(run_cli)) == 2

    result = run_cli("patients", "import", csv_file)
    assert result.exit_code == 1
    assert f"line 4: rejected, {mask(FAMILY_PHONE)} already has {MAX_PROFILES} patients" in result.stdout
    assert "Imported 2 patients, skipped 0 already enrolled, rejected 1." in result.stdout
    assert len(patients(run_cli)) == MAX_PROFILES


# -- patients show: the latest readings -------------------------------------------------------

START = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)  # 08:00 in Nairobi


@pytest.fixture
def with_readings(run_cli, installation):
    """Amina with 12 glucose readings an hour apart (she sent them) and, newest, a BP
    reading Grace relayed; Joseph with none. Returns (amina, joseph, reading ids newest first)."""
    assert run_cli("users", "add", "--role", "chw", "--name", "Grace Achieng", "--phone", CHW_PHONE).exit_code == 0
    amina = enrol(run_cli, "Amina Zawadi", "--phone", "0712 345 678", "--birth-year", "1968")
    joseph = enrol(run_cli, "Joseph Mwangi", "--phone", "0722 300 301")
    store = installation.store()
    try:
        patient = store.patients.by_short_id(amina)
        grace = store.staff.by_phone(CHW_PHONE)
        ids = []
        for hour in range(12):
            ids.append(store.readings.add(
                patient_id=patient.id, submission_id=store.new_id(), kind="glucose",
                measured={"mmol_l": 5.0 + hour / 10, "entered": 5.0 + hour / 10, "unit": "mmol/L"}, level="normal",
                sender_index=store.phone_index(FAMILY_PHONE), submitted_by=f"patient:{amina}",
                taken_at=iso(START + timedelta(hours=hour)),
            ))
        ids.append(store.readings.add(
            patient_id=patient.id, submission_id=store.new_id(), kind="bp",
            measured={"systolic": 150, "diastolic": 95, "pulse": 72}, level="high",
            sender_index=store.phone_index(CHW_PHONE), submitted_by=f"staff:{grace.id}",
            taken_at=iso(START + timedelta(hours=12)),
        ))
    finally:
        store.db.close()
    return amina, joseph, ids[::-1]


def test_patients_show_lists_the_ten_newest_readings(with_readings, run_cli):
    amina, _, newest_first = with_readings

    result = run_cli("patients", "show", amina)

    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "13, the 10 newest shown" in text
    assert "READING ID" in text and "SENT BY" in text
    assert [str(i) in text for i in newest_first] == [True] * 10 + [False] * 3
    bp_line = next(line for line in text.splitlines() if str(newest_first[0]) in line)
    assert "BP 150/95 P72" in bp_line and "high" in bp_line
    assert "Grace Achieng (chw)" in bp_line
    assert "2026-11-22 20:00 EAT" in bp_line  # 17:00 UTC, the patient's own time
    glucose_line = next(line for line in text.splitlines() if str(newest_first[1]) in line)
    assert "GLU 6.1" in glucose_line and "patient" in glucose_line and "normal" in glucose_line


def test_patients_show_json_prints_every_reading_newest_first(with_readings, run_cli):
    amina, _, newest_first = with_readings

    patient, *readings = jsonl(run_cli("patients", "show", amina, "--json").stdout)

    assert patient["id"] == amina and patient["readings"] == 13
    assert [r["id"] for r in readings] == newest_first
    assert readings[0] == {
        "id": newest_first[0], "patient": amina, "kind": "bp",
        "values": {"systolic": 150, "diastolic": 95, "pulse": 72}, "level": "high", "text": "BP 150/95 P72",
        "submitted_by": readings[0]["submitted_by"], "taken_at": "2026-11-22T17:00:00+00:00",
    }
    assert readings[0]["submitted_by"].startswith("staff:")
    assert readings[-1]["submitted_by"] == f"patient:{amina}"


def test_patients_show_without_readings(with_readings, run_cli):
    _, joseph, _ = with_readings
    result = run_cli("patients", "show", joseph)
    assert result.exit_code == 0 and "readings    -" in result.stdout
    assert len(jsonl(run_cli("patients", "show", joseph, "--json").stdout)) == 1


# -- readings move ------------------------------------------------------------------------------


def test_a_reading_moves_to_the_right_patient(with_readings, run_cli, installation):
    amina, joseph, newest_first = with_readings
    moved = newest_first[0]

    result = run_cli("readings", "move", str(moved), "--to", joseph, "--reason", "relayed for the wrong ID")

    assert result.exit_code == 0, result.output
    assert f"Moved reading {moved} (BP 150/95 P72) from patient {amina} to patient {joseph}" in result.stdout
    assert moved not in [r["id"] for r in jsonl(run_cli("patients", "show", amina, "--json").stdout)[1:]]
    [reading] = jsonl(run_cli("patients", "show", joseph, "--json").stdout)[1:]
    assert reading["id"] == moved and reading["text"] == "BP 150/95 P72"
    store = installation.store()
    try:
        to, since = store.patients.by_short_id(joseph), iso(START)
        values = {"systolic": 150, "diastolic": 95, "pulse": 72}
        # The repeat check now finds it under Joseph, no longer under Amina.
        assert store.readings.duplicate_since(to.id, "bp", values, since) == "2026-11-22T17:00:00+00:00"
        assert store.readings.duplicate_since(store.patients.by_short_id(amina).id, "bp", values, since) is None
        entry = store.audit.entries()[-1]
        assert store.audit.verify().ok
    finally:
        store.db.close()
    assert (entry.actor, entry.action, entry.subject) == ("cli", "reading.moved", f"reading:{moved}")
    assert entry.detail == f"from={amina} to={joseph} reason=relayed for the wrong ID"
    assert "Amina" not in entry.detail and "Joseph" not in entry.detail


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["999", "--to", "JOSEPH", "--reason", "wrong patient"], "no reading 999"),
        (["12x", "--to", "JOSEPH", "--reason", "wrong patient"], "no reading 12x"),
        (["READING", "--to", "99999", "--reason", "wrong patient"], "no patient with ID 99999"),
        (["READING", "--to", "AMINA", "--reason", "wrong patient"], "already patient"),
        (["READING", "--to", "JOSEPH", "--reason", "   "], "reason"),
    ],
    ids=["unknown-reading", "not-a-number", "unknown-patient", "same-patient", "blank-reason"],
)
def test_readings_move_mistakes_are_one_line(with_readings, run_cli, cli_error, args, expected):
    amina, joseph, newest_first = with_readings
    names = {"READING": str(newest_first[0]), "AMINA": amina, "JOSEPH": joseph}
    args = [names.get(a, a) for a in args]
    cli_error(run_cli("readings", "move", *args), expected.replace("AMINA", amina))
    assert len(jsonl(run_cli("patients", "show", amina, "--json").stdout)) == 14  # nothing moved


def test_the_senders_undo_no_longer_reaches_a_moved_reading(twilio, store, run_cli):
    """Halima texted her reading from Amina's phone; the clinic moved it to her. A late
    UNDO from that phone must not delete it from its rightful place."""
    from tests.helpers.conversation_script import ScriptRunner

    ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", "+254712345678", "pin=1111", "consent"])
    ScriptRunner.add_patient(store, ["5970", "Halima Zawadi", "+254712345699", "pin=2222", "consent"])
    twilio.sms("+254712345678", "BP 150/95")
    [reading] = store.readings.for_patient(store.patients.by_short_id("4376").id)
    assert run_cli("readings", "move", str(reading.id), "--to", "5970", "--reason", "sent for the wrong person"
                   ).exit_code == 0
    replies = twilio.sms("+254712345678", "UNDO").messages
    assert replies and replies[0].startswith("Nothing to undo"), replies
    assert [r.id for r in store.readings.for_patient(store.patients.by_short_id("5970").id)] == [reading.id]


@pytest.mark.parametrize("name", ["Amina Zawadi.", "Zawadi Amina", "AMINA  zawadi"])
def test_a_name_written_another_way_is_still_a_likely_duplicate(run_cli, cli_error, name):
    assert run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712345678").exit_code == 0
    result = run_cli("patients", "add", "--name", name, "--phone", "0712345678")
    cli_error(result, "looks like patient")


def test_a_phone_is_either_a_patients_or_staffs(run_cli, cli_error):
    """Staff texts are read as commands: a patient on a staff number (or staff on a
    patient's number) would lose the patient service, urgent readings included."""
    assert run_cli("users", "add", "--role", "chw", "--name", "Grace Achieng", "--phone", "0700100103").exit_code == 0
    cli_error(run_cli("patients", "add", "--name", "Rehema Ali", "--phone", "0700100103"), "staff number")
    assert run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712345678").exit_code == 0
    cli_error(run_cli("users", "add", "--role", "chw", "--name", "Other", "--phone", "0712345678"), "patient's phone")


def test_an_urgent_readings_alert_moves_with_it(twilio, store, run_cli, cli_error):
    from tests.helpers.conversation_script import ScriptRunner

    ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", "+254712345678", "pin=1111", "consent"])
    ScriptRunner.add_patient(store, ["5970", "Halima Zawadi", "+254712345699", "pin=2222", "consent"])
    twilio.sms("+254712345678", "BP 190/125")
    [reading] = store.readings.for_patient(store.patients.by_short_id("4376").id)
    assert run_cli("readings", "move", str(reading.id), "--to", "5970", "--reason", "wrong person").exit_code == 0
    [alert] = store.alerts.list()
    assert alert.patient_id == store.patients.by_short_id("5970").id
    cli_error(run_cli("readings", "move", "9" * 30, "--to", "5970", "--reason", "x"), "no reading")


def test_an_import_column_we_do_not_know_is_refused_not_ignored(run_cli, cli_error, tmp_path):
    """'Phone Number' ignored would enrol everyone without a phone, unreachable."""
    sheet = tmp_path / "patients.csv"
    sheet.write_text("name,Phone Number\nAmina Zawadi,0712345678\n", encoding="utf-8")
    cli_error(run_cli("patients", "import", str(sheet)), "unknown column 'Phone Number'", "nothing imported")
    assert run_cli("patients", "list").stdout.startswith("No patients yet")
