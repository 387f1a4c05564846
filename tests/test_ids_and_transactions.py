"""Row ids stay unique when several processes write to one database, and a write
whose COMMIT fails is rolled back instead of leaving the connection in a dead
transaction.

Ids are (milliseconds << 12) | (slot << 6) | counter, the slot leased per process and
database (storage/store.py). The fork tests freeze the id clock in the children so two
processes are sure to make ids in the same millisecond: with a counter alone (seeded once
at import and copied by fork) their ids come out identical.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
import types

import pytest

import storage.store
from flows.catalog import default_catalog
from flows.engine import Message
from lowband import create_app
from storage.store import ID_SLOTS
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.twilio_client import AUTH_TOKEN, TwilioClient

FORK = multiprocessing.get_context("fork")
EPOCH_MS = 1_704_067_200_000
APOLOGY = default_catalog().render("en", Message("error.retry", {"clinic": "Lowband Clinic", "emergency": "112"}))


def frozen_id_clock(ms_since_epoch: int, calls_per_ms: int = 1000) -> types.SimpleNamespace:
    """A `time` for storage.store whose clock moves one millisecond every `calls_per_ms` reads."""
    calls = iter(range(10**9))
    return types.SimpleNamespace(
        time_ns=lambda: (EPOCH_MS + ms_since_epoch + next(calls) // calls_per_ms) * 1_000_000
    )


def slot_of(row_id: int) -> int:
    return (row_id >> 6) & (ID_SLOTS - 1)


# -- ids ------------------------------------------------------------------------------


def test_ids_fit_53_bits_and_rise_past_ids_made_before(store):
    made_before = ((time.time_ns() // 1_000_000 - EPOCH_MS - 1) << 12) | 0xFFF  # the old layout, a ms ago
    ids = [store.new_id() for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert made_before < ids[0] and ids[-1] < 2**53


def test_a_burst_in_one_millisecond_never_repeats_an_id(store, monkeypatch):
    """Far more ids than the counter holds, with a clock that hardly moves: the counter
    must move on to the next millisecond, never wrap back onto ids already given."""
    monkeypatch.setattr(storage.store, "time", frozen_id_clock(10**9, calls_per_ms=100_000))
    ids = [store.new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} ids repeated"
    assert ids == sorted(ids)


def _ids_in_child(installation, start, count, out) -> None:
    storage.store.time = frozen_id_clock(2 * 10**9)  # both children in the same milliseconds
    child = installation.store()
    start.wait(timeout=10)
    out.put([child.new_id() for _ in range(count)])
    start.wait(timeout=10)  # both hold their slots until both are done


def test_forked_processes_make_distinct_ids_in_the_same_millisecond(installation):
    store = installation.store()
    store.new_id()  # the parent holds a slot (and a counter state) before it forks
    store.db.close()  # SQLite connections must not cross a fork; the slot stays held
    start, out = FORK.Barrier(2), FORK.Queue()
    children = [FORK.Process(target=_ids_in_child, args=(installation, start, 3000, out)) for _ in range(2)]
    for child in children:
        child.start()
    batches = [out.get(timeout=30) for _ in children]
    for child in children:
        child.join(timeout=30)
        assert child.exitcode == 0
    first, second = (set(batch) for batch in batches)
    assert len(first) == len(second) == 3000
    assert not first & second, f"{len(first & second)} ids made by both processes"
    slots = {slot_of(batch[0]) for batch in batches} | {slot_of(storage.store.next_id(str(installation.db.resolve())))}
    assert len(slots) == 3, "parent and children must each hold their own slot"


def _slot_in_child(installation, out) -> None:
    out.put(slot_of(installation.store().new_id()))


def test_a_slot_is_free_again_when_its_process_ends(installation):
    """Slots are OS locks, so a crashed or finished process never keeps one: one
    process after another gets the same, lowest slot, and the 64 never run out."""
    out = FORK.Queue()
    got = []
    for _ in range(3):
        child = FORK.Process(target=_slot_in_child, args=(installation, out))
        child.start()
        got.append(out.get(timeout=30))
        child.join(timeout=30)
    assert got[0] == got[1] == got[2]


# -- failed commits -------------------------------------------------------------------------


def _orphan_tables(store) -> None:
    store.execute("CREATE TABLE t_parent (id INTEGER PRIMARY KEY)")
    store.execute(
        "CREATE TABLE t_child (id INTEGER PRIMARY KEY, "
        "parent INTEGER REFERENCES t_parent(id) DEFERRABLE INITIALLY DEFERRED)"
    )


def _visible_elsewhere(installation, sql: str) -> list:
    other = sqlite3.connect(installation.db)
    try:
        return other.execute(sql).fetchall()
    finally:
        other.close()


def test_a_commit_that_fails_is_rolled_back_and_the_next_write_commits(installation, store):
    """A deferred foreign key fails at COMMIT, and SQLite keeps the transaction open.
    Left open, every later write would nest in it as a savepoint and never be saved."""
    _orphan_tables(store)
    for attempt in range(2):
        with pytest.raises(sqlite3.IntegrityError), store.write():
            store.execute("INSERT INTO t_child VALUES (?, 999)", (attempt,))
        assert not store.db.conn.in_transaction
    with store.write():
        store.execute("INSERT INTO t_parent VALUES (1)")
        store.execute("INSERT INTO t_child VALUES (10, 1)")
    assert not store.db.conn.in_transaction
    assert _visible_elsewhere(installation, "SELECT id FROM t_child") == [(10,)]
    assert _visible_elsewhere(installation, "SELECT id FROM t_parent") == [(1,)]


class _CommitFails:
    """A connection whose COMMIT fails once, as on a full disk, leaving the transaction open."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn, self.failures = conn, 1

    def execute(self, sql, *args):
        if sql == "COMMIT" and self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.conn, name)


def test_a_commit_failing_on_a_full_disk_loses_only_its_own_write(installation, store, monkeypatch):
    real = store.db.conn
    monkeypatch.setattr(store.db, "conn", _CommitFails(real))
    with pytest.raises(sqlite3.OperationalError), store.write():
        store.meta_set("test.lost", "1")
    assert not real.in_transaction
    with store.write():
        store.meta_set("test.kept", "1")
    assert not real.in_transaction
    assert _visible_elsewhere(installation, "SELECT key FROM meta WHERE key LIKE 'test.%'") == [("test.kept",)]


def test_a_failed_inner_write_with_the_transaction_gone_reports_its_own_error(store):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.write(), store.write():
        store.execute("ROLLBACK")  # as SQLite does by itself on some errors
        raise Boom
    assert not store.db.conn.in_transaction
    with store.write():
        store.meta_set("test.after", "1")
    assert store.meta_get("test.after") == "1"


# -- acceptance: two server processes on one database ---------------------------------------

SECONDS = 60  # the acceptance: a minute of two processes writing at once
THREADS = 2  # per process, as waitress's worker threads
PATIENTS_PER_THREAD = 8  # each well under the loop guard's 1000 texts a minute


def _phone(process: int, thread: int, n: int) -> str:
    return f"+2547{process}{thread}{n:06d}"


def _serve(config, process: int, start, out) -> None:
    try:
        _serve_texts(config, process, start, out)
    except BaseException:
        import traceback

        out.put({"texts": 0, "bad": [traceback.format_exc()], "seconds": 1.0})
        raise


def _serve_texts(config, process: int, start, out) -> None:
    """One server process: its own app and connection, THREADS threads posting texts."""
    app = create_app(config)
    tally = {"texts": 0, "bad": [], "seconds": 0.0}
    lock = threading.Lock()

    def drive(thread: int) -> None:
        twilio = TwilioClient(app.test_client())
        patients = [_phone(process, thread, n) for n in range(PATIENTS_PER_THREAD)]
        sent, newcomer = 0, 1000
        while time.monotonic() < deadline:
            if sent % 5 == 4:  # now and then a stranger: a session and a welcome
                sender, body = _phone(process, thread, newcomer), "hi"
                newcomer += 1
            else:  # a reading, saved, sometimes HIGH, which alerts a clinician
                sender, body = patients[sent % PATIENTS_PER_THREAD], f"BP {120 + sent % 50}/{80 + sent % 15}"
            try:
                reply = twilio.sms(sender, body, sid=f"SM{process}{thread}{sent:030x}")  # new_sid() forks too
                # A patient texting faster than 10 a minute is muted by the loop guard (an
                # empty reply, the reading still stored): that is not a failure; an error is.
                if reply.status != 200 or APOLOGY in reply.messages:
                    with lock:
                        tally["bad"].append(f"{body}: {reply.status} {reply.raw[:200]}")
            except Exception as error:  # reported to the parent
                with lock:
                    tally["bad"].append(f"{body}: {error!r}")
            sent += 1
        with lock:
            tally["texts"] += sent

    start.wait(timeout=30)
    began = time.monotonic()
    deadline = began + SECONDS
    threads = [threading.Thread(target=drive, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally["seconds"] = time.monotonic() - began
    app.extensions["lowband"].close()
    out.put(tally)


def test_two_server_processes_write_one_database_without_clashing(installation, request):
    store = installation.store()
    for process in range(2):
        for thread in range(THREADS):
            for n in range(PATIENTS_PER_THREAD):
                ScriptRunner.add_patient(
                    store, [f"{process}{thread}{n}", "Amina Zawadi", _phone(process, thread, n), "pin=1111", "consent"]
                )
    before = store.inbound.count()
    store.db.close()  # SQLite connections must not cross a fork
    config = {**installation.config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "RATE_LIMIT": 1000}
    start, out = FORK.Barrier(2), FORK.Queue()
    servers = [FORK.Process(target=_serve, args=(config, p, start, out)) for p in range(2)]
    for server in servers:
        server.start()
    tallies = [out.get(timeout=SECONDS + 30) for _ in servers]
    for server in servers:
        server.join(timeout=30)
        assert server.exitcode == 0
    for tally in tallies:
        print(f"process: {tally['texts']} texts in {tally['seconds']:.1f} s = "
              f"{tally['texts'] / tally['seconds']:.0f} texts/s, {len(tally['bad'])} bad replies")
    bad = [line for tally in tallies for line in tally["bad"]]
    assert not bad, f"{len(bad)} texts not answered normally, e.g. {bad[:3]}"
    sent = sum(tally["texts"] for tally in tallies)
    assert all(tally["texts"] > 50 for tally in tallies), tallies
    store = installation.store()
    request.addfinalizer(store.db.close)
    assert store.inbound.count() == before + sent

    ids = [row[0] for table in ("readings", "inbound_messages", "outbox")
           for row in store.execute(f"SELECT id FROM {table}")]  # noqa: S608
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} ids repeated"
    assert store.one("SELECT count(*) FROM readings")[0] > 0
    # Each process wrote under its own slot.
    recent = [row[0] for row in store.execute("SELECT id FROM inbound_messages ORDER BY id DESC LIMIT 200")]
    assert len({slot_of(row_id) for row_id in recent}) >= 2
