"""What a copy of the database tells a thief, after a scripted day of traffic: the
values left in clear are only those the README's "What is in clear, and why" table
names (ids, times, states, action names), and no sealed column's length follows the
kind or level of a reading."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import timedelta

from storage import schema
from storage.text_seal import PREFIX
from tests.helpers.conversation_script import ScriptRunner

CLINICIAN, PHARMACIST, CHW = "+254700100101", "+254700100102", "+254700100103"
AMINA, NEW = "+254712345678", "+254733400401"
# Words that would tell a health fact if any clear column held them.
TELLING = ["patient:", "urgent", "glucose", "weight", "temperature", "spo2", "pulse", "high", "low", "danger",
           "refill", "consult", "metformin", "amina", "zawadi", "wanjiku", "712345678", "733400401", "190/125"]
READINGS = ["BP 190/125", "GLU 7.2", "WT 64.5", "T 38.2", "SPO2 95", "P 72", "GLU 2.0", "T 36.6"]


def scripted_day(twilio, store, clock, run_cli):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        store.staff.add(role="pharmacist", name="Otieno Ouma", phone=PHARMACIST)
        store.staff.add(role="chw", name="Grace Achieng", phone=CHW)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", f"chw={CHW}",
                                         "born=1968", "sex=F"])
        store.medications.add(store.patients.by_short_id("4376").id, name="Metformin", dose="500mg", quantity=60)
    for body in ["hi", "YES", "Wanjiku Njeri", "1990", "5831", "5831"]:
        twilio.sms(NEW, body)
    for reading in READINGS:
        twilio.sms(AMINA, reading)
        clock.now += timedelta(minutes=11)
    twilio.sms(CHW, "BP 4376 150/95")
    for body in ["REFILL", "1111", "1", "YES"]:
        twilio.sms(AMINA, body)
    twilio.sms(PHARMACIST, "RF1 OK window 2")
    for body in ["NURSE", "1", "2", "no", "Hot at night"]:
        twilio.sms(AMINA, body)
    twilio.sms(CLINICIAN, "C1 Drink water")
    twilio.sms(CLINICIAN, "A1 OK")


def clear_values(db) -> dict[tuple[str, str], list[str]]:
    conn = sqlite3.connect(db)
    try:
        found = defaultdict(list)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, str):
                        found[(table, column)].append(value)
        return found
    finally:
        conn.close()


def test_no_clear_column_tells_a_health_fact(twilio, store, clock, run_cli, installation, no_rotation_grace):
    scripted_day(twilio, store, clock, run_cli)
    assert run_cli("keys", "rotate").exit_code == 0
    leaks = []
    for (table, column), values in clear_values(installation.db).items():
        if (table, column) in schema.NAMED_THINGS or (table, column) not in schema.columns_of(schema.CLEAR):
            continue  # names of things by design, or sealed/indexed (opaque, checked elsewhere)
        for value in values:
            if value.startswith(PREFIX):
                continue  # sealed text (storage/text_seal.py): base64 may spell anything
            lowered = value.lower()
            leaks += [f"{table}.{column}: {word!r}" for word in TELLING if word in lowered]
    assert not sorted(set(leaks)), sorted(set(leaks))


def test_sealed_reading_lengths_do_not_follow_the_kind_or_level(twilio, store, clock, run_cli, installation):
    scripted_day(twilio, store, clock, run_cli)
    conn = sqlite3.connect(installation.db)
    try:
        for column in ("kind", "level", "measured"):
            lengths = {r[0] for r in conn.execute(f"SELECT DISTINCT length({column}) FROM readings")}  # noqa: S608
            assert len(lengths) == 1, f"readings.{column} lengths vary: {sorted(lengths)}"
    finally:
        conn.close()


def test_every_column_of_every_table_says_what_it_holds(installation):
    """A new table or column must be classified in storage/schema.py (sealed, text,
    index or clear): then rotation, doctor and this scan cover it without more work."""
    conn = sqlite3.connect(installation.db)
    try:
        live = {(t, c[1]) for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                   "AND name NOT LIKE 'sqlite_%'")
                for c in conn.execute(f"PRAGMA table_info({t})")}
    finally:
        conn.close()
    described = {(t, c) for t, (_, columns) in schema.COLUMNS.items() for c in columns}
    assert live - described == set(), f"columns nobody classified: {sorted(live - described)}"
    assert described - live == set(), f"classified columns that do not exist: {sorted(described - live)}"
