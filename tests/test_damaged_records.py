"""One damaged record never breaks a list or a conversation for everyone else: a row
whose sealed value fails to open (a flipped byte) or holds something that is not JSON is
left out with a warning naming its table and id, never its content; `lowband doctor`
finds every such row."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import struct
from datetime import timedelta

import pytest

from storage import FieldIntegrityError
from storage.crypto import FORMAT_VERSION, _aad
from tests.helpers.conversation_script import ScriptRunner

FAMILY_PHONE = "+254712345678"
CHW_PHONE = "+254700100103"
DAMAGE = ["flipped-byte", "not-json"]


def flip_a_byte(db, table: str, column: str, row_id: int) -> None:
    """What a bad disk or a careless edit does: one byte of the ciphertext changed."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        blob = bytearray(conn.execute(f"SELECT {column} FROM {table} WHERE id = ?", (row_id,)).fetchone()[0])  # noqa: S608
        blob[-5] ^= 0x40
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (bytes(blob), row_id))  # noqa: S608
    finally:
        conn.close()


def seal_not_json(store, db, table: str, column: str, row_id: int) -> None:
    """A value that opens (right key, right place) but is not JSON."""
    header = struct.pack(">BH", FORMAT_VERSION, store.keys.current)
    nonce = os.urandom(12)
    sealed = store.keys.aead(store.keys.current).encrypt(nonce, b"{not json", _aad(table, column, row_id, header))
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (header + nonce + sealed, row_id))  # noqa: S608
    finally:
        conn.close()


@pytest.fixture
def damage(installation, store):
    def damage(how: str, table: str, column: str, row_id: int) -> None:
        if how == "flipped-byte":
            flip_a_byte(installation.db, table, column, row_id)
        else:
            seal_not_json(store, installation.db, table, column, row_id)

    return damage


@pytest.fixture
def clinic(store):
    """Grace (CHW); Amina and Halima on the family phone, Joseph on his own, all on
    Grace's panel; two readings for Halima in one submission."""
    with store.write():
        grace = store.staff.add(role="chw", name="Grace Achieng", phone=CHW_PHONE)
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone="+254700100101")
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", FAMILY_PHONE, "pin=1111", "consent",
                                         f"chw={CHW_PHONE}", "born=1968"])
        ScriptRunner.add_patient(store, ["5970", "Halima Zawadi", FAMILY_PHONE, "pin=2222", "consent",
                                         f"chw={CHW_PHONE}", "born=1994"])
        ScriptRunner.add_patient(store, ["1045", "Joseph Mwangi", "+254722300301", f"chw={CHW_PHONE}"])
        halima = store.patients.by_short_id("5970")
        submission = store.new_id()
        readings = [
            store.readings.add(patient_id=halima.id, submission_id=submission, kind=kind, measured=values,
                               level="normal", sender_index=store.phone_index(FAMILY_PHONE),
                               submitted_by="patient:5970", taken_at=store.now_iso())
            for kind, values in (("bp", {"systolic": 120, "diastolic": 80, "pulse": 70}), ("weight", {"kg": 61.5}))
        ]
    return {"store": store, "grace": grace.id, "amina": store.patients.by_short_id("4376").id, "halima": halima.id,
            "submission": submission, "readings": readings}


def warned_about(caplog, table: str, row_id: int) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    return [line for line in lines if table in line and str(row_id) in line]


# -- storage lists ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", DAMAGE)
def test_patient_lists_leave_out_a_damaged_patient_and_say_which(clinic, damage, caplog, how):
    store, amina = clinic["store"], clinic["amina"]
    damage(how, "patients", "name", amina)

    with caplog.at_level(logging.WARNING):
        assert [p.short_id for p in store.patients.all()] == ["5970", "1045"]
        assert [p.short_id for p in store.patients.with_phone(FAMILY_PHONE)] == ["5970"]
        assert [b.short_id for b in store.patients.briefs_on_phone(store.phone_index(FAMILY_PHONE))] == ["5970"]
        assert sorted(p.short_id for p in store.patients.for_chw(clinic["grace"])) == ["1045", "5970"]
        assert store.patients.likely_duplicates("Halima Zawadi", birth_year=1994)[0].short_id == "5970"

    assert warned_about(caplog, "patients", amina)
    assert not any("Amina" in r.getMessage() or "Zawadi" in r.getMessage() for r in caplog.records)
    # Asked for by itself, the damaged record still fails, loudly.
    with pytest.raises(FieldIntegrityError, match=f"patients.name of row {amina}"):
        store.patients.get(amina)


def test_a_damaged_birth_year_leaves_that_patient_out_of_the_duplicate_check(clinic, damage):
    store = clinic["store"]
    damage("flipped-byte", "patients", "birth_year", clinic["halima"])
    assert store.patients.likely_duplicates("Halima Zawadi", birth_year=1994) == []
    assert [p.short_id for p in store.patients.likely_duplicates("Amina Zawadi", birth_year=1968)] == ["4376"]


@pytest.mark.parametrize("how", DAMAGE)
def test_reading_lists_leave_out_a_damaged_reading(clinic, damage, caplog, how):
    store, halima = clinic["store"], clinic["halima"]
    bp, weight = clinic["readings"]
    damage(how, "readings", "measured", bp)

    with caplog.at_level(logging.WARNING):
        assert [r.id for r in store.readings.for_patient(halima)] == [weight]
        assert [r.id for r in store.readings.newest_for(halima)] == [weight]
        assert [r.id for r in store.readings.in_submission(clinic["submission"])] == [weight]

    assert warned_about(caplog, "readings", bp)
    with pytest.raises(FieldIntegrityError, match=f"readings.measured of row {bp}"):
        store.readings.get(bp)


def test_a_value_under_a_key_the_key_file_lacks_still_fails_the_list(clinic, installation):
    """Not one damaged row but the wrong key file: hiding every row would be worse."""
    store = clinic["store"]
    conn = sqlite3.connect(installation.db, isolation_level=None)
    try:
        blob = bytearray(conn.execute("SELECT name FROM patients WHERE id = ?", (clinic["amina"],)).fetchone()[0])
        blob[1:3] = (7).to_bytes(2, "big")
        conn.execute("UPDATE patients SET name = ? WHERE id = ?", (bytes(blob), clinic["amina"]))
    finally:
        conn.close()
    with pytest.raises(FieldIntegrityError, match="key 7"):
        list(store.patients.all())


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_lists_leave_out_a_damaged_record(clinic, damage, run_cli):
    store = clinic["store"]
    damage("flipped-byte", "patients", "name", clinic["amina"])
    damage("not-json", "staff", "name", clinic["grace"])
    with store.write():
        message = store.outbox.enqueue("+254722300301", "Your refill is ready", "refill")
        store.outbox.enqueue("+254722300301", "See you Monday", "reminder")
    damage("flipped-byte", "outbox", "body", message.id)

    listed = run_cli("patients", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert sorted(json.loads(line)["id"] for line in listed.stdout.splitlines()) == ["1045", "5970"]
    assert "damaged record" in listed.stderr and "Amina" not in listed.stderr

    users = run_cli("users", "list", "--json")
    assert users.exit_code == 0 and [json.loads(u)["name"] for u in users.stdout.splitlines()] == ["Wanjiru Kamau"]
    outbox = run_cli("outbox", "--json")
    assert outbox.exit_code == 0 and [json.loads(m)["body"] for m in outbox.stdout.splitlines()] == ["See you Monday"]
    shown = run_cli("patients", "show", "5970")
    assert shown.exit_code == 0 and "Halima Zawadi" in shown.stdout


def test_cli_show_of_the_damaged_patient_is_one_line(clinic, damage, run_cli, cli_error):
    damage("flipped-byte", "patients", "phone", clinic["amina"])
    line = cli_error(run_cli("patients", "show", "4376"), "patients.phone", "lowband doctor")
    assert "key file" not in line  # one record, not the key file


def test_cli_show_leaves_out_a_damaged_reading(clinic, damage, run_cli):
    bp, weight = clinic["readings"]
    damage("not-json", "readings", "level", bp)
    result = run_cli("patients", "show", "5970", "--json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line).get("kind") for line in result.stdout.splitlines()[1:]] == ["weight"]


def test_moving_a_damaged_reading_is_one_line(clinic, damage, run_cli, cli_error):
    bp, _ = clinic["readings"]
    damage("flipped-byte", "readings", "kind", bp)
    cli_error(run_cli("readings", "move", str(bp), "--to", "1045", "--reason", "wrong patient"), f"row {bp}")


# -- lowband doctor -----------------------------------------------------------------------------


def test_doctor_on_a_sound_database(clinic, run_cli):
    result = run_cli("doctor")
    assert result.exit_code == 0, result.output
    assert "No damaged records" in result.stdout
    assert run_cli("doctor", "--json").stdout == ""


def test_doctor_lists_every_damaged_value(clinic, damage, run_cli, cli_error):
    bp, _ = clinic["readings"]
    damage("flipped-byte", "patients", "name", clinic["amina"])
    damage("not-json", "readings", "measured", bp)

    result = run_cli("doctor")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TABLE", "ID", "COLUMN", "PROBLEM"]
    assert any(line.split()[:3] == ["patients", str(clinic["amina"]), "name"] for line in lines)
    assert any(line.split()[:3] == ["readings", str(bp), "measured"] and "not valid JSON" in line for line in lines)
    assert "Amina" not in result.output
    assert result.stderr.strip().splitlines() == ["2 damaged values: restore from a backup or enter again."]

    rows = [json.loads(line) for line in run_cli("doctor", "--json").stdout.splitlines()]
    assert sorted((r["table"], r["id"], r["column"]) for r in rows) == sorted(
        [("patients", clinic["amina"], "name"), ("readings", bp, "measured")]
    )


# -- a conversation ---------------------------------------------------------------------------------


def test_a_family_phone_still_works_when_one_member_is_damaged(clinic, damage, twilio):
    damage("flipped-byte", "patients", "name", clinic["amina"])
    reply = twilio.sms(FAMILY_PHONE, "hi")
    assert reply.status == 200, reply.raw
    # Halima, now the only one the phone can reach, gets her menu as usual.
    assert [text.split(":")[0] for text in reply.messages] == ["Menu"], reply.messages


# -- the SMS path: a damaged alert, session or outbox row never stops anyone else ------


def test_a_damaged_alert_leaves_tasks_and_readings_working(twilio, clock, store, installation, caplog):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone="+254700100101")
        store.staff.add(role="chw", name="Grace Achieng", phone=CHW_PHONE)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", "+254712345670", "pin=1111", "consent",
                                         f"chw={CHW_PHONE}"])
        ScriptRunner.add_patient(store, ["5970", "Halima Zawadi", "+254712345671", "pin=2222", "consent",
                                         f"chw={CHW_PHONE}"])
    twilio.sms("+254712345670", "BP 190/125")
    twilio.sms("+254712345671", "BP 195/125")
    first = store.alerts.list()[0]
    flip_a_byte(installation.db, "alerts", "reason", first.id)
    with caplog.at_level(logging.WARNING):
        tasks = twilio.sms(CHW_PHONE, "TASKS").messages
        replies = twilio.sms("+254712345671", "BP 150/95").messages
    assert tasks and tasks[0].startswith("Tasks:"), tasks
    assert replies and "saved BP 150/95" in replies[0], replies
    assert f"alerts row {first.id}" in caplog.text and "190/125" not in caplog.text


def test_a_damaged_session_starts_that_conversation_over(twilio, store, installation):
    ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", FAMILY_PHONE, "pin=1111", "consent"])
    twilio.sms(FAMILY_PHONE, "NURSE")
    conn = sqlite3.connect(installation.db, isolation_level=None)
    try:
        blob = bytearray(conn.execute("SELECT state FROM sessions").fetchone()[0])
        blob[-5] ^= 0x40
        conn.execute("UPDATE sessions SET state = ?", (bytes(blob),))
    finally:
        conn.close()
    replies = twilio.sms(FAMILY_PHONE, "hello").messages
    assert replies and replies[0].startswith("Menu:"), replies


def test_a_damaged_outbox_message_is_given_up_and_the_rest_are_sent(twilio, clock, store, installation):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone="+254700100101")
        store.staff.add(role="clinician", name="Kevin Mutua", phone="+254700100105")
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", FAMILY_PHONE, "pin=1111", "consent"])
    twilio.sms(FAMILY_PHONE, "BP 190/125")
    first, second = store.outbox.list()
    flip_a_byte(installation.db, "outbox", "body", first.id)
    with store.write():
        claimed = store.outbox.claim_due(clock.now + timedelta(minutes=1))

    assert [m.id for m in claimed] == [second.id]
    row = store.one("SELECT status, error FROM outbox WHERE id = ?", (first.id,))
    assert tuple(row) == ("failed", "damaged record")
