"""A sealed value's length must not say what it holds: the kind of a reading, how
dangerous it was, or how long a name is. Proven on the database file itself, after
storing readings of every kind at every level through the repository."""

from __future__ import annotations

import itertools
import os
import sqlite3
import struct

import pytest

from flows.care_rules import LEVELS
from flows.readings import KINDS, Reading, glucose_reading, temperature_reading, weight_reading
from storage import load_key_file
from storage.crypto import FORMAT_VERSION, PAD_BUCKET, UNPADDED_VERSION, FieldCipher, _aad, pad
from storage.rotation import rotate
from storage.store import open_store

# The values the care flows store (Reading.values), for every kind and every form.
MEASURED = [
    Reading("bp", {"systolic": 140, "diastolic": 90}),
    Reading("bp", {"systolic": 220, "diastolic": 130, "pulse": 118}),
    glucose_reading(7.2, "mmol/L"),
    glucose_reading(130, "mg/dL"),
    weight_reading(64.5),
    weight_reading(142.0, "lb"),
    temperature_reading(38.2),
    temperature_reading(100.8, "F"),
    Reading("spo2", {"percent": 95}),
    Reading("pulse", {"bpm": 72}),
]


def test_every_kind_is_covered():
    assert {r.kind for r in MEASURED} == set(KINDS)


@pytest.fixture
def stored(installation, store):
    with store.write():
        patient = store.patients.add(name="Amina Zawadi", phone="+254712345678", time_zone="Africa/Nairobi")
        sender = store.phone_index("+254712345678")
        for reading, level in itertools.product(MEASURED, LEVELS):
            store.readings.add(
                patient_id=patient.id, submission_id=store.new_id(), kind=reading.kind, measured=reading.values,
                level=level, sender_index=sender, submitted_by="patient", taken_at=store.now_iso(),
            )
        for name, phone in (("Al", "+25471234"), ("Christopher Wanjiru Kamau-Otieno", "+254712345679012")):
            store.patients.add(name=name, phone=phone, time_zone="Africa/Nairobi")
    store.db.close()
    conn = sqlite3.connect(installation.db)
    yield conn
    conn.close()


def lengths(conn, table: str, column: str) -> set[int]:
    return {row[0] for row in conn.execute(f"SELECT length({column}) FROM {table} WHERE {column} IS NOT NULL")}  # noqa: S608


def test_readings_of_every_kind_and_level_seal_to_one_length(stored):
    assert stored.execute("SELECT count(*) FROM readings").fetchone()[0] == len(MEASURED) * len(LEVELS)
    for column in ("kind", "level", "measured"):
        assert len(lengths(stored, "readings", column)) == 1, column
    # ...and it is the same length for all three: a column says nothing by its size either.
    assert len(lengths(stored, "readings", "kind") | lengths(stored, "readings", "measured")) == 1


def test_names_and_phones_of_different_lengths_seal_to_one_length(stored):
    assert len(lengths(stored, "patients", "name")) == 1
    assert len(lengths(stored, "patients", "phone")) == 1


def test_the_raw_file_holds_no_value_and_every_seal_is_the_new_format(installation, stored):
    raw = installation.db.read_bytes()
    for word in (b"glucose", b"systolic", b"mmol_l", b"Amina"):
        assert word not in raw
    versions = {row[0] for row in stored.execute("SELECT DISTINCT substr(level, 1, 1) FROM readings")}
    assert versions == {bytes([FORMAT_VERSION])}


def test_padding_is_whole_buckets_and_opens_to_the_value(store):
    assert len(pad(b"")) == PAD_BUCKET
    assert len(pad(b"x" * PAD_BUCKET)) == PAD_BUCKET
    assert len(pad(b"x" * (PAD_BUCKET + 1))) == 2 * PAD_BUCKET
    cipher = store.cipher
    for value in ("a  ", {"note": "trailing spaces   "}, "x" * 200, 0, None, [1, 2]):
        assert cipher.open("t", "c", 1, cipher.seal("t", "c", 1, value)) == value


def seal_unpadded(cipher: FieldCipher, table: str, column: str, row_id: object, value: str) -> bytes:
    """A value as format 1 sealed it: no padding."""
    header = struct.pack(">BH", UNPADDED_VERSION, cipher.keys.current)
    nonce = os.urandom(12)
    body = cipher.keys.aead(cipher.keys.current).encrypt(nonce, f'"{value}"'.encode(), _aad(table, column, row_id,
                                                                                             header))
    return header + nonce + body


def test_old_unpadded_values_still_open_and_rotation_rewrites_them_padded(installation, store):
    with store.write():
        patient = store.patients.add(name="Joseph Mwangi", phone="+254722300301", time_zone="Africa/Nairobi")
        old = seal_unpadded(store.cipher, "patients", "name", patient.id, "Joseph Mwangi")
        store.execute("UPDATE patients SET name = ? WHERE id = ?", (old, patient.id))

    assert store.patients.get(patient.id).name == "Joseph Mwangi"
    store.db.close()

    rotate(lambda ring: open_store(installation.db, ring, pin_work=4), installation.key_file, grace_seconds=0)

    conn = sqlite3.connect(installation.db)
    try:
        blob = conn.execute("SELECT name FROM patients WHERE id = ?", (patient.id,)).fetchone()[0]
    finally:
        conn.close()
    assert blob[0] == FORMAT_VERSION and len(blob) == 3 + 12 + PAD_BUCKET + 16
    reopened = open_store(installation.db, load_key_file(installation.key_file), pin_work=4)
    try:
        assert reopened.patients.get(patient.id).name == "Joseph Mwangi"
    finally:
        reopened.db.close()
