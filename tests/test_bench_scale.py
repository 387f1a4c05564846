"""bench.scale in miniature: a clinic of 50 and one of 300 with 3,000 readings of history.

What would break if the bench broke: a size not measured, answers that were wrong but not
counted, a seed the app cannot read (or reads as someone else's), rows the app would not
have written, plaintext in the file. Nothing here depends on how fast this machine is."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import pytest

from bench import scale
from bench.installation import CHW_BASE, FIRST, LAST, PATIENT_BASE, PATIENTS_PER_CHW, phone
from bench.traffic import ERROR, OK, catalog_texts
from flows.care_rules import load_rules
from flows.readings import Reading
from storage import create_key_file, load_key_file, open_store, short_ids
from storage.records import find_damaged

SIZES = [(50, 0), (300, 3000)]
SAMPLES, WARMUP = 20, 10
PATIENTS, READINGS = 300, 3000
CHWS = -(-PATIENTS // PATIENTS_PER_CHW)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("scale-runs")
    return scale.run(SIZES, SAMPLES, workdir, warmup=WARMUP), workdir


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One clinic seeded by two worker processes in small chunks (so rows cross from one
    task to the next), with its row counts taken before anything else touches it."""
    root = tmp_path_factory.mktemp("seeded")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scale, "CHUNK", 700)
        info = scale.seed(root, PATIENTS, READINGS, processes=2)
    conn = sqlite3.connect(info.installation.db)
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("patients", "readings", "staff")}  # noqa: S608
    conn.close()
    return info, counts


def store_of(info):
    return open_store(info.installation.db, load_key_file(info.installation.key_file))


# -- the report ---------------------------------------------------------------------------


def test_every_size_is_measured_without_errors(report):
    data, _ = report
    assert [(s["patients"], s["readings"]) for s in data["sizes"]] == SIZES
    for size in data["sizes"]:
        assert size["samples"] == SAMPLES, size
        assert size["errors"] == 0 and size["wrong"] == {}, size
        assert 0 < size["p50_ms"] <= size["p99_ms"] <= size["max_ms"], size
        assert size["seed_seconds"] > 0 and size["db_bytes"] > 0, size
    small, large = data["sizes"]
    assert data["p50_ratio"] == round(large["p50_ms"] / small["p50_ms"], 3)
    assert data["p99_ratio"] == round(large["p99_ms"] / small["p99_ms"], 3)
    assert data["target"] == scale.TARGET == 1.3
    assert "p50 largest/smallest" in scale.as_text(data)


def test_each_installation_is_deleted_after_it_is_measured(report):
    _, workdir = report
    assert list(workdir.iterdir()) == []


# -- the seed -----------------------------------------------------------------------------


def test_the_seed_holds_what_was_asked(seeded):
    info, counts = seeded
    assert counts == {"patients": PATIENTS, "readings": READINGS, "staff": CHWS}
    assert (info.patients, info.readings, info.chws) == (PATIENTS, READINGS, CHWS)


def test_the_schema_is_the_one_the_migrations_make(seeded, tmp_path):
    """The indexes dropped for the load were made again exactly."""
    info, _ = seeded
    fresh = tmp_path / "fresh.db"
    open_store(fresh, create_key_file(tmp_path / "fresh.key"), create=True).db.close()

    def schema(db):
        conn = sqlite3.connect(db)
        try:
            return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(),
                          key=lambda row: (row[0], row[1]))
        finally:
            conn.close()

    assert schema(info.installation.db) == schema(fresh)


def test_the_app_reads_a_seeded_patient_and_their_history(seeded):
    info, _ = seeded
    store = store_of(info)
    rules = load_rules()
    before = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
    two_years_ago = (datetime.now(UTC) - timedelta(days=scale.HISTORY_DAYS + 1)).isoformat(timespec="seconds")
    try:
        total = 0
        for index in range(PATIENTS):
            [patient] = store.patients.with_phone(phone(PATIENT_BASE, index))
            assert patient.phone == phone(PATIENT_BASE, index)
            assert patient.name == f"{FIRST[index % 10]} {LAST[(index // 10) % 10]}"
            assert patient.consent_at and patient.pin_hash and short_ids.is_valid(patient.short_id)
            chw = store.staff.get(patient.chw_id)
            assert chw.role == "chw" and chw.phone.startswith(phone(CHW_BASE, 0)[:7])
            history = [r for r in store.readings.newest_for(patient.id) if r.taken_at < before]
            for reading in history:
                assert reading.kind == "bp" and reading.patient_id == patient.id
                assert reading.level == rules.assess(Reading("bp", reading.measured)).level != "urgent"
                assert reading.submitted_by in (f"patient:{patient.short_id}", f"staff:{chw.id}")
                assert two_years_ago < reading.taken_at < before
                assert reading.submission_id == reading.id - 1
            total += len(history)
        assert total == READINGS
        assert find_damaged(store).damaged == []  # every sealed value opens in its own row
    finally:
        store.db.close()


def test_the_spot_check_reads_the_seed_back_and_notices_damage(seeded, tmp_path):
    info, _ = seeded
    checked = scale.spot_check(info.installation.root, count=PATIENTS)
    assert checked["patients"] == PATIENTS and checked["readings_opened"] >= READINGS
    small = scale.seed(tmp_path, 10, 100)
    conn = sqlite3.connect(small.installation.db)
    with conn:
        conn.execute("UPDATE readings SET measured = level WHERE id = (SELECT max(id) FROM readings)")
    conn.close()
    with pytest.raises(scale.SeedError, match="does not all open"):
        scale.spot_check(tmp_path, count=10)


def test_no_phone_number_or_name_is_in_the_file(seeded):
    info, _ = seeded
    db = info.installation.db
    raw = b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    for index in (0, 7, PATIENTS - 1):
        number = phone(PATIENT_BASE, index)
        assert number.encode() not in raw and number[4:].encode() not in raw
    assert phone(CHW_BASE, 3)[4:].encode() not in raw
    for name in FIRST + LAST:
        assert name.encode() not in raw, name


def test_the_app_stores_new_readings_for_seeded_patients(seeded):
    info, _ = seeded
    measured = scale.measure(info.installation.root, 15, warmup=5)
    assert (measured["samples"], measured["warmup"], measured["errors"]) == (15, 5, 0)
    # measure() picks its patients with random.Random(seed_value).sample: the last one is known.
    last = random.Random(1).sample(range(PATIENTS), 20)[-1]
    store = store_of(info)
    try:
        [patient] = store.patients.with_phone(phone(PATIENT_BASE, last))
        newest = store.readings.newest_for(patient.id, limit=1)[0]
        expected = scale.reading_text(last, 19)
        assert f"{newest.measured['systolic']}/{newest.measured['diastolic']}" == expected.expect
        assert newest.submitted_by == f"patient:{patient.short_id}"
    finally:
        store.db.close()


def test_a_wrong_answer_counts_as_an_error(seeded, monkeypatch):
    info, _ = seeded
    monkeypatch.setattr(scale, "verdict", lambda *args: ERROR)
    assert scale.measure(info.installation.root, 3, warmup=0, seed_value=2)["errors"] == 3


# -- judging and ids ----------------------------------------------------------------------


def twiml(*messages: str) -> bytes:
    body = "".join(f"<Message>{escape(m)}</Message>" for m in messages)
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'.encode()


def test_the_judge_accepts_only_an_echo_of_the_reading():
    known = catalog_texts()
    text = scale.reading_text(3, 0)
    xml = "text/xml; charset=utf-8"
    assert scale.verdict(200, xml, twiml(f"Amina N.: saved BP {text.expect}: OK."), text, known) == OK
    assert scale.verdict(200, xml, twiml(known["apology"][0]), text, known) != OK
    assert scale.verdict(200, xml, twiml(known["slow_down"][0]), text, known) != OK
    assert scale.verdict(200, xml, twiml("saved BP 120/80"), text, known) != OK  # someone else's values
    assert scale.verdict(200, xml, twiml(), text, known) != OK
    assert scale.verdict(500, xml, twiml(f"BP {text.expect}"), text, known) != OK
    assert scale.verdict(200, "text/html", twiml(f"BP {text.expect}"), text, known) != OK


def test_short_ids_are_valid_unique_and_shortest_first():
    ids = scale.short_id_plan(10_000, random.Random(5))
    assert len(set(ids)) == 10_000 and all(short_ids.is_valid(i) for i in ids)
    lengths = [len(i) for i in ids]
    assert lengths == sorted(lengths)
    assert lengths.count(4) == 818 and lengths.count(5) == 8182  # every 3- and 4-digit base that has a check digit


def test_ids_of_the_past_are_made_as_the_store_makes_them():
    ids = scale.ids_at([5, 5, 5, 9], 2)
    assert ids == [5 << 12, (5 << 12) | 2, (5 << 12) | 4, 9 << 12]
    crowded = scale.ids_at([7] * 40, 2)  # 32 pairs fit in one millisecond; then the next one
    assert len(set(crowded)) == 40 and crowded == sorted(crowded) and crowded[-1] >> 12 == 8


def test_the_command_prints_one_json_object(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(scale, "QUICK", ((30, 0), (60, 300)))
    monkeypatch.setattr(scale, "QUICK_SAMPLES", 10)
    assert scale.main(["--quick", "--json", "--warmup", "5", "--workdir", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(s["patients"], s["samples"], s["errors"]) for s in data["sizes"]] == [(30, 10, 0), (60, 10, 0)]
    assert data["p50_ratio"] > 0 and list(tmp_path.iterdir()) == []
