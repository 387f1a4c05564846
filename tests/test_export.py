"""`lowband export`: the clinic's records leave as FHIR R4 a receiving system accepts
(checked against the maintained R4B models), or as flat CSV / JSON lines; each reading
with its LOINC code and UCUM unit; --since for what changed; and a file that says it
holds health data in clear, readable by its owner only, never written over by accident."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from flows.readings import glucose_reading, temperature_reading, weight_reading

OLD = "2026-10-01T08:00:00+00:00"
NEW = "2026-11-20T08:00:00+00:00"


def validate(document: dict) -> Bundle:
    """The bundle, and each resource in it by its own model: a wrong field fails."""
    bundle = Bundle.model_validate(document)
    for entry in document["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
    return bundle


def resources(document: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == kind]


def export(run_cli, tmp_path, *args: str, name: str = "out.json"):
    out = tmp_path / name
    result = run_cli("export", "--out", str(out), *args)
    assert result.exit_code == 0, result.output
    return result, out


@pytest.fixture
def records(installation, run_cli):
    """Two patients; Joseph has one reading of every kind (some entered in other units),
    a refill, a consultation with a reply, and an urgent alert; Amina an old reading."""
    assert run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712345678", "--birth-year", "1968",
                   "--sex", "F", "--language", "sw").exit_code == 0
    assert run_cli("patients", "add", "--name", "Joseph Mwangi", "--phone", "0722300301").exit_code == 0
    add_pharmacist = ("users", "add", "--role", "pharmacist", "--name", "Otieno Ouma", "--phone", "0700100102")
    assert run_cli(*add_pharmacist).exit_code == 0
    st = installation.store(clock=lambda: datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
    amina, joseph = (p for p in st.patients.all())
    pharmacist = st.staff.by_phone("+254700100102")
    readings = [
        ("bp", {"systolic": 186, "diastolic": 122, "pulse": 88}, "urgent"),
        ("glucose", glucose_reading(7.2, "mmol/L").values, "normal"),
        ("glucose", glucose_reading(130, "mg/dL").values, "high"),
        ("weight", weight_reading(180, "lb").values, "normal"),
        ("temperature", temperature_reading(101, "F").values, "high"),
        ("spo2", {"percent": 95}, "normal"),
        ("pulse", {"bpm": 72}, "low"),
    ]
    with st.write():
        for kind, measured, level in readings:
            st.readings.add(patient_id=joseph.id, submission_id=st.new_id(), kind=kind, measured=measured,
                            level=level, sender_index=b"x", submitted_by=f"patient:{joseph.short_id}", taken_at=NEW)
        st.readings.add(patient_id=amina.id, submission_id=st.new_id(), kind="weight", measured={"kg": 64.5},
                        level="normal", sender_index=b"y", submitted_by=f"patient:{amina.short_id}", taken_at=OLD)
        medicine = st.medications.add(joseph.id, name="Losartan", dose="50mg", quantity=30)
        refill = st.refills.request(ref="RF1", patient_id=joseph.id, medication_id=medicine.id)
        st.refills.answer(refill.id, status="refused", answer="out of stock until Friday", staff_id=pharmacist.id)
        st.consults.open_consult(ref="C1", patient_id=joseph.id,
                                 summary={"problem": "headache", "days": 2, "words": "my head hurts"})
        st.consults.add_reply("C1", "better today")
        st.alerts.raise_alert(ref="A1", patient_id=joseph.id, reason="bp_crisis", submission_id=None)
    st.db.close()
    return {"amina": amina.short_id, "joseph": joseph.short_id}


def test_the_demo_clinic_exports_as_a_valid_fhir_bundle(tmp_path, run_cli):
    env = {"LOWBAND_DB": str(tmp_path / "demo" / "lowband.db"), "LOWBAND_KEY_FILE": str(tmp_path / "demo" / "k.key")}
    assert run_cli("init", "--demo", env=env).exit_code == 0
    out = tmp_path / "demo-export.json"

    result = run_cli("export", "--format", "fhir", "--out", str(out), env=env)

    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    bundle = validate(document)
    assert bundle.type == "collection"
    listed = {json.loads(line)["id"] for line in run_cli("patients", "list", "--json", env=env).stdout.splitlines()}
    exported = {p["identifier"][0]["value"] for p in resources(document, "Patient")}
    assert exported == listed and len(listed) == 3
    names = {p["name"][0]["text"] for p in resources(document, "Patient")}
    assert names == {"Amina Zawadi", "Joseph Mwangi", "Halima Zawadi"}
    patients = {f"urn:uuid:{p['id']}" for p in resources(document, "Patient")}
    for entry in document["entry"]:
        subject = entry["resource"].get("subject")
        assert subject is None or subject["reference"] in patients  # every reference resolves in the bundle
    assert f"Exported 3 patients and their records ({len(document['entry'])} resources)" in result.stdout


def test_each_reading_kind_has_its_loinc_code_and_ucum_unit(records, run_cli, tmp_path):
    _, out = export(run_cli, tmp_path)
    document = json.loads(out.read_text())
    validate(document)

    seen = {}
    for obs in resources(document, "Observation"):
        codes = tuple(c["code"] for c in obs["code"]["coding"])
        assert all(c["system"] == "http://loinc.org" for c in obs["code"]["coding"])
        assert obs["status"] == "final" and obs["effectiveDateTime"]
        if "component" in obs:
            value = {c["code"]["coding"][0]["code"]: (c["valueQuantity"]["value"], c["valueQuantity"]["code"])
                     for c in obs["component"]}
        else:
            quantity = obs["valueQuantity"]
            assert quantity["system"] == "http://unitsofmeasure.org"
            value = (quantity["value"], quantity["code"])
        category = obs["category"][0]["coding"][0]["code"]
        interpretation = obs.get("interpretation", [{}])[0].get("coding", [{}])[0].get("code")
        seen.setdefault(codes, []).append((value, category, interpretation))

    assert seen[("85354-9",)] == [({"8480-6": (186, "mm[Hg]"), "8462-4": (122, "mm[Hg]")}, "vital-signs", "AA")]
    # The BP's pulse is a heart rate of its own (not judged alone), beside the pulse reading.
    assert sorted(seen[("8867-4",)], key=str) == [((72, "/min"), "vital-signs", "L"),
                                                  ((88, "/min"), "vital-signs", None)]
    assert seen[("15074-8",)] == [((7.2, "mmol/L"), "laboratory", "N")]
    assert seen[("2339-0",)] == [((130.0, "mg/dL"), "laboratory", "H")]  # as entered, not converted
    assert ((81.6, "kg"), "vital-signs", "N") in seen[("29463-7",)]  # typed in pounds, stored and sent in kg
    assert seen[("8310-5",)] == [((38.3, "Cel"), "vital-signs", "H")]
    assert seen[("2708-6", "59408-5")] == [((95, "%"), "vital-signs", "N")]
    weights = [o for o in resources(document, "Observation") if o["code"]["coding"][0]["code"] == "29463-7"]
    assert "http://hl7.org/fhir/StructureDefinition/vitalsigns" in weights[0]["meta"]["profile"]


def test_refills_consultations_and_alerts_become_their_resources(records, run_cli, tmp_path):
    _, out = export(run_cli, tmp_path)
    document = json.loads(out.read_text())
    validate(document)
    joseph = next(p for p in resources(document, "Patient") if p["identifier"][0]["value"] == records["joseph"])
    me = f"urn:uuid:{joseph['id']}"

    [request] = resources(document, "MedicationRequest")
    assert request["status"] == "cancelled"  # the pharmacist refused it
    assert request["medicationCodeableConcept"]["text"] == "Losartan"
    assert request["note"][0]["text"] == "out of stock until Friday" and request["subject"]["reference"] == me
    first, reply = resources(document, "Communication")
    assert first["payload"][0]["contentString"] == "my head hurts" and first["topic"]["text"] == "headache, 2 days"
    assert reply["payload"][0]["contentString"] == "better today"
    assert reply["inResponseTo"][0]["reference"] == f"urn:uuid:{first['id']}"
    assert first["sender"]["reference"] == me
    [flag] = resources(document, "Flag")
    assert flag["status"] == "active" and flag["code"]["text"] == "bp_crisis" and flag["subject"]["reference"] == me


def test_exporting_again_gives_the_same_ids(records, run_cli, tmp_path):
    _, first = export(run_cli, tmp_path, name="one.json")
    _, second = export(run_cli, tmp_path, name="two.json")
    ids = [[e["fullUrl"] for e in json.loads(path.read_text())["entry"]] for path in (first, second)]
    assert ids[0] == ids[1] and len(set(ids[0])) == len(ids[0])


def test_since_leaves_out_what_is_older(records, run_cli, tmp_path):
    _, everything = export(run_cli, tmp_path, name="all.json")
    _, recent = export(run_cli, tmp_path, "--since", "2026-11-01T00:00+03:00", name="recent.json")

    def weights(path):
        document = json.loads(path.read_text())
        validate(document)
        return sorted(o["valueQuantity"]["value"] for o in resources(document, "Observation")
                      if o["code"]["coding"][0]["code"] == "29463-7")

    assert weights(everything) == [64.5, 81.6]
    assert weights(recent) == [81.6]  # Amina's October weight is left out
    document = json.loads(recent.read_text())
    assert len(resources(document, "Observation")) == 8 and resources(document, "Flag")


def test_a_since_that_is_not_a_date_is_one_line(records, run_cli, cli_error, tmp_path):
    out = tmp_path / "x.json"
    cli_error(run_cli("export", "--since", "last tuesday", "--out", str(out)), "--since", "2026-11-22T08:00+03:00")
    cli_error(run_cli("export", "--since", "2026-11-01", "--out", str(out)), "UTC offset")
    assert not out.exists()


def test_the_file_is_private_warned_about_and_audited(records, run_cli, installation, tmp_path):
    old_umask = os.umask(0o022)  # even where the shell would make files readable by all
    try:
        result, out = export(run_cli, tmp_path)
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "holds health data in clear" in result.stderr and str(out) in result.stderr
    assert "Zawadi" not in result.stderr + result.stdout  # the data is in the file only
    st = installation.store()
    entries = [e for e in st.audit.entries() if e.action == "export.made"]
    st.db.close()
    assert len(entries) == 1
    assert "format=fhir" in entries[0].detail and "Zawadi" not in str(vars(entries[0]))


def test_an_existing_file_is_kept_unless_forced(records, run_cli, cli_error, tmp_path):
    out = tmp_path / "export.json"
    out.write_text("keep me")
    out.chmod(0o644)

    cli_error(run_cli("export", "--out", str(out)), "already exists", "--force")
    assert out.read_text() == "keep me"

    result = run_cli("export", "--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    validate(json.loads(out.read_text()))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # a new file, not the old one's wider mode


def test_the_default_file_is_named_by_the_date_in_the_current_folder(records, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("export", "--format", "csv")
    assert result.exit_code == 0, result.output
    [made] = list(tmp_path.glob("lowband-export-*.csv"))
    assert str(made.name) in result.stdout and result.stdout.count("Zawadi") == 0


def test_json_lines_are_one_record_a_line_with_the_fhir_ids(records, run_cli, tmp_path):
    _, fhir_file = export(run_cli, tmp_path)
    _, out = export(run_cli, tmp_path, "--format", "json", name="out.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]

    kinds = {row["resource"] for row in rows}
    assert kinds == {"patient", "reading", "refill", "message", "alert"}
    [bp] = [r for r in rows if r.get("reading") == "bp"]
    assert (bp["systolic"], bp["diastolic"], bp["unit"], bp["loinc"], bp["level"]) == (186, 122, "mm[Hg]",
                                                                                        "85354-9", "urgent")
    [amina] = [r for r in rows if r["resource"] == "patient" and r["patient"] == records["amina"]]
    assert (amina["name"], amina["phone"], amina["birth_year"]) == ("Amina Zawadi", "+254712345678", 1968)
    fhir_ids = {e["resource"]["id"] for e in json.loads(fhir_file.read_text())["entry"]}
    assert {r["id"] for r in rows} == fhir_ids


def test_csv_is_one_file_with_a_resource_column(records, run_cli, tmp_path):
    _, out = export(run_cli, tmp_path, "--format", "csv", name="out.csv")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text())))

    assert rows[0].keys() >= {"resource", "id", "patient", "time", "name", "loinc", "value", "unit"}
    glucose = sorted((r["value"], r["unit"], r["loinc"]) for r in rows if r["reading"] == "glucose")
    assert glucose == [("130.0", "mg/dL", "2339-0"), ("7.2", "mmol/L", "15074-8")]
    [refill] = [r for r in rows if r["resource"] == "refill"]
    assert (refill["ref"], refill["status"], refill["medicine"]) == ("RF1", "refused", "Losartan")
    assert {r["resource"] for r in rows} == {"patient", "reading", "refill", "message", "alert"}


def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_written_as_text(records, run_cli, tmp_path,
                                                                          installation):
    """Anyone who can text the clinic chooses words that land in the export."""
    st = installation.store()
    joseph = st.patients.by_short_id(records["joseph"])
    with st.write():
        st.consults.open_consult(ref="C2", patient_id=joseph.id,
                                 summary={"problem": "other", "days": 1, "words": '=HYPERLINK("http://x.example")'})
    st.db.close()
    _, out = export(run_cli, tmp_path, "--format", "csv", name="out.csv")
    cells = [cell for row in csv.reader(io.StringIO(out.read_text())) for cell in row]
    assert "'=HYPERLINK(\"http://x.example\")" in cells
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]  # phones too: '+254...
