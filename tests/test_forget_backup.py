"""A backup that is gone for good can be forgotten, so `keys retire` can drop the keys
only it needed; one that is still on disk is not forgotten by accident."""

from __future__ import annotations

import json

from storage import load_key_file
from storage.keyfile import known_backups


def _backed_up_then_rotated(installation, run_cli, no_rotation_grace):
    run_cli("users", "add", "--role", "clinician", "--name", "Wanjiru Kamau", "--phone", "0700100101")
    target = installation.root / "backups" / "monday.db"
    assert run_cli("backup", str(target)).exit_code == 0
    assert run_cli("keys", "rotate").exit_code == 0
    return target


def test_a_deleted_backup_is_listed_missing_then_forgotten_and_its_key_can_go(
        installation, run_cli, cli_error, no_rotation_grace):
    target = _backed_up_then_rotated(installation, run_cli, no_rotation_grace)
    cli_error(run_cli("keys", "retire", "1"), "refusing", "forget-backup")
    target.unlink()

    listing = [json.loads(line) for line in run_cli("keys", "backups", "--json").output.splitlines()]
    assert [(b["file"], b["keys"], b["present"]) for b in listing] == [(str(target.resolve()), "1", "MISSING")]

    result = run_cli("keys", "forget-backup", str(target))
    assert result.exit_code == 0, result.output
    assert "Forgot backup" in result.output and "key(s) 1" in result.output
    assert known_backups(installation.key_file) == []
    assert run_cli("keys", "retire", "1").exit_code == 0
    assert 1 not in load_key_file(installation.key_file).field_keys


def test_a_backup_still_on_disk_is_kept_unless_the_admin_says_so(installation, run_cli, cli_error, no_rotation_grace):
    target = _backed_up_then_rotated(installation, run_cli, no_rotation_grace)

    cli_error(run_cli("keys", "forget-backup", str(target)), "still there", "--even-if-present")
    assert len(known_backups(installation.key_file)) == 1

    assert run_cli("keys", "forget-backup", str(target), "--even-if-present").exit_code == 0
    assert known_backups(installation.key_file) == []


def test_forgetting_a_backup_nobody_made_is_one_clear_line(installation, run_cli, cli_error):
    cli_error(run_cli("keys", "forget-backup", str(installation.root / "nope.db")), "lists no backup")
    assert "No backups" in run_cli("keys", "backups").output
