"""Backups survive key rotation, restore puts one back whole, and the ways a backup or a
database file goes wrong are each one clear line, never a traceback or an empty file."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3

import pytest

from storage import load_key_file
from storage.keyfile import known_backups
from storage.store import open_store


@pytest.fixture
def clinic(run_cli):
    for args in (
        ("users", "add", "--role", "clinician", "--name", "Wanjiru Kamau", "--phone", "0700100101"),
        ("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678", "--birth-year", "1968", "--sex", "F"),
        ("patients", "add", "--name", "Joseph Mwangi", "--phone", "+254 722 300 301"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 0, result.output


def everything(installation) -> dict:
    store = open_store(installation.db, load_key_file(installation.key_file), pin_work=4)
    try:
        return {
            "patients": sorted((p.name, p.phone, p.birth_year, p.sex) for p in store.patients.all()),
            "staff": sorted((s.name, s.phone) for s in store.staff.all()),
        }
    finally:
        store.db.close()


def backup_meta(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'backup_%'").fetchall())
    finally:
        conn.close()


def test_a_backup_records_the_keys_it_needs(installation, clinic, run_cli):
    target = installation.root / "backups" / "monday.db"

    result = run_cli("backup", str(target))

    assert result.exit_code == 0, result.output
    assert backup_meta(target)["backup_key_ids"] == "1"
    [known] = known_backups(installation.key_file)
    assert (known["file"], known["keys"]) == (str(target.resolve()), [1])
    assert not list(target.parent.glob("*.partial"))


def test_rotation_keeps_the_key_an_old_backup_needs_and_retire_refuses(
    installation, clinic, run_cli, cli_error, no_rotation_grace
):
    target = installation.root / "monday.db"
    assert run_cli("backup", str(target)).exit_code == 0

    rotated = run_cli("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "Warning" in rotated.stderr  # said before it changed anything

    ring = load_key_file(installation.key_file)
    assert (ring.current, ring.retired) == (2, {1})
    # The old backup still opens with today's key file.
    copy = open_store(target, ring, pin_work=4)
    try:
        assert sorted(p.name for p in copy.patients.all()) == ["Amina Zawadi", "Joseph Mwangi"]
    finally:
        copy.db.close()

    cli_error(run_cli("keys", "retire", "1"), "refusing", "backup", str(target.resolve()))
    cli_error(run_cli("keys", "retire", "2"), "in use")
    cli_error(run_cli("keys", "retire", "9"), "no key 9")
    assert load_key_file(installation.key_file).field_keys.keys() == {1, 2}


def test_retire_drops_a_key_no_backup_needs(installation, clinic, run_cli, no_rotation_grace):
    assert run_cli("keys", "rotate").exit_code == 0

    result = run_cli("keys", "retire", "1")

    assert result.exit_code == 0, result.output
    ring = load_key_file(installation.key_file)
    assert (set(ring.field_keys), ring.retired) == ({2}, set())
    assert everything(installation)["patients"][0][0] == "Amina Zawadi"


def damage(path) -> None:
    """A bad disk: garbage over most of the file."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(100)
        handle.write(secrets.token_bytes(size - 100))


def test_back_up_rotate_twice_damage_restore_end_to_end(installation, clinic, run_cli, cli_error, no_rotation_grace):
    before = everything(installation)
    target = installation.root / "backups" / "monday.db"
    assert run_cli("backup", str(target)).exit_code == 0
    assert run_cli("keys", "rotate").exit_code == 0
    assert run_cli("keys", "rotate").exit_code == 0
    for suffix in ("-wal", "-shm"):
        installation.db.with_name(installation.db.name + suffix).unlink(missing_ok=True)
    damage(installation.db)
    assert run_cli("patients", "list").exit_code != 0

    result = run_cli("restore", str(target))

    assert result.exit_code == 0, result.output
    assert "Restored" in result.stdout and "keys rotate" in result.stdout
    kept = [p for p in installation.db.parent.glob("lowband.db.replaced-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0].stat().st_size > 0  # the damaged database was kept, not deleted
    assert not list(installation.db.parent.glob("*.restoring*"))  # the checked copy leaves nothing behind
    assert everything(installation) == before
    verified = run_cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.stdout
    # Re-sealing the restored values under today's key works, and all still reads.
    assert run_cli("keys", "rotate").exit_code == 0
    assert everything(installation) == before
    assert load_key_file(installation.key_file).current == 4


def test_restore_refuses_a_backup_the_key_file_cannot_open(installation, clinic, run_cli, cli_error, tmp_path):
    from storage import create_key_file

    target = installation.root / "monday.db"
    assert run_cli("backup", str(target)).exit_code == 0
    live_before = everything(installation)
    other = tmp_path / "other.key"
    create_key_file(other)

    cli_error(run_cli("restore", str(target), env={"LOWBAND_KEY_FILE": str(other)}), str(target))
    cli_error(run_cli("restore", str(installation.root / "nothing.db")), "not found")
    garbage = installation.root / "garbage.db"
    garbage.write_bytes(secrets.token_bytes(4096))
    cli_error(run_cli("restore", str(garbage)), str(garbage))

    assert everything(installation) == live_before
    assert not list(installation.db.parent.glob("*.replaced-*"))
    assert not list(installation.db.parent.glob("*.restoring*"))


def test_restore_refuses_a_backup_whose_audit_log_was_tampered_with(installation, clinic, run_cli, cli_error):
    target = installation.root / "monday.db"
    assert run_cli("backup", str(target)).exit_code == 0
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log WHERE seq = (SELECT min(seq) + 1 FROM audit_log)")
    finally:
        conn.close()

    cli_error(run_cli("restore", str(target)), "audit")


# -- files that are not what they seem --------------------------------------------------


def test_an_empty_database_file_is_an_error_not_a_new_installation(installation, run_cli, cli_error):
    for suffix in ("", "-wal", "-shm"):
        installation.db.with_name(installation.db.name + suffix).unlink(missing_ok=True)
    installation.db.write_bytes(b"")

    cli_error(run_cli("patients", "list"), str(installation.db), "empty")
    cli_error(run_cli("audit", "verify"), str(installation.db), "empty")
    assert installation.db.stat().st_size == 0  # nothing was written into it
    cli_error(run_cli("init"), "already exists")


def test_backup_where_it_cannot_be_written_is_one_line_and_leaves_no_file(installation, clinic, run_cli, cli_error):
    blocker = installation.root / "not-a-folder"
    blocker.write_text("a file where a folder should be")

    cli_error(run_cli("backup", str(blocker / "monday.db")), str(blocker / "monday.db"))
    cli_error(run_cli("backup", str(blocker / "sub" / "monday.db")), "monday.db")
    assert known_backups(installation.key_file) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_backup_into_a_read_only_folder_is_one_line_and_leaves_no_file(installation, clinic, run_cli, cli_error):
    folder = installation.root / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        cli_error(run_cli("backup", str(folder / "monday.db")), str(folder / "monday.db"))
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_a_copy_that_fails_half_way_leaves_no_file(installation, clinic, run_cli, cli_error, monkeypatch):
    import storage.store

    def disk_error(conn):
        raise sqlite3.OperationalError("disk I/O error")

    # Fails after the copy was written under its temporary name.
    monkeypatch.setattr(storage.store, "sealed_key_ids", disk_error)
    target = installation.root / "monday.db"

    cli_error(run_cli("backup", str(target)), "disk I/O error", str(target))
    assert not list(installation.root.glob("monday.db*"))
    assert known_backups(installation.key_file) == []


@pytest.mark.parametrize("content", [b"\x00\xff\xfe binary \x80\x81", b'{"format": "lowband-keys/1", "curr',
                                     json.dumps([1, 2]).encode()])
def test_a_binary_or_garbled_key_file_is_one_line(installation, run_cli, cli_error, content):
    installation.key_file.write_bytes(content)

    cli_error(run_cli("patients", "list"), str(installation.key_file))
    cli_error(run_cli("backup", str(installation.root / "monday.db")), str(installation.key_file))
    cli_error(run_cli("restore", str(installation.root / "monday.db")), str(installation.key_file))
    assert not (installation.root / "monday.db").exists()
