"""Acceptance 4: after `keys rotate` every value reads with the new key alone; a rotation
stopped half-way leaves everything readable and finishes when run again; and it works
while the server keeps writing."""

from __future__ import annotations

import stat

import pytest

from storage import FieldIntegrityError, load_key_file
from storage.crypto import FieldCipher
from storage.migrations import ENCRYPTED
from storage.rotation import rotate
from storage.store import Store, open_store


class Interrupted(Exception):
    """Stands in for Ctrl-C, a power cut or a killed process."""


def populate(store: Store, patients: int) -> None:
    with store.write():
        chw = store.staff.add(role="chw", name="Grace Achieng", phone="+254700100103")
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone="+254700100101", email="w@clinic.example")
        for i in range(patients):
            patient = store.patients.add(
                name=f"Patient Number {i}", phone=f"+2547123{i:05d}", time_zone="Africa/Nairobi",
                birth_year=1950 + i, sex="FM"[i % 2], chw_id=chw.id,
            )
            store.medications.add(patient.id, name="Metformin", dose="500mg", quantity=60)
            if i % 3 == 0:
                store.medications.add(patient.id, name="Amlodipine", dose="5mg")


def everything(store: Store) -> dict:
    """Every record, read through the repositories (each sealed value opened)."""
    patients = list(store.patients.all())
    return {
        "patients": patients,
        "staff": store.staff.all(),
        "medications": [m for p in patients for m in store.medications.for_patient(p.id, active_only=False)],
    }


def key_ids(store: Store) -> set[int]:
    """The key id inside every ciphertext in the database."""
    found = set()
    for table, (_, columns) in ENCRYPTED.items():
        for row in store.execute(f"SELECT {', '.join(columns)} FROM {table}"):  # noqa: S608
            found.update(FieldCipher.key_id_of(value) for value in row if value is not None)
    return found


def rows_to_reseal(store: Store) -> int:
    return sum(store.one(f"SELECT count(*) FROM {table}")[0] for table in ENCRYPTED)  # noqa: S608


@pytest.fixture
def store_for(installation):
    opened: list[Store] = []

    def open_with(ring) -> Store:
        store = open_store(installation.db, ring, pin_work=4)
        opened.append(store)
        return store

    yield open_with
    for store in opened:
        store.db.close()


def open_with_key_file(installation) -> Store:
    """Open the database with exactly what the key file now holds."""
    return open_store(installation.db, load_key_file(installation.key_file), pin_work=4)


def test_after_keys_rotate_everything_reads_with_the_new_key_alone(installation, run_cli, no_rotation_grace):
    store = installation.store()
    populate(store, patients=5)
    before = everything(store)
    old_ring = store.keys
    store.db.close()

    result = run_cli("keys", "rotate")

    assert result.exit_code == 0, result.output
    assert "under key 2" in result.stdout
    assert no_rotation_grace and no_rotation_grace[0] > 0  # it did wait for in-flight requests
    ring = load_key_file(installation.key_file)
    # The old key stays in the key file, marked retired, for backups made before now.
    assert (ring.current, ring.active, ring.retired) == (2, {2}, {1})
    assert ring.field_keys[2] != old_ring.field_keys[1]
    assert "retired" in result.stderr  # warned before rotating
    assert stat.S_IMODE(installation.key_file.stat().st_mode) == 0o600
    store = open_with_key_file(installation)
    try:
        assert everything(store) == before
        assert key_ids(store) == {2}
        # Keys that never rotate still work: phone lookups, the audit chain.
        assert [p.name for p in store.patients.with_phone("+254712300003")] == ["Patient Number 3"]
        assert store.audit.verify().ok
        assert store.audit.entries()[-1].action == "keys.rotate"
    finally:
        store.db.close()
    # The retired key can no longer read anything.
    stale = open_store(installation.db, old_ring, pin_work=4)
    try:
        with pytest.raises(FieldIntegrityError, match="integrity"):
            stale.patients.all().__next__()
    finally:
        stale.db.close()


def test_rotating_twice_moves_to_a_third_key(installation, run_cli, no_rotation_grace):
    store = installation.store()
    populate(store, patients=2)
    before = everything(store)
    store.db.close()

    assert run_cli("keys", "rotate").exit_code == 0
    assert run_cli("keys", "rotate").exit_code == 0

    ring = load_key_file(installation.key_file)
    assert (ring.current, ring.active, ring.retired) == (3, {3}, {1, 2})
    store = open_with_key_file(installation)
    try:
        assert everything(store) == before
        assert key_ids(store) == {3}
    finally:
        store.db.close()


def stop_after(rows: int):
    done = []

    def progress(n: int) -> None:
        done.append(n)
        if sum(done) >= rows:
            raise Interrupted

    return progress


def test_a_rotation_stopped_half_way_stays_readable_and_resumes(installation, store_for):
    store = installation.store()
    populate(store, patients=30)
    before = everything(store)
    total = rows_to_reseal(store)
    store.db.close()

    with pytest.raises(Interrupted):
        rotate(store_for, installation.key_file, batch_size=1, grace_seconds=0, progress=stop_after(25))

    # Half-way: the key file holds both keys, the database both key ids, all readable.
    ring = load_key_file(installation.key_file)
    assert (ring.current, ring.active, ring.retired) == (2, {1, 2}, set())
    store = open_with_key_file(installation)
    try:
        assert key_ids(store) == {1, 2}
        assert everything(store) == before
    finally:
        store.db.close()

    result = rotate(store_for, installation.key_file, batch_size=1, grace_seconds=0)

    assert result.resumed
    assert (result.new_key, result.retired) == (2, [1])
    assert result.resealed == total - 25  # carried on; did not start over
    assert load_key_file(installation.key_file).active == {2}
    store = open_with_key_file(installation)
    try:
        assert key_ids(store) == {2}
        assert everything(store) == before
    finally:
        store.db.close()


def test_the_cli_resumes_an_interrupted_rotation(installation, run_cli, store_for, no_rotation_grace):
    store = installation.store()
    populate(store, patients=10)
    before = everything(store)
    store.db.close()
    with pytest.raises(Interrupted):
        rotate(store_for, installation.key_file, batch_size=1, grace_seconds=0, progress=stop_after(7))

    result = run_cli("keys", "rotate", "--batch-size", "3")

    assert result.exit_code == 0, result.output
    assert "Resuming" in result.stdout
    assert "retired key(s): 1" in result.stdout
    ring = load_key_file(installation.key_file)
    assert (ring.current, ring.active, ring.retired) == (2, {2}, {1})
    store = open_with_key_file(installation)
    try:
        assert key_ids(store) == {2}
        assert everything(store) == before
    finally:
        store.db.close()


def test_rotation_while_the_server_keeps_writing(installation, app, store_for):
    runtime = app.extensions["lowband"]
    populate(runtime.store(), patients=12)
    # A request that loaded the key file just before rotation switched it.
    in_flight = installation.store()
    written = []

    def server_writes(n: int) -> None:
        # Between rotation batches the server answers requests on its own connections
        # (a handful of them: a writer that never stops using the old key would keep
        # the final sweep busy for ever, which no real request does).
        i = len(written)
        if i >= 10:
            return
        with runtime.store().write() as server:
            fresh = server.patients.add(
                name=f"Walk In {i}", phone=f"+2547339{i:05d}", time_zone="Africa/Nairobi", birth_year=1990,
            )
        with in_flight.write():
            late = in_flight.patients.add(
                name=f"Late Request {i}", phone=f"+2547449{i:05d}", time_zone="Africa/Nairobi", birth_year=1991,
            )
        written.extend([fresh.id, late.id])

    try:
        result = rotate(store_for, installation.key_file, batch_size=5, grace_seconds=0, progress=server_writes)
    finally:
        in_flight.db.close()

    assert written and result.retired == [1]
    # The server picked up the new key file by itself...
    assert runtime.store().keys.active == {2}
    with runtime.store().write() as server:
        after = server.patients.add(name="After Rotation", phone=None, time_zone="UTC")

    # ...and the database reads whole with the new key alone.
    store = open_with_key_file(installation)
    try:
        assert store.keys.active == {2}
        assert key_ids(store) == {2}
        names = {p.id: p.name for p in store.patients.all()}
        assert set(written) <= set(names)
        assert names[after.id] == "After Rotation"
        assert len(names) == 12 + len(written) + 1
    finally:
        store.db.close()


def test_rotate_with_a_wrong_key_file_changes_nothing(installation, run_cli, cli_error, tmp_path, no_rotation_grace):
    from storage import create_key_file

    other = tmp_path / "other.key"
    create_key_file(other)
    other_before = other.read_bytes()

    cli_error(run_cli("keys", "rotate", env={"LOWBAND_KEY_FILE": str(other)}), str(other))

    assert other.read_bytes() == other_before  # no key was added to someone else's key file
    assert set(load_key_file(installation.key_file).field_keys) == {1}


def test_rotate_without_a_database_leaves_the_key_file_alone(installation, run_cli, cli_error, no_rotation_grace):
    key_before = installation.key_file.read_bytes()
    missing = installation.root / "nowhere" / "lowband.db"

    cli_error(run_cli("keys", "rotate", env={"LOWBAND_DB": str(missing)}), str(missing), "not found")

    assert installation.key_file.read_bytes() == key_before
