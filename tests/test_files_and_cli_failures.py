"""The files an installation keeps are its owner's only, and the CLI fails in one line.

The database, its -wal and -shm, the key file and backups are 0600 in a 0700 folder,
whatever the umask; a key file others may read or write stops every command (and the
server) before a key is read. A port in use, a host that is no address, a read-only
database or folder, a path that cannot be made and a full disk are each one line on
stderr naming the file (or address) and why: never a traceback, never a 0-byte file.

Tests run as root, who may write anything: they check mode bits, and stand in for a
refusal by the operating system with a path under a file or a mocked os.access.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

import storage.keyfile
from lowband.cli import cli
from storage import load_key_file
from storage.keyfile import KeyFileError, known_backups


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The most careless umask there is: nothing masked. Files must be private anyway."""
    old = os.umask(0)
    yield
    os.umask(old)


def lowband(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env)


def fresh_env(installation, db: Path, key_file: Path | None = None) -> dict[str, str]:
    return {**installation.env, "LOWBAND_DB": str(db), "LOWBAND_KEY_FILE": str(key_file or db.with_suffix(".key"))}


# -- 1. files are created private ------------------------------------------------------------


def test_init_makes_a_private_folder_database_and_key_file_whatever_the_umask(installation, open_umask):
    folder = installation.root / "clinic" / "data"
    db = folder / "lowband.db"
    env = fresh_env(installation, db)

    assert lowband(env, "init").exit_code == 0
    assert lowband(env, "patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678").exit_code == 0

    assert mode(folder) == 0o700
    assert mode(installation.root / "clinic") == 0o700
    assert mode(db) == 0o600
    assert mode(db.with_suffix(".key")) == 0o600


def test_the_wal_and_shm_files_sqlite_makes_are_private_after_the_first_write(installation, open_umask):
    db = installation.root / "fresh" / "lowband.db"
    store = storage.store.open_store(db, storage.keyfile.create_key_file(db.with_suffix(".key")), create=True,
                                     pin_work=4)
    try:
        with store.write():
            store.meta_set("probe", "x")
        wal, shm = db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")
        assert wal.exists() and shm.exists()
        assert (mode(db), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
        assert mode(db.parent) == 0o700
    finally:
        store.db.close()


def test_a_database_left_open_to_others_is_tightened_when_opened(installation, run_cli):
    for suffix in ("", "-wal", "-shm"):
        side = installation.db.with_name(installation.db.name + suffix)
        if side.exists():
            side.chmod(0o644)
    installation.db.chmod(0o644)

    assert run_cli("patients", "list").exit_code == 0

    for suffix in ("", "-wal", "-shm"):
        side = installation.db.with_name(installation.db.name + suffix)
        if side.exists():
            assert mode(side) == 0o600, side


def test_a_backup_is_private_and_so_is_a_folder_made_for_it(installation, run_cli, open_umask):
    target = installation.root / "usb" / "weekly" / "monday.db"

    result = run_cli("backup", str(target))

    assert result.exit_code == 0, result.output
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700
    assert mode(target.parent.parent) == 0o700


def test_the_cli_leaves_the_umask_as_it_found_it(run_cli, open_umask):
    assert run_cli("patients", "list").exit_code == 0
    assert os.umask(0) == 0


# -- 1. a key file open to others stops everything -------------------------------------------


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660], ids=oct)
def test_every_command_refuses_a_key_file_others_may_read_or_write(installation, run_cli, cli_error, loose):
    key = installation.key_file
    key.chmod(loose)
    fix = f"chmod 600 {key}"

    for args in (("patients", "list"), ("audit", "verify"), ("backup", str(installation.root / "b.db")),
                 ("keys", "rotate"), ("restore", str(installation.root / "b.db")), ("doctor",)):
        cli_error(run_cli(*args), str(key), fix)
    assert not (installation.root / "b.db").exists()
    assert mode(key) == loose  # said, not silently changed
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key_file(key)


def test_serve_refuses_a_key_file_others_may_read_and_says_nothing_of_serving(installation, run_cli, cli_error):
    installation.key_file.chmod(0o644)

    line = cli_error(run_cli("serve", "--port", str(_free_port())), str(installation.key_file), "chmod 600")
    assert "serving" not in line.lower()


def test_a_private_key_file_is_accepted(installation, run_cli):
    installation.key_file.chmod(0o400)  # read-only for its owner is fine
    assert run_cli("patients", "list").exit_code == 0


# -- 2. serve: a port in use, a bad host -----------------------------------------------------


@pytest.fixture(autouse=True)
def never_serve(monkeypatch):
    """Every `serve` here must stop before serving: one that got as far as running the
    server fails the test instead of hanging it."""
    import waitress.server

    def run(self):
        raise AssertionError("the server started serving")

    for server in (waitress.server.BaseWSGIServer, waitress.server.MultiSocketServer):
        monkeypatch.setattr(server, "run", run)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_on_a_port_in_use_is_one_line_and_never_says_serving(run_cli, cli_error):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_cli("serve", "--port", str(port))

    cli_error(result, f"127.0.0.1:{port}", "in use")
    assert "serving" not in result.output.lower()


@pytest.mark.parametrize("host", ["no such host", "256.1.1.1"])
def test_serve_on_a_host_that_is_no_address_is_one_line(run_cli, cli_error, host):
    result = run_cli("serve", "--host", host, "--port", str(_free_port()))

    cli_error(result, "cannot listen on", host)
    assert "serving" not in result.output.lower()


# -- 2. read-only or impossible data paths ---------------------------------------------------


@pytest.fixture
def refuse_writes(monkeypatch):
    """Stand in for the operating system refusing writes to these paths (root may write
    anything, so the mode bits alone would not stop it)."""
    refused: set[str] = set()
    real_access = os.access

    def access(path, how, *args, **kwargs):
        if how & os.W_OK and os.fspath(path) in refused:
            return False
        return real_access(path, how, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    return lambda path: refused.add(str(path))


def test_a_read_only_database_file_is_one_line_naming_it(installation, run_cli, cli_error, refuse_writes):
    refuse_writes(installation.db)

    cli_error(run_cli("patients", "list"), str(installation.db), "read-only")
    cli_error(run_cli("serve", "--port", str(_free_port())), str(installation.db), "read-only")


def test_a_read_only_data_folder_is_one_line_naming_it(installation, run_cli, cli_error, refuse_writes):
    refuse_writes(installation.db.parent)

    line = cli_error(run_cli("patients", "list"), str(installation.db.parent), "read-only")
    assert "-wal" in line


def test_init_where_the_database_cannot_be_made_is_one_line_and_leaves_no_key_file(installation, cli_error):
    blocker = installation.root / "a-file"
    blocker.write_text("a file where a folder should be")
    db = blocker / "data" / "lowband.db"
    key = installation.root / "keys" / "lowband.key"

    cli_error(lowband(fresh_env(installation, db, key), "init"), str(db))
    assert not key.exists()  # the next `lowband init` is not refused for an orphan key file
    cli_error(lowband(fresh_env(installation, db), "init"), "key file", str(db.with_suffix(".key")))


# -- 2. backups: missing or unwritable folders, a full disk ----------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_the_key_file_lists_the_backup_leaves_no_backup(installation, run_cli, cli_error,
                                                                        monkeypatch):
    before = installation.key_file.read_bytes()
    target = installation.root / "monday.db"
    monkeypatch.setattr(storage.keyfile, "_write", lambda fd, ring, backups: (os.close(fd), _disk_full()))

    cli_error(run_cli("backup", str(target)), str(installation.key_file), "No space left on device")

    assert not list(installation.root.glob("monday.db*"))  # no unlisted backup, no .partial
    assert installation.key_file.read_bytes() == before
    assert not list(installation.key_file.parent.glob("*.tmp"))
    assert known_backups(installation.key_file) == []


def test_a_full_disk_as_the_backup_is_put_in_place_leaves_no_file(installation, run_cli, cli_error, monkeypatch):
    target = installation.root / "monday.db"
    monkeypatch.setattr(os, "replace", _disk_full)

    cli_error(run_cli("backup", str(target)), str(target), "No space left on device")

    assert not list(installation.root.glob("monday.db*"))
    assert known_backups(installation.key_file) == []


def test_a_full_disk_while_writing_a_new_key_file_leaves_no_zero_byte_file(installation, cli_error, monkeypatch):
    db = installation.root / "new" / "lowband.db"
    monkeypatch.setattr(storage.keyfile, "_write", lambda fd, ring, backups: (os.close(fd), _disk_full()))

    cli_error(lowband(fresh_env(installation, db), "init"), str(db.with_suffix(".key")), "No space left on device")

    assert not db.with_suffix(".key").exists()
    assert not db.exists()


def test_a_backup_into_a_folder_that_cannot_be_written_is_one_line(installation, run_cli, cli_error, monkeypatch):
    target = installation.root / "locked" / "monday.db"

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(os, "replace", denied)
    cli_error(run_cli("backup", str(target)), str(target), "Permission denied")
    assert not target.exists() and not list(target.parent.glob("*"))


def test_an_os_error_anywhere_in_a_command_is_still_one_line(installation, run_cli, cli_error, monkeypatch):
    import storage.audit

    def fails(*args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(installation.db))

    monkeypatch.setattr(storage.audit.AuditLog, "verify", fails)
    cli_error(run_cli("audit", "verify"), str(installation.db), "Input/output error")
