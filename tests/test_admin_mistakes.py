"""Mistakes an admin makes at the clinic's laptop, each met by one clear line: another
program's database, a date typed wrong, a terminal in the wrong encoding, a settings
value out of range, a hand-edited key file. Nothing is changed by any of them."""

from __future__ import annotations

import json
import sqlite3

import pytest

import lowband.cli.people


def test_a_sqlite_file_of_another_program_is_refused_and_left_untouched(installation, run_cli, cli_error):
    other = installation.root / "notes.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.execute("INSERT INTO notes VALUES ('someone else''s data')")
    conn.commit()
    conn.close()
    before = other.read_bytes()

    for args in (("doctor",), ("patients", "list"), ("audit", "verify")):
        cli_error(run_cli(*args, env={"LOWBAND_DB": str(other)}), "not a Lowband database", str(other))

    assert other.read_bytes() == before
    conn = sqlite3.connect(other)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["notes"]
    conn.close()


@pytest.mark.parametrize("moment", ["0001-01-01T00:00+14:00", "9999-12-31T23:59-05:00", "1066-10-14T09:00+00:00"])
def test_a_date_out_of_range_is_one_line(run_cli, cli_error, moment):
    cli_error(run_cli("readings", "--since", moment), "--since", "out of range")
    cli_error(run_cli("dispatch", "--once", "--at", moment), "--at", "out of range")


@pytest.mark.parametrize("args", [
    ("patients", "add", "--name", "\udcff\udcfeX", "--phone", "0712345678"),
    ("patients", "show", "\udcff"),
    ("users", "add", "--role", "admin", "--phone", "+254700100177", "--name", "\udcff"),
])
def test_an_argument_that_is_not_utf8_is_one_line_and_nothing_is_saved(installation, run_cli, cli_error, args):
    before = installation.db.read_bytes()
    result = run_cli(*args)
    assert result.exit_code == 2
    assert "is not valid UTF-8 text" in result.output and "Traceback" not in result.output
    assert installation.db.read_bytes() == before


def test_a_number_setting_of_infinity_is_one_line(run_cli, cli_error):
    cli_error(run_cli("patients", "list", env={"LOWBAND_READING_DUE_DAYS": "1e999"}),
              "LOWBAND_READING_DUE_DAYS", "whole number")


def test_care_rules_that_are_not_utf8_are_one_line(installation, run_cli, cli_error):
    rules = installation.root / "rules.toml"
    rules.write_bytes(b"\xff\xfe[bp]\n")
    cli_error(run_cli("simulate", "--from", "+254712345678", input="hi\n", env={"LOWBAND_CARE_RULES": str(rules)}),
              "LOWBAND_CARE_RULES", "not UTF-8")


def test_simulate_takes_bytes_that_are_not_utf8_as_a_phone_would(run_cli):
    result = run_cli("simulate", "--from", "+254712345678", input=b"\xff\xfe hi\n")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "\ufffd" in result.output


@pytest.mark.parametrize("entry", [{"file": 1}, {"file": "/b.db", "keys": ["1"]}, {"file": "/b.db"}, "b.db"])
def test_a_hand_edited_list_of_backups_is_said_to_be_damaged(installation, run_cli, cli_error, entry):
    document = json.loads(installation.key_file.read_text())
    document["backups"] = [entry]
    installation.key_file.write_text(json.dumps(document))
    cli_error(run_cli("keys", "backups"), "damaged", "backups")


def test_listing_backups_without_the_key_file_says_so(installation, run_cli, cli_error):
    installation.key_file.unlink()
    cli_error(run_cli("keys", "backups"), str(installation.key_file))


def test_a_bug_in_a_command_is_still_one_line_with_a_way_to_see_it(run_cli, cli_error, monkeypatch):
    def broken(*_args, **_kwargs):
        raise KeyError("Amina Zawadi")  # an exception's text may hold a name: never shown

    monkeypatch.setattr(lowband.cli.people, "listing", broken)
    result = run_cli("patients", "list")
    cli_error(result, "unexpected error (KeyError)", "LOWBAND_DEBUG=1")
    assert "Amina" not in result.output
    debug = run_cli("patients", "list", env={"LOWBAND_DEBUG": "1"})
    assert isinstance(debug.exception, KeyError)  # with the flag, the traceback is there to read


def test_a_restore_lists_the_database_it_replaced_so_its_keys_are_kept(installation, run_cli, cli_error,
                                                                       no_rotation_grace):
    target = installation.root / "backups" / "monday.db"
    assert run_cli("backup", str(target)).exit_code == 0
    result = run_cli("restore", str(target))
    assert result.exit_code == 0, result.output
    listing = [json.loads(line) for line in run_cli("keys", "backups", "--json").output.splitlines()]
    replaced = [b for b in listing if ".replaced-" in b["file"]]
    assert [(b["keys"], b["present"]) for b in replaced] == [("1", "yes")]
    assert run_cli("keys", "rotate").exit_code == 0
    cli_error(run_cli("keys", "retire", "1"), "refusing", ".replaced-")
