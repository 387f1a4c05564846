"""Acceptance 5: the audit log is append-only, and `lowband audit verify` finds an entry
that was changed (even by editing the file's bytes) or deleted."""

from __future__ import annotations

import json
import sqlite3

import pytest


@pytest.fixture
def logged(installation, run_cli):
    """An installation with five audit entries: the database's own first entry, then
    four made by the CLI as an admin would.
    Returns the entries' actions by sequence number."""
    added = run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678")
    assert added.exit_code == 0, added.output
    short_id = added.output.split()[2]
    for args in (
        ("users", "add", "--role", "pharmacist", "--name", "Otieno Ouma", "--phone", "0700 100 102"),
        ("meds", "add", short_id, "--name", "Metformin", "--dose", "500mg"),
        ("patients", "add", "--name", "Joseph Mwangi", "--phone", "0722 300 301"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 0, result.output
    store = installation.store()
    try:
        actions = {entry.seq: entry.action for entry in store.audit.entries()}
    finally:
        store.db.close()
    assert actions == {
        1: "database.created", 2: "patient.enrol", 3: "staff.add", 4: "medication.add", 5: "patient.enrol",
    }
    return actions


def tamper(installation, sql: str) -> None:
    """Edit the log with plain SQL, as someone with the file but not the key could."""
    conn = sqlite3.connect(installation.db, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute(sql)
    finally:
        conn.close()


def test_verify_passes_on_an_untouched_log(logged, run_cli):
    result = run_cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intact: 5 entries" in result.stdout

    as_json = run_cli("audit", "verify", "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == {"entries": 5, "ok": True, "problems": []}


def test_an_entry_changed_in_the_files_bytes_is_reported(logged, installation, run_cli):
    # Every connection is closed (the CLI closes its own), so the main file holds it all.
    assert not installation.db.with_name(installation.db.name + "-wal").exists()
    data = installation.db.read_bytes()
    assert data.count(b"staff.add") == 1
    installation.db.write_bytes(data.replace(b"staff.add", b"staff.adm"))

    result = run_cli("audit", "verify")

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "entry 3 changed" in result.stderr
    assert result.stdout == ""
    # ...and only that one: the entries after it still chain from its stored MAC.
    assert result.stderr.count("TAMPERED") == 1


def test_a_changed_timestamp_is_reported(logged, installation, run_cli):
    tamper(installation, "UPDATE audit_log SET at = '2020-01-01T00:00:00+00:00' WHERE seq = 4")
    result = run_cli("audit", "verify")
    assert result.exit_code != 0
    assert "entry 4 changed" in result.stderr


def test_a_deleted_middle_entry_is_reported(logged, installation, run_cli):
    tamper(installation, "DELETE FROM audit_log WHERE seq = 2")

    result = run_cli("audit", "verify")

    assert result.exit_code != 0
    assert "entry 2 deleted" in result.stderr


def test_a_deleted_first_entry_is_reported(logged, installation, run_cli):
    tamper(installation, "DELETE FROM audit_log WHERE seq = 1")
    result = run_cli("audit", "verify")
    assert result.exit_code != 0
    assert "entry 1 deleted" in result.stderr


def test_a_deleted_newest_entry_is_reported(logged, installation, run_cli):
    tamper(installation, "DELETE FROM audit_log WHERE seq = 5")

    result = run_cli("audit", "verify", "--json")

    assert result.exit_code != 0
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["entries"] == 4
    assert any("deleted" in problem and "5" in problem for problem in report["problems"])


def test_entries_renumbered_to_hide_a_deletion_are_reported(logged, installation, run_cli):
    tamper(installation, "DELETE FROM audit_log WHERE seq = 2")
    tamper_again = sqlite3.connect(installation.db, isolation_level=None)
    try:
        tamper_again.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > 2")
    finally:
        tamper_again.close()

    result = run_cli("audit", "verify")

    assert result.exit_code != 0
    assert "changed" in result.stderr


def test_a_forged_head_record_is_reported(logged, installation, run_cli):
    conn = sqlite3.connect(installation.db, isolation_level=None)
    try:
        conn.execute("UPDATE meta SET value = '4:' || substr(value, 3) WHERE key = 'audit_head'")
    finally:
        conn.close()
    result = run_cli("audit", "verify")
    assert result.exit_code != 0
    assert "head" in result.stderr


@pytest.mark.parametrize(
    "sql",
    ["UPDATE audit_log SET action = 'nothing' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1",
     "DELETE FROM audit_log"],
)
def test_sql_cannot_update_or_delete_entries(logged, installation, sql):
    conn = sqlite3.connect(installation.db, isolation_level=None)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 5
    finally:
        conn.close()


def test_entries_hold_no_personal_data(logged, installation):
    store = installation.store()
    try:
        text = json.dumps([vars(entry) for entry in store.audit.entries()])
    finally:
        store.db.close()
    for personal in ("Amina", "Zawadi", "712345678", "Otieno", "Metformin"):
        assert personal not in text


def test_a_wiped_log_is_reported(logged, installation, run_cli):
    tamper(installation, "DELETE FROM audit_log")
    conn = sqlite3.connect(installation.db, isolation_level=None)
    try:
        conn.execute("DELETE FROM meta WHERE key = 'audit_head'")
    finally:
        conn.close()
    result = run_cli("audit", "verify")
    assert result.exit_code != 0
    assert "all entries deleted" in result.stderr
