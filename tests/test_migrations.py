"""Acceptance 6: migrations applied twice change nothing, and a database made by the
first schema is upgraded in place, keeping its data."""

from __future__ import annotations

import json

import pytest

from storage import create_key_file, open_store
from storage.connection import connect
from storage.crypto import FieldCipher
from storage.migrations import ENCRYPTED, migrations, schema_version
from storage.short_ids import check_digit

FIRST = "0001_core"
SHORT_ID = "123" + str(check_digit("123"))


def every_migration(tmp_path) -> list[str]:
    """The names of all registered migrations, in order (all are pending on an empty file)."""
    db = connect(tmp_path / "empty.db")
    try:
        return [m.name for m in migrations.pending(db)]
    finally:
        db.close()


def schema(db) -> list[tuple]:
    return db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()


def applied(db) -> list[tuple]:
    return db.execute("SELECT migration_set, name, applied_at FROM _sqlite_migrations ORDER BY rowid").fetchall()


def test_applying_migrations_twice_changes_nothing(tmp_path):
    db = connect(tmp_path / "twice.db")
    try:
        migrations.apply(db)
        first_schema, first_applied = schema(db), applied(db)
        migrations.apply(db)
        assert schema(db) == first_schema
        assert applied(db) == first_applied
        assert [name for _, name, _ in first_applied] == every_migration(tmp_path)
        assert migrations.pending(db) == []
    finally:
        db.close()


def test_opening_an_installation_again_changes_no_schema(installation):
    store = installation.store()
    before = (schema(store.db), applied(store.db))
    store.db.close()
    store = installation.store()
    try:
        assert (schema(store.db), applied(store.db)) == before
    finally:
        store.db.close()


@pytest.fixture
def first_schema_installation(tmp_path):
    """A database as the first release made it, holding one enrolled patient."""
    db_path, key_path = tmp_path / "old" / "lowband.db", tmp_path / "old" / "lowband.key"
    ring = create_key_file(key_path)
    db = connect(db_path)
    migrations.apply(db, stop_before="0002_audit_log")
    assert schema_version(db) == FIRST
    cipher = FieldCipher(ring)
    row_id = 4242
    with db.conn:
        db.conn.execute(
            "INSERT INTO patients (id, short_id, name, phone, phone_index, birth_year, sex, language, time_zone,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'sw', 'Africa/Nairobi', '2024-03-01T08:00:00+00:00')",
            (
                row_id, SHORT_ID,
                cipher.seal("patients", "name", row_id, "Amina Zawadi"),
                cipher.seal("patients", "phone", row_id, "+254712345678"),
                cipher.blind_index("phone", "+254712345678"),
                cipher.seal("patients", "birth_year", row_id, 1968),
                cipher.seal("patients", "sex", row_id, "F"),
            ),
        )
    db.close()
    return db_path, key_path, ring, row_id


def test_a_first_schema_database_is_upgraded_in_place_by_open_store(first_schema_installation, tmp_path):
    db_path, _, ring, row_id = first_schema_installation
    inode = db_path.stat().st_ino

    store = open_store(db_path, ring, pin_work=4)
    try:
        assert store.schema_version() == every_migration(tmp_path)[-1]
        patient = store.patients.get(row_id)
        assert (patient.name, patient.phone, patient.birth_year, patient.sex) == (
            "Amina Zawadi", "+254712345678", 1968, "F",
        )
        assert (patient.pin_hash, patient.pin_failures, patient.locked_until) == (None, 0, None)
        assert [p.id for p in store.patients.with_phone("+254712345678")] == [row_id]
        # The new tables work: the audit log records and verifies.
        with store.write():
            store.audit.record("test", "upgrade.checked")
        assert store.audit.verify().ok
    finally:
        store.db.close()
    assert db_path.stat().st_ino == inode  # the same file, not a copy


def test_a_first_schema_database_is_upgraded_by_the_cli(first_schema_installation, run_cli):
    db_path, key_path, _, _ = first_schema_installation
    env = {"LOWBAND_DB": str(db_path), "LOWBAND_KEY_FILE": str(key_path)}

    listed = run_cli("patients", "list", "--json", env=env)

    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["id"], r["name"], r["phone"], r["language"]) for r in rows] == [
        (SHORT_ID, "Amina Zawadi", "+254712345678", "sw")
    ]
    added = run_cli("patients", "add", "--name", "Joseph Mwangi", "--phone", "0722 300 301", env=env)
    assert added.exit_code == 0, added.output
    assert run_cli("audit", "verify", env=env).exit_code == 0
    db = connect(db_path)
    try:
        assert migrations.pending(db) == []
    finally:
        db.close()


def test_every_blob_column_is_sealed_and_registered_for_rotation_or_is_a_blind_index(store):
    """Guard for future tables: a BLOB column holding personal data that ENCRYPTED does
    not list would never be re-sealed by `keys rotate` and become unreadable after it."""
    tables = [name for (name,) in store.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    unregistered = []
    for table in tables:
        for _, column, declared, *_ in store.execute(f"PRAGMA table_info({table})"):
            if declared.upper() != "BLOB" or column.endswith("_index"):
                continue
            if column not in ENCRYPTED.get(table, ("", ()))[1]:
                unregistered.append(f"{table}.{column}")
    assert unregistered == []


def test_every_registered_column_exists_as_a_blob(store):
    for table, (pk, columns) in ENCRYPTED.items():
        declared = {column: kind.upper() for _, column, kind, *_ in store.execute(f"PRAGMA table_info({table})")}
        assert pk in declared, table
        for column in columns:
            assert declared.get(column) == "BLOB", f"{table}.{column}"


def test_a_column_the_schema_does_not_call_sealed_cannot_be_sealed(store):
    """Repositories seal what storage/schema.py lists, and nothing else: a column sealed
    behind the schema's back would be skipped by rotation and by `lowband doctor`."""
    assert store.seal("patients", "name", 1, "Amina") is not None
    with pytest.raises(ValueError, match="patients.short_id is not a sealed column"):
        store.seal("patients", "short_id", 1, "4376")
