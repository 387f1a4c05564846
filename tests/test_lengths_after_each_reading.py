"""What a thief learns from the sizes of the rows one reading writes.

A patient texts a reading of every kind at every level, in every language we ship; for
each text, every sealed value it wrote (the text kept for dedupe, the replies, the
conversation's state, the reading, the audit entries, the messages queued for staff) is
measured in the raw database file. None may differ by the reading's kind or level.

The rows an urgent reading adds (an alert, a message to the clinician), and the advice
that adds a reply to a text, still say that something urgent happened to someone: that
is the residual the README's "What is in clear, and why" table names. A list of replies
is sized by how many it holds, so replies are compared among texts answered with as many;
no size may say what the reading was."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import timedelta

import pytest

from storage import schema
from tests.helpers.conversation_script import ScriptRunner

CLINICIAN = "+254700100101"
PATIENTS = {"en": ("4376", "+254712345678"), "sw": ("4377", "+254712345679"),
            "fr": ("4378", "+254712345680"), "es": ("4379", "+254712345681")}
# Every kind, at each level its thresholds have (normal, low, high, urgent high, urgent low).
READINGS = [
    "BP 118/76", "BP 150/95", "BP 190/125", "BP 85/50",
    "GLU 5.5", "GLU 12", "GLU 25 mmol", "GLU 2.0", "GLU 3.5",
    "T 36.6", "T 38.2", "T 40.5", "T 34.5",
    "SPO2 98", "SPO2 93", "SPO2 85",
    "P 72", "P 110", "P 150", "P 38",
    "WT 64.5", "WT 142 lb",
]


REPLIES = ("inbound_messages", "replies")


def _replies(store, inbound_id: int) -> list[str]:
    blob = store.one("SELECT replies FROM inbound_messages WHERE id = ?", (inbound_id,))[0]
    return store.open("inbound_messages", "replies", inbound_id, blob)


def _sealed_columns() -> dict[str, list[str]]:
    wanted = schema.columns_of(schema.SEALED) | schema.columns_of(schema.TEXT)
    by_table = defaultdict(list)
    for table, column in wanted:
        by_table[table].append(column)
    return by_table


def _rows(conn, table: str) -> dict:
    pk = schema.COLUMNS[table][0]
    columns = _sealed_columns()[table]
    select = ", ".join(f"length({c})" for c in columns)
    return {row[0]: row[1:] for row in conn.execute(f"SELECT {pk}, {select} FROM {table}")}  # noqa: S608


@pytest.fixture
def sizes(twilio, installation, clock, sms_app):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        for language, (short_id, phone) in PATIENTS.items():
            ScriptRunner.add_patient(store, [short_id, "Amina Zawadi", phone, "pin=1111", "consent", "born=1968",
                                             "sex=F", f"lang={language}"])
    seen: dict[tuple[str, str], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    conn = sqlite3.connect(installation.db)
    try:
        for language, (_, phone) in PATIENTS.items():
            for reading in READINGS:
                before = {table: _rows(conn, table) for table in _sealed_columns()}
                twilio.sms(phone, reading)
                clock.now += timedelta(hours=1)  # past the duplicate window and any danger question
                twilio.sms(phone, "0")  # leave whatever question the reading asked
                clock.now += timedelta(hours=1)
                for table, columns in _sealed_columns().items():
                    old = before[table]
                    for key, lengths in _rows(conn, table).items():
                        if old.get(key) == lengths:
                            continue
                        for column, length in zip(columns, lengths, strict=True):
                            if length is None:
                                continue
                            if (table, column) == REPLIES:
                                # Sized by how many replies there were: compared among equals.
                                column = f"replies to a text answered with {len(_replies(store, key))}"
                            seen[(table, column)][length].add(f"{language} {reading}")
    finally:
        conn.close()
    return seen


def test_no_sealed_value_a_reading_writes_is_sized_by_its_kind_or_level(sizes):
    assert ("readings", "measured") in sizes  # the readings were stored
    varying = {f"{table}.{column}": {length: sorted(texts)[:3] for length, texts in by_length.items()}
               for (table, column), by_length in sizes.items() if len(by_length) > 1}
    assert varying == {}


def test_every_padded_column_is_a_sealed_one():
    """A bucket named for a column that is not sealed would pad nothing: a typo there
    would silently bring the size leak back."""
    assert set(schema.BUCKETS) <= schema.columns_of(schema.SEALED)


KEPT = {
    "normal": ["BP 118/76", "GLU 5.5", "T 36.6", "SPO2 98", "P 72"],
    "high": ["BP 150/95", "GLU 12", "T 38.2", "SPO2 93", "P 110"],
    "urgent": ["BP 191/126", "GLU 2.2", "T 41.5", "SPO2 81", "P 160"],
}


def test_readings_kept_until_consent_reply_in_one_size_whatever_their_level(twilio, installation, clock, sms_app):
    """Readings texted before consent are kept, then saved after the PIN is set: the text
    that sets the PIN gets a reply per reading. Five high readings weigh what five normal
    ones do; five urgent ones add advice replies (as their alerts show anyway), yet each
    list still weighs only what its number of replies does, not what the advice says."""
    store = sms_app.extensions["lowband"].store()
    phones = {level: f"+25471234{5690 + i}" for i, level in enumerate(KEPT)}
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        for i, phone in enumerate(phones.values()):
            ScriptRunner.add_patient(store, [f"50{i}1", "Joseph Mwangi", phone, "born=1970", "sex=M"])
    conn = sqlite3.connect(installation.db)
    try:
        sizes = {}
        for level, phone in phones.items():
            start = conn.execute("SELECT count(*) FROM inbound_messages").fetchone()[0]
            for body in [*KEPT[level], "YES", "4826", "4826"]:
                twilio.sms(phone, body)
                clock.now += timedelta(minutes=1)
            sizes[level] = conn.execute(
                "SELECT id, length(replies) FROM inbound_messages ORDER BY rowid LIMIT -1 OFFSET ?", (start,)
            ).fetchall()
        saved = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    finally:
        conn.close()
    assert saved == sum(len(v) for v in KEPT.values())  # every kept reading was saved
    assert [n for _, n in sizes["high"]] == [n for _, n in sizes["normal"]], sizes
    by_count = defaultdict(set)
    for level in KEPT:
        for inbound_id, length in sizes[level]:
            by_count[len(_replies(store, inbound_id))].add(length)
    assert all(len(lengths) == 1 for lengths in by_count.values()), dict(by_count)


def test_what_people_type_seals_to_one_size_whether_a_reading_or_words(twilio, installation, clock, sms_app):
    """A reading, an answer to a question, words to the nurse and a clinician's advice
    all keep one size in the file: the size of a text does not say what it was."""
    store = sms_app.extensions["lowband"].store()
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", "+254712345678", "pin=1111", "consent", "born=1968"])
    texts = [("+254712345678", "BP 150/95"), ("+254712345678", "NURSE"), ("+254712345678", "1"),
             ("+254712345678", "3"), ("+254712345678", "no"),
             ("+254712345678", "Fever every night and a headache that does not stop, and I feel weak all day long"),
             (CLINICIAN, "C1 Drink plenty of water, take paracetamol 1g every 8 hours and come to the clinic tomorrow")]
    for sender, body in texts:
        assert twilio.sms(sender, body).status == 200
        clock.now += timedelta(minutes=2)
    conn = sqlite3.connect(installation.db)
    try:
        sizes = {row[0] for row in conn.execute("SELECT length(body) FROM inbound_messages")}
        summaries = {row[0] for row in conn.execute("SELECT length(summary) FROM consults")}
        states = {row[0] for row in conn.execute("SELECT length(state) FROM sessions")}
    finally:
        conn.close()
    assert len(sizes) == 1, sizes
    assert summaries and len(states) == 1, states
