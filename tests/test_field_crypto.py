"""Acceptance 3: a sealed value that was moved or altered fails loudly; a wrong, missing or
damaged key file is one clear line naming the file; the key file is made once, mode 0600."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from storage import FieldIntegrityError, create_key_file
from storage.rotation import rotate
from storage.store import open_store


@pytest.fixture
def records(store):
    """Two of each kind of record, written through the repositories."""
    with store.write():
        nurse = store.staff.add(role="chw", name="Grace Achieng", phone="+254700100103")
        doctor = store.staff.add(role="clinician", name="Wanjiru Kamau", phone="+254700100101",
                                 email="w@clinic.example")

        amina = store.patients.add(
            name="Amina Zawadi", phone="+254712345678", time_zone="Africa/Nairobi", birth_year=1968, sex="F"
        )
        joseph = store.patients.add(
            name="Joseph Mwangi", phone="+254722300301", time_zone="Africa/Nairobi", birth_year=1955, sex="M"
        )
        metformin = store.medications.add(amina.id, name="Metformin", dose="500mg", quantity=60)
        losartan = store.medications.add(joseph.id, name="Losartan", dose="50mg", quantity=30)
    return {
        "staff": (nurse.id, doctor.id, store.staff.get),
        "patients": (amina.id, joseph.id, store.patients.get),
        "medications": (metformin.id, losartan.id, store.medications.get),
    }


@pytest.fixture
def raw(installation):
    """A plain sqlite3 connection, as someone tampering with the file would use."""
    conn = sqlite3.connect(installation.db, isolation_level=None)
    yield conn
    conn.close()


def blob(raw, table: str, column: str, row_id: int) -> bytes:
    return raw.execute(f"SELECT {column} FROM {table} WHERE id = ?", (row_id,)).fetchone()[0]  # noqa: S608


def put(raw, table: str, column: str, row_id: int, value: bytes) -> None:
    raw.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, row_id))  # noqa: S608


@pytest.mark.parametrize(
    ("table", "column"),
    [("patients", "name"), ("patients", "phone"), ("patients", "birth_year"), ("staff", "name"),
     ("staff", "phone"), ("medications", "name"), ("medications", "dose")],
)
def test_a_value_copied_to_another_row_fails_its_integrity_check(records, raw, table, column):
    source, target, get = records[table]
    put(raw, table, column, target, blob(raw, table, column, source))

    with pytest.raises(FieldIntegrityError, match="integrity") as failure:
        get(target)
    assert f"{table}.{column}" in str(failure.value)
    get(source)  # the original stays readable


@pytest.mark.parametrize(
    ("table", "source_column", "target_column"),
    [("patients", "phone", "name"), ("patients", "sex", "birth_year"), ("staff", "phone", "name"),
     ("staff", "name", "email"), ("medications", "dose", "name")],
)
def test_a_value_moved_to_another_column_of_its_row_fails(records, raw, table, source_column, target_column):
    row_id, _, get = records[table]
    put(raw, table, target_column, row_id, blob(raw, table, source_column, row_id))

    with pytest.raises(FieldIntegrityError, match=f"integrity check failed for {table}.{target_column}"):
        get(row_id)


def test_every_single_byte_change_of_a_ciphertext_is_caught(records, raw, store):
    row_id, _, get = records["patients"]
    original = blob(raw, "patients", "name", row_id)
    for position in range(len(original)):
        for flip in (0x01, 0x80, 0xFF):
            altered = bytearray(original)
            altered[position] ^= flip
            put(raw, "patients", "name", row_id, bytes(altered))
            with pytest.raises(FieldIntegrityError, match="integrity"):
                get(row_id)
    put(raw, "patients", "name", row_id, original)
    assert get(row_id).name == "Amina Zawadi"


@pytest.mark.parametrize("cut", [1, 16, 40])
def test_a_shortened_ciphertext_is_caught(records, raw, cut):
    row_id, _, get = records["medications"]
    put(raw, "medications", "dose", row_id, blob(raw, "medications", "dose", row_id)[:-cut])
    with pytest.raises(FieldIntegrityError, match="integrity"):
        get(row_id)


def test_the_integrity_error_does_not_repeat_the_value(records, raw):
    row_id, other, get = records["patients"]
    put(raw, "patients", "name", row_id, blob(raw, "patients", "name", other))
    with pytest.raises(FieldIntegrityError) as failure:
        get(row_id)
    assert "Joseph" not in str(failure.value) and "Amina" not in str(failure.value)


# -- the key file, as the admin meets it --------------------------------------------------


def test_another_installations_key_file_is_one_clear_line(installation, run_cli, cli_error, tmp_path):
    assert run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678").exit_code == 0
    other = tmp_path / "other" / "lowband.key"
    create_key_file(other)

    result = run_cli("patients", "list", env={"LOWBAND_KEY_FILE": str(other)})
    line = cli_error(result, str(other), "does not belong")
    assert "Amina" not in result.output
    assert line.startswith("Error:")


def test_a_missing_key_file_is_one_clear_line(installation, run_cli, cli_error):
    missing = installation.root / "elsewhere" / "lowband.key"
    cli_error(run_cli("patients", "list", env={"LOWBAND_KEY_FILE": str(missing)}), str(missing), "not found")


def _damage_not_json(text: str) -> str:
    return "this is not a key file\n"


def _damage_truncate(text: str) -> str:
    return text[: len(text) // 2]


def _damage_empty(text: str) -> str:
    return ""


def _damage_bad_base64(text: str) -> str:
    doc = json.loads(text)
    doc["index_key"] = "not*base64!"
    return json.dumps(doc)


def _damage_short_key(text: str) -> str:
    doc = json.loads(text)
    doc["field_keys"]["1"] = doc["field_keys"]["1"][:20]
    return json.dumps(doc)


def _damage_current_missing(text: str) -> str:
    doc = json.loads(text)
    doc["current"] = 7
    return json.dumps(doc)


def _damage_wrong_format(text: str) -> str:
    doc = json.loads(text)
    doc["format"] = "something-else/9"
    return json.dumps(doc)


def _damage_a_list(text: str) -> str:
    return "[1, 2, 3]"


@pytest.mark.parametrize(
    "damage",
    [_damage_not_json, _damage_truncate, _damage_empty, _damage_bad_base64, _damage_short_key,
     _damage_current_missing, _damage_wrong_format, _damage_a_list],
)
def test_a_damaged_key_file_is_one_clear_line(installation, run_cli, cli_error, damage):
    damaged = installation.root / "damaged.key"
    damaged.write_text(damage(installation.key_file.read_text()))
    cli_error(run_cli("patients", "list", env={"LOWBAND_KEY_FILE": str(damaged)}), str(damaged))


def test_a_key_file_with_a_wrong_field_key_is_one_clear_line_naming_it(installation, run_cli, cli_error):
    # Same installation (so the fingerprint matches) but the field key itself is wrong,
    # e.g. a hand-edited or half-restored key file: caught when the database is opened,
    # before any value is read.
    assert run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678").exit_code == 0
    doc = json.loads(installation.key_file.read_text())
    doc["field_keys"]["1"] = base64.b64encode(secrets.token_bytes(32)).decode()
    edited = installation.root / "edited.key"
    edited.write_text(json.dumps(doc))
    edited.chmod(0o600)  # a key file open to others is refused before its keys are read

    result = run_cli("patients", "list", env={"LOWBAND_KEY_FILE": str(edited)})
    cli_error(result, "field key 1", str(edited))
    assert "Amina" not in result.output


def test_serve_with_a_wrong_key_file_stops_before_listening(installation, run_cli, cli_error, tmp_path, monkeypatch):
    import waitress

    def must_not_serve(*args, **kwargs):
        raise AssertionError("the server started with a wrong key file")

    monkeypatch.setattr(waitress, "create_server", must_not_serve)
    other = tmp_path / "other.key"
    create_key_file(other)
    cli_error(run_cli("serve", "--port", "5999", env={"LOWBAND_KEY_FILE": str(other)}), str(other))


def test_a_key_file_that_lacks_the_key_a_backup_was_sealed_under_is_one_clear_line(
    installation, run_cli, cli_error, no_rotation_grace
):
    # The real-world wrong key file: a copy made before `keys rotate` (by hand, so the key
    # file never heard of it), opened once the old field key was dropped for good.
    assert run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678").exit_code == 0
    old_copy = installation.root / "before-rotation.db"
    shutil.copy(installation.db, old_copy)
    rotate(lambda ring: open_store(installation.db, ring, pin_work=4), installation.key_file, grace_seconds=0)
    # Rotation keeps the retired key, so the copy still reads...
    assert "Amina Zawadi" in run_cli("patients", "list", env={"LOWBAND_DB": str(old_copy)}).stdout
    # ...until the admin drops it.
    assert run_cli("keys", "retire", "1").exit_code == 0

    result = run_cli("patients", "list", env={"LOWBAND_DB": str(old_copy)})
    cli_error(result, "integrity", str(installation.key_file))


def test_a_wrong_key_file_in_a_real_process_prints_no_traceback(installation, tmp_path):
    other = tmp_path / "other.key"
    create_key_file(other)
    env = {**installation.env, "LOWBAND_KEY_FILE": str(other), "PATH": "/usr/bin:/bin"}
    script = Path(sys.executable).with_name("lowband")  # the console script pip installed
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from lowband.cli import main; main()"]
    done = subprocess.run(
        [*command, "patients", "list"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(other) in lines[0]


# -- lowband init ---------------------------------------------------------------------


def test_init_creates_a_key_file_only_its_owner_can_read(tmp_path, run_cli):
    db, key = tmp_path / "new" / "lowband.db", tmp_path / "keys" / "lowband.key"
    result = run_cli("init", env={"LOWBAND_DB": str(db), "LOWBAND_KEY_FILE": str(key)})

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert db.exists()
    # The admin is told plainly what the key file is for.
    assert str(key) in result.output
    assert "lost" in result.output.lower()


def test_init_refuses_an_existing_database(installation, run_cli, cli_error):
    key_before, db_before = installation.key_file.read_bytes(), installation.db.read_bytes()

    cli_error(run_cli("init"), str(installation.db), "already exists")
    cli_error(run_cli("init", "--demo"), "already exists")

    assert installation.key_file.read_bytes() == key_before
    assert installation.db.read_bytes() == db_before


def test_init_refuses_to_overwrite_an_existing_key_file(installation, run_cli, cli_error):
    key_before = installation.key_file.read_bytes()
    new_db = installation.root / "fresh" / "lowband.db"

    cli_error(run_cli("init", env={"LOWBAND_DB": str(new_db)}), str(installation.key_file), "already exists")

    assert installation.key_file.read_bytes() == key_before
    assert not new_db.exists()
    # The installation still opens with its untouched key.
    assert run_cli("patients", "list").exit_code == 0
