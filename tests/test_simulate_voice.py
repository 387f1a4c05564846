"""`lowband simulate --voice`: keypresses on stdin, the spoken conversation out, through
the same signed webhooks a real call takes, and the reading stored as a text's would be."""

from __future__ import annotations

import sqlite3

from storage import load_key_file
from storage.store import open_store


def test_a_piped_call_prints_what_the_caller_hears_and_stores_the_reading(installation, run_cli):
    assert run_cli("patients", "add", "--name", "Joseph Mwangi", "--phone", "+254722300301").exit_code == 0
    keys = "1\n4826\n4826\n0\n1\n1\n140#\n90#\n1\nhangup\n"

    result = run_cli("simulate", "--voice", "--from", "+254722300301", input=keys)

    assert result.exit_code == 0, result.output
    out = result.output
    assert "? Hello Joseph M., Lowband Clinic has enrolled you for care by phone and SMS." in out
    assert "> 140#\n? Now enter the bottom number, then press hash.\n  [waits for keys, then #]" in out
    assert "? You entered 140 over 90. To save it, press 1. To enter it again, press 2." in out
    assert "~ Joseph M.: saved BP 140/90: HIGH (aim <140/90)." in out
    assert out.rstrip().endswith("(you hung up)") and "HTTP" not in out
    store = open_store(installation.db, load_key_file(installation.key_file), pin_work=4)
    try:
        [reading] = store.readings.for_patient(store.patients.by_short_id(_short_id(installation)).id)
        assert (reading.kind, reading.measured) == ("bp", {"systolic": 140, "diastolic": 90})
    finally:
        store.db.close()


def _short_id(installation) -> str:
    conn = sqlite3.connect(installation.db)
    try:
        return conn.execute("SELECT short_id FROM patients").fetchone()[0]
    finally:
        conn.close()


def test_silence_twice_ends_the_call(installation, run_cli):
    assert run_cli("patients", "add", "--name", "Joseph Mwangi", "--phone", "+254722300301").exit_code == 0
    result = run_cli("simulate", "--voice", "--from", "+254722300301", input="\n\n")
    assert result.exit_code == 0, result.output
    assert "> (silence)\n~ We did not hear a key." in result.output
    assert result.output.rstrip().endswith("(call ended)")
