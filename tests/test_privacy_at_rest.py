"""Acceptance 2: no name, phone number or medicine can be read from the database files.

The raw bytes of the main file and of the write-ahead log are scanned, since SQLite keeps
recent writes in the -wal file until a checkpoint copies them over.
"""

from __future__ import annotations

from pathlib import Path

from flows.enrolment import new_patient
from flows.phones import to_e164

AMINA = [b"Amina", b"Zawadi", b"712345678", b"+254712345678"]
STAFF_AND_MEDICINE = [b"Wanjiru", b"Kamau", b"wanjiru@clinic.example", b"700100101", b"Metformin", b"500mg"]


def wal_of(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def found_in(path: Path, needles: list[bytes]) -> list[bytes]:
    """Which needles occur in the file's bytes, ignoring case (a lower-cased name leaks too)."""
    data = path.read_bytes().lower()
    return [needle for needle in needles if needle.lower() in data]


def database_files(db: Path) -> list[Path]:
    return [p for p in (db, wal_of(db), db.with_name(db.name + "-shm")) if p.exists()]


def test_a_patient_written_through_the_repository_is_unreadable_in_file_and_wal(installation):
    store = installation.store()
    try:
        # Keep every new page in the WAL: nothing is copied to the main file while we look.
        store.execute("PRAGMA wal_autocheckpoint = 0")
        details = new_patient(name="Amina Zawadi", phone="0712 345 678", region="KE", this_year=2025)
        with store.write():
            patient = store.patients.add(**vars(details))

        wal = wal_of(installation.db)
        assert wal.stat().st_size > 0
        # The row really is in the WAL: its plain columns can be read there...
        assert found_in(wal, [b"Africa/Nairobi", patient.short_id.encode()]) == [
            b"Africa/Nairobi",
            patient.short_id.encode(),
        ]
        # ...while its name and number cannot, in either file.
        assert found_in(wal, AMINA) == []
        assert found_in(installation.db, AMINA) == []
    finally:
        store.db.close()
    assert found_in(installation.db, AMINA) == []


def test_after_lowband_patients_add_no_file_holds_the_name_or_number(installation, run_cli):
    # A second connection stays open, as the server's would: the CLI's writes then stay
    # in the WAL when it exits instead of being checkpointed away.
    watcher = installation.store()
    try:
        result = run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678")
        assert result.exit_code == 0, result.output
        assert wal_of(installation.db).stat().st_size > 0
        assert b"patient.enrol" in wal_of(installation.db).read_bytes()  # the CLI's audit entry
        for path in database_files(installation.db):
            assert found_in(path, AMINA) == [], path.name
    finally:
        watcher.db.close()
    # Last connection closed: everything is now checkpointed into the main file.
    assert b"patient.enrol" in installation.db.read_bytes()
    for path in database_files(installation.db):
        assert found_in(path, AMINA) == [], path.name


def test_the_patient_is_found_again_by_phone(installation, run_cli):
    result = run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678")
    assert result.exit_code == 0, result.output
    store = installation.store()
    try:
        by_e164 = store.patients.with_phone("+254712345678")
        by_national = store.patients.with_phone(to_e164("0712-345-678", "KE"))
        by_international = store.patients.with_phone(to_e164("+254 712 345 678", None))
        assert [p.name for p in by_e164] == ["Amina Zawadi"]
        assert by_national == by_e164 == by_international
        assert by_e164[0].phone == "+254712345678"
        assert by_e164[0].time_zone == "Africa/Nairobi"
        assert store.patients.with_phone("+254712345679") == []
    finally:
        store.db.close()


def test_staff_and_medicines_are_unreadable_in_file_and_wal(installation, run_cli):
    watcher = installation.store()
    try:
        added = run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678")
        short_id = added.output.split()[2]
        results = [
            run_cli(
                "users", "add", "--role", "clinician", "--name", "Dr Wanjiru Kamau",
                "--phone", "0700 100 101", "--email", "wanjiru@clinic.example",
                input="console-password\nconsole-password\n",
            ),
            run_cli("meds", "add", short_id, "--name", "Metformin", "--dose", "500mg", "--quantity", "60"),
        ]
        for result in results:
            assert result.exit_code == 0, result.output
        assert wal_of(installation.db).stat().st_size > 0
        for path in database_files(installation.db):
            assert found_in(path, AMINA + STAFF_AND_MEDICINE) == [], path.name
    finally:
        watcher.db.close()
    for path in database_files(installation.db):
        assert found_in(path, AMINA + STAFF_AND_MEDICINE) == [], path.name

    # And all of it reads back with the key.
    store = installation.store()
    try:
        clinician = store.staff.by_phone("+254700100101")
        assert (clinician.name, clinician.email, clinician.role) == (
            "Dr Wanjiru Kamau", "wanjiru@clinic.example", "clinician",
        )
        patient = store.patients.by_short_id(short_id)
        assert [m.label for m in store.medications.for_patient(patient.id)] == ["Metformin 500mg x60"]
    finally:
        store.db.close()
