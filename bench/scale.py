"""Does one inbound reading cost the same in a clinic of 1,000 patients as in one of a million?

    python -m bench.scale [--quick] [--json] [--samples N] [--workdir DIR]

For each size (patients, readings of history) it seeds a fresh installation, then posts
signed Twilio webhooks through the real app (Flask's test client, in this process): each
one a different registered patient, chosen at random among all of them, texting a normal
`BP 1xx/8x`. It reports p50 and p99 per size and the ratio of the largest size's figures
to the smallest's. Target: p50 at 1,000,000 patients and 10 million readings at most 1.3
times the 1,000-patient figure.

The seed is bulk but sealed as in production: every sealed value, phone index and dedupe
index comes from the store's own functions (Store.seal, Store.phone_index, the reading
repository's dedupe index, the text sealer), each value its own ciphertext bound to its
row, in the row layout the repositories write, so the app reads the rows as its own. What
makes it fast: the sealing runs in worker processes, rows go in with executemany in big
transactions, and a table's secondary indexes are dropped during the load and created
again afterwards from their own SQL (one sort instead of ten million random inserts).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import json
import math
import multiprocessing
import os
import pickle
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.installation import (
    CHW_BASE,
    FIRST,
    LANGUAGES,
    LAST,
    PATIENT_BASE,
    PATIENTS_PER_CHW,
    PIN,
    Installation,
    phone,
)
from bench.traffic import OK, Text, bp_values, catalog_texts, form, judge
from storage import schema, short_ids
from storage.store import _ID_COUNTER_BITS, _ID_EPOCH_MS, Store, iso

FULL = ((1_000, 0), (100_000, 0), (1_000_000, 10_000_000))
QUICK = ((1_000, 0), (10_000, 0), (100_000, 1_000_000))
FULL_SAMPLES = 800  # the 1,000-patient clinic has 1,000 numbers: 200 warm up, 800 measured
QUICK_SAMPLES = 500
WARMUP = 200
TARGET = 1.3  # largest p50 over smallest p50

PUBLIC_URL = "https://clinic.example.org"  # what the webhooks are signed for; nothing listens there
SEED_FILE = "seed.json"  # beside data/: what measure() needs to know about the crowd
HISTORY_DAYS = 730
ENROLMENT_DAYS = 30  # patients joined in the month before their history starts
RELAYED = 0.1  # share of the history a CHW sent for the patient
CHUNK = 20_000  # rows per worker task and per executemany
CONSENT_VERSION = "consent-v1"

# -- row ids for the past ---------------------------------------------------------------
# storage.store makes an id from the moment it is made: (ms since 2024 << 12) | (slot << 6)
# | counter. A reading of last year gets the id it would have got last year; slot 0 is
# safe for the past, because every live process's ids are made from the clock, which is
# past all of these. The PRIMARY KEY would refuse a repeat, so a mistake here fails loudly.
ID_SHIFT = 12  # next_id: millis << 12
ID_COUNTER_LIMIT = 1 << _ID_COUNTER_BITS  # ids a process makes in one millisecond


def ids_at(moments_ms: Iterable[int], width: int) -> list[int]:
    """For each moment (ms since the id epoch, ascending), the first of `width` consecutive
    ids made then, as storage.store.next_id makes them: the counter counts ids within one
    millisecond and, when full, moves on to the next millisecond rather than wrap."""
    out, last, counter = [], -1, 0
    for ms in moments_ms:
        if ms > last:
            counter = 0
        elif counter + 2 * width <= ID_COUNTER_LIMIT:
            ms, counter = last, counter + width
        else:
            ms, counter = last + 1, 0
        last = ms
        out.append((ms << ID_SHIFT) | counter)
    return out


def taken_at(row_id: int) -> str:
    """The time an id was made, as storage.store.iso writes times."""
    return iso(datetime.fromtimestamp(((row_id >> ID_SHIFT) + _ID_EPOCH_MS) / 1000, UTC))


# -- short IDs ----------------------------------------------------------------------------


def short_id_plan(count: int, rng: random.Random) -> list[str]:
    """`count` distinct, valid short IDs, shortest first, as the app's allocator
    (PatientRepository.new_ids) hands them out while a clinic grows: it takes a longer ID
    only once the shorter ones are crowded, so a big clinic holds (nearly) every shorter
    one. new_ids stops at 6 digits before the check digit (909,000 IDs); past that this
    goes on to 7, the next length short_ids.is_valid accepts."""
    out: list[str] = []
    digits = short_ids.MIN_BASE_DIGITS
    while len(out) < count:
        if digits + 1 > short_ids.MAX_DIGITS:
            raise ValueError(f"more patients than short IDs: {count}")
        space = 9 * 10 ** (digits - 1)
        wanted = count - len(out)
        if wanted * 3 < space:
            out += _random_ids(digits, wanted, rng)  # sparse: draw, as random_short_id does
        else:
            every = [b + str(c) for b in map(str, range(10 ** (digits - 1), 10**digits))
                     if (c := short_ids.check_digit(b)) is not None]
            rng.shuffle(every)
            out += every[:wanted]
        digits += 1
    return out


def _random_ids(digits: int, wanted: int, rng: random.Random) -> list[str]:
    found: dict[str, None] = {}  # ordered, unique
    low = 10 ** (digits - 1)
    while len(found) < wanted:
        base = str(rng.randrange(low, 10 * low))
        check = short_ids.check_digit(base)
        if check is not None:
            found[base + str(check)] = None
    return list(found)


# -- what the workers seal ----------------------------------------------------------------


# The columns each repository's add() writes (the rest keep their defaults).
PATIENT_COLUMNS = ("id", "short_id", "name", "phone", "phone_index", "birth_year", "sex", "language", "time_zone",
                   "chw_id", "created_at", "pin_hash", "consent_at", "consent_version")
STAFF_COLUMNS = ("id", "role", "name", "phone", "phone_index", "email", "created_at")
READING_COLUMNS = ("id", "patient_id", "submission_id", "kind", "measured", "level", "dedupe_index",
                   "sender_index", "submitted_by", "taken_at")  # ReadingRepository.add's order


@dataclass
class Clinic:
    """Everything a worker needs to build rows; inherited by forked workers, never sent back."""

    key_file: str
    patient_ids: list[int]
    short_ids: list[str]
    enrolled_at: list[str]
    patient_phone_index: list[bytes]
    chw_ids: list[int]
    chw_phone_index: list[bytes]
    zone: str
    pin_hash: str
    levels: dict[tuple[int, int], str]  # the app's own assessment of each history value

    def chw_of(self, patient: int) -> int:
        return patient % len(self.chw_ids)


_clinic: Clinic | None = None
_sealer = None  # a Store with keys and no connection: its sealing code is the app's


def _start_worker(clinic: Clinic | None) -> None:
    global _clinic, _sealer
    from storage import load_key_file

    _clinic = clinic
    # Only the keys: seal, phone_index, readings.dedupe_index and text_sealer never touch
    # the connection, so they run here exactly as they run in a request.
    _sealer = Store(None, load_key_file(Path(clinic.key_file))) if clinic else None


def sealed_values(store, table: str, row: dict, columns: tuple[str, ...]) -> tuple:
    """The values storage.records.insert_sealed would insert for `row`, in the order of
    `columns` (which must name every key of the row, so none is dropped unnoticed)."""
    if set(row) != set(columns):
        raise ValueError(f"{table}: the row's columns {sorted(row)} are not {sorted(columns)}")
    sealed = schema.sealed(table)
    return tuple(store.seal(table, k, row["id"], row[k]) if k in sealed else row[k] for k in columns)


def staff_row(store, clinic: Clinic, j: int) -> tuple:
    """A CHW as StaffRepository.add writes one."""
    row = {"id": clinic.chw_ids[j], "role": "chw", "name": f"{FIRST[j % 10]} {LAST[(j // 10) % 10]}",
           "phone": phone(CHW_BASE, j), "phone_index": clinic.chw_phone_index[j], "email": None,
           "created_at": taken_at(clinic.chw_ids[j])}
    return sealed_values(store, "staff", row, STAFF_COLUMNS)


def patient_rows(span: tuple[int, int]) -> list[tuple]:
    """Patients span[0]..span[1]-1 as PatientRepository.add writes them, with the extras
    bench.installation gives (consent at enrolment, a PIN) and their CHW."""
    clinic, store = _clinic, _sealer
    rows = []
    for i in range(*span):
        row = {
            "pin_hash": clinic.pin_hash, "consent_at": clinic.enrolled_at[i], "consent_version": CONSENT_VERSION,
            "id": clinic.patient_ids[i], "short_id": clinic.short_ids[i],
            "name": f"{FIRST[i % 10]} {LAST[(i // 10) % 10]}", "phone": phone(PATIENT_BASE, i),
            "phone_index": clinic.patient_phone_index[i], "birth_year": 1940 + i % 60, "sex": "FM"[i % 2],
            "language": LANGUAGES[i % len(LANGUAGES)], "time_zone": clinic.zone,
            "chw_id": clinic.chw_ids[clinic.chw_of(i)], "created_at": clinic.enrolled_at[i],
        }
        rows.append(sealed_values(store, "patients", row, PATIENT_COLUMNS))
    return rows


def reading_rows(task: tuple[int, int, int, int]) -> list[tuple]:
    """`count` readings taken between two moments (ms since the id epoch), each from a
    random patient, as ReadingRepository.add writes them: one submission each, its id
    made just before the reading's (flows.service.apply._SaveReadings)."""
    number, count, start_ms, end_ms = task
    clinic, store = _clinic, _sealer
    rng = random.Random(number)  # each task its own sequence: the same seed gives the same clinic
    seal, text_seal, dedupe = store.seal, store.text_sealer.seal, store.readings.dedupe_index
    values = list(clinic.levels)
    rows = []
    for base in ids_at(sorted(rng.randrange(start_ms, end_ms) for _ in range(count)), 2):
        patient = rng.randrange(len(clinic.patient_ids))
        patient_id, row_id = clinic.patient_ids[patient], base + 1
        systolic, diastolic = rng.choice(values)
        measured = {"systolic": systolic, "diastolic": diastolic}
        if rng.random() < RELAYED:
            chw = clinic.chw_of(patient)
            sender, by = clinic.chw_phone_index[chw], f"staff:{clinic.chw_ids[chw]}"
        else:
            sender, by = clinic.patient_phone_index[patient], f"patient:{clinic.short_ids[patient]}"
        rows.append((
            row_id, patient_id, base, seal("readings", "kind", row_id, "bp"),
            seal("readings", "measured", row_id, measured),
            seal("readings", "level", row_id, clinic.levels[systolic, diastolic]),
            dedupe(patient_id, "bp", measured), sender, text_seal(by, "readings.submitted_by"), taken_at(row_id),
        ))
    return rows


def history_levels() -> dict[tuple[int, int], str]:
    """Blood pressures a clinic's history holds, with the level the app's rules give
    each; none of them urgent, which would have raised alerts this seed does not make."""
    from flows.care import ALERT_LEVELS
    from flows.care_rules import load_rules
    from flows.readings import Reading

    rules = load_rules()
    levels = {(s, d): rules.assess(Reading("bp", {"systolic": s, "diastolic": d})).level
              for s in range(100, 160) for d in range(60, 100)}
    return {pair: level for pair, level in levels.items() if level not in ALERT_LEVELS}


# -- running the work ---------------------------------------------------------------------


@contextlib.contextmanager
def workers(clinic: Clinic, count: int, spool: Path) -> Iterator[Callable]:
    """map(function, tasks) in order, in `count` forked processes (in this one when 0).

    Each worker hands its rows over in a file in `spool`, not through the pool's pipe:
    ten megabytes a task through a 64 KB pipe, read by a thread that must win the GIL
    from the inserting thread for every piece, left the workers waiting half the time.
    At most four tasks a worker are in flight, so finished rows never pile up."""
    if count <= 0:
        _start_worker(clinic)
        try:
            yield lambda function, tasks: map(function, tasks)
        finally:
            _start_worker(None)  # let go of the clinic: a big one would slow every GC pass after
        return
    spool.mkdir(exist_ok=True)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with context.Pool(count, initializer=_start_worker, initargs=(clinic,)) as pool:

        def ordered(function, tasks):
            pending = collections.deque()
            for n, task in enumerate(tasks):
                pending.append(pool.apply_async(_spooled, (function, task, str(spool / f"{n}.rows"))))
                if len(pending) >= 4 * count:
                    yield _unspool(pending.popleft().get())
            while pending:
                yield _unspool(pending.popleft().get())

        try:
            yield ordered
        finally:
            shutil.rmtree(spool, ignore_errors=True)


def _spooled(function: Callable, task: object, path: str) -> str:
    Path(path).write_bytes(pickle.dumps(function(task), protocol=pickle.HIGHEST_PROTOCOL))
    return path


def _unspool(path: str) -> list[tuple]:
    file = Path(path)
    rows = pickle.loads(file.read_bytes())  # noqa: S301 (written a moment ago by our own worker)
    file.unlink()
    return rows


@contextlib.contextmanager
def bulk_settings(conn: sqlite3.Connection) -> Iterator[None]:
    """For the seed only: no fsync (a seed that dies is thrown away), a big page cache and
    sorter threads for the index builds. The app's connections set their own pragmas."""
    before = {p: conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("synchronous", "cache_size", "threads")}
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")  # 1 GB
    conn.execute(f"PRAGMA threads = {os.cpu_count() or 1}")
    try:
        yield
    finally:
        for pragma, value in before.items():
            conn.execute(f"PRAGMA {pragma} = {value}")


@contextlib.contextmanager
def timed(phases: dict[str, float], name: str) -> Iterator[None]:
    """Seconds spent in each phase of the seed, for the report."""
    began = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = round(phases.get(name, 0) + time.perf_counter() - began, 2)


@contextlib.contextmanager
def indexes_deferred(store, table: str, phases: dict[str, float]) -> Iterator[None]:
    """Drop `table`'s secondary indexes and create them again from their own SQL when the
    load is done: the schema ends byte for byte as the migrations made it."""
    found = store.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                          "AND sql IS NOT NULL ORDER BY name", (table,)).fetchall()
    with store.write():
        for name, _ in found:
            store.execute(f'DROP INDEX "{name}"')
    yield
    with timed(phases, f"{table} indexes"), store.write():
        for _, sql in found:
            store.execute(sql)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Millions of row tuples would make the cyclic collector walk them again and again."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def insert(store, table: str, columns: tuple[str, ...], chunks: Iterable[list[tuple]], per_commit: int) -> int:
    """executemany each chunk, committing about every `per_commit` rows (a transaction
    per chunk would cost a commit and a WAL checkpoint each)."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"  # noqa: S608
    done, chunks = 0, iter(chunks)
    while True:
        in_transaction = 0
        with store.write():
            for rows in chunks:
                store.db.conn.executemany(sql, rows)
                in_transaction += len(rows)
                if in_transaction >= per_commit:
                    break
        done += in_transaction
        if in_transaction < per_commit:
            return done


# -- the seed -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    installation: Installation
    patients: int
    readings: int
    chws: int
    seconds: float
    db_bytes: int
    phases: dict[str, float]

    def to_json(self) -> dict:
        return {"root": str(self.installation.root), "patients": self.patients, "readings": self.readings,
                "chws": self.chws, "seconds": self.seconds, "db_bytes": self.db_bytes, "phases": self.phases}


def installation_at(root: Path) -> Installation:
    return Installation(root=root, db=root / "data" / "lowband.db", key_file=root / "data" / "lowband.key")


def seed(root: Path, patients: int, readings: int, *, processes: int | None = None, seed_value: int = 1) -> Seeded:
    """A real installation at `root` (key file, database with every migration) holding
    `patients` patients, each with a phone of their own (bench.installation's numbers),
    consent given and a PIN set, in CHW panels of PATIENTS_PER_CHW, and `readings` blood pressures of
    history over the past two years, spread at random over them."""
    from lowband.settings import load_settings
    from storage import create_key_file, open_store

    if readings and not patients:
        raise ValueError("readings need patients")
    began = time.perf_counter()
    root = Path(root)
    inst = installation_at(root)
    settings = load_settings(environ={}, overrides={"DB": inst.db, "KEY_FILE": inst.key_file, "REGION": inst.region})
    ring = create_key_file(inst.key_file)
    store = open_store(inst.db, ring, create=True, pin_work=settings.pin_work)
    rng = random.Random(seed_value)
    procs = processes
    if procs is None:
        # Starting processes costs more than a small clinic's work.
        procs = (os.cpu_count() or 1) if patients + readings >= 2 * CHUNK else 0
    now_ms = int(time.time() * 1000) - _ID_EPOCH_MS
    phases: dict[str, float] = {}
    try:
        with gc_paused(), bulk_settings(store.db.conn):
            with timed(phases, "plan"):
                clinic = plan(store, settings, ring, patients, rng, now_ms)
            with workers(clinic, procs, root / "spool") as run_tasks:
                load_people(store, clinic, run_tasks, phases)
                load_history(store, clinic, run_tasks, readings, now_ms, seed_value, phases)
            with store.write():
                store.audit.record("cli", "bench.seed", "", f"patients={patients} readings={readings}")
        with timed(phases, "checkpoint"):
            store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_bytes = store.one("PRAGMA page_count")[0] * store.one("PRAGMA page_size")[0]
    finally:
        store.db.close()
    seeded = Seeded(inst, patients, readings, len(clinic.chw_ids), round(time.perf_counter() - began, 2), db_bytes,
                    phases)
    (root / SEED_FILE).write_text(json.dumps({**seeded.to_json(), "phone_base": PATIENT_BASE}))
    return seeded


def plan(store, settings, ring, patients: int, rng: random.Random, now_ms: int) -> Clinic:
    """Who is who, decided up front: ids, short IDs, enrolment times, phone indexes."""
    from flows.phones import default_time_zone
    from storage.pins import hash_pin

    history_start = history_window(now_ms)[0]
    enrol_start = max(0, history_start - ENROLMENT_DAYS * 86_400_000)
    chw_count = max(1, -(-patients // PATIENTS_PER_CHW)) if patients else 0
    # CHWs joined first, in the hour before the enrolments began.
    chw_ids = ids_at(sorted(rng.randrange(enrol_start - 3_600_000, enrol_start)
                            for _ in range(chw_count)), 1)
    patient_ids = ids_at(sorted(rng.randrange(enrol_start, history_start) for _ in range(patients)), 1)
    return Clinic(
        key_file=str(Path(settings.key_path)), patient_ids=patient_ids,
        short_ids=short_id_plan(patients, rng), enrolled_at=[taken_at(i) for i in patient_ids],
        patient_phone_index=[store.phone_index(phone(PATIENT_BASE, i)) for i in range(patients)],
        chw_ids=chw_ids, chw_phone_index=[store.phone_index(phone(CHW_BASE, j)) for j in range(chw_count)],
        zone=default_time_zone(phone(PATIENT_BASE, 0), settings.time_zone),
        # One real hash at the production cost, shared (same PIN), as bench.installation does.
        pin_hash=hash_pin(ring.pin_key, PIN, settings.pin_work), levels=history_levels(),
    )


def history_window(now_ms: int) -> tuple[int, int]:
    """Two years ending an hour ago (so nothing in it is a repeat of a text sent now),
    never before the id epoch plus the enrolment month."""
    end = now_ms - 3_600_000
    start = max(ENROLMENT_DAYS * 86_400_000 + 3_600_000, end - HISTORY_DAYS * 86_400_000)
    return start, max(start + 1, end)


def load_people(store, clinic: Clinic, run_tasks: Callable, phases: dict[str, float]) -> None:
    # Staff are few (a CHW per PATIENTS_PER_CHW patients): sealed here, in this process.
    with timed(phases, "staff"), store.write():
        store.db.conn.executemany(
            f"INSERT INTO staff ({', '.join(STAFF_COLUMNS)}) VALUES ({', '.join('?' for _ in STAFF_COLUMNS)})",  # noqa: S608
            (staff_row(store, clinic, j) for j in range(len(clinic.chw_ids))),
        )
    count = len(clinic.patient_ids)
    spans = [(a, min(count, a + CHUNK)) for a in range(0, count, CHUNK)]
    with indexes_deferred(store, "patients", phases), timed(phases, "patients rows"):
        insert(store, "patients", PATIENT_COLUMNS, run_tasks(patient_rows, spans), per_commit=200_000)


def load_history(store, clinic: Clinic, run_tasks: Callable, readings: int, now_ms: int, seed_value: int,
                 phases: dict[str, float]) -> None:
    if not readings:
        return
    start, end = history_window(now_ms)
    tasks = []
    for number, first in enumerate(range(0, readings, CHUNK)):
        count = min(CHUNK, readings - first)
        # Each task its own slice of time, so rows arrive in id order and append.
        t0 = start + (end - start) * first // readings
        t1 = start + (end - start) * (first + count) // readings
        tasks.append((seed_value * 1_000_003 + number, count, t0, max(t0 + 1, t1)))
    with indexes_deferred(store, "readings", phases), timed(phases, "readings rows"):
        insert(store, "readings", READING_COLUMNS, run_tasks(reading_rows, tasks), per_commit=500_000)


class SeedError(RuntimeError):
    """The seeded installation does not read back as the app would need it."""


def spot_check(root: Path, count: int = 20, seed_value: int = 7) -> dict:
    """Read the seed back through the store as the app would: the row counts, then
    `count` random patients found by their phone, each with all of their history opened.
    Raises if anything is missing or does not open (a damaged row would be skipped by the
    repository, so each patient's readings are counted both ways)."""
    from storage import load_key_file, open_store

    info = json.loads((Path(root) / SEED_FILE).read_text())
    inst = installation_at(Path(root))
    store = open_store(inst.db, load_key_file(inst.key_file))
    opened = 0
    try:
        found = (store.patients.count(), store.one("SELECT count(*) FROM readings")[0])
        if found != (info["patients"], info["readings"]):
            raise SeedError(f"seeded {info['patients']} patients and {info['readings']} readings, found {found}")
        for index in random.Random(seed_value).sample(range(info["patients"]), min(count, info["patients"])):
            patients = store.patients.with_phone(phone(PATIENT_BASE, index))
            if len(patients) != 1 or patients[0].phone != phone(PATIENT_BASE, index):
                raise SeedError(f"patient {index} is not found by their phone")
            history = store.readings.newest_for(patients[0].id)
            if len(history) != store.readings.count_for(patients[0].id):
                raise SeedError(f"patient {index}'s history does not all open")
            opened += len(history)
    finally:
        store.db.close()
    return {"patients": min(count, info["patients"]), "readings_opened": opened}


# -- the measurement ----------------------------------------------------------------------


def reading_text(index: int, visit: int) -> Text:
    """Patient `index` texting a normal blood pressure; `visit` makes each text differ."""
    systolic, diastolic = bp_values(index, visit)
    return Text("bp", phone(PATIENT_BASE, index), f"BP {systolic}/{diastolic}", f"{systolic}/{diastolic}")


def verdict(status: int, content_type: str, raw: bytes, text: Text, known: dict) -> str:
    """bench.traffic.judge: "ok" only for HTTP 200 TwiML echoing the reading's values;
    the apology, the loop guard's note, silence or no echo are what went wrong."""
    return judge(status, content_type or "", raw, text, set(known["apology"]), set(known["slow_down"]))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least q of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def warm_page_cache(db: Path) -> bool:
    """Read the database file once, as a server that has run for a while has it in the
    OS cache: the measure is then of the work per text, not of the disk's first reads.
    (This machine reclaims cold cache pages within seconds: an 8 GB seed was read back
    from disk at random, and the 1,000,000-patient p50 went from 1.8 to 2.5 ms from one
    run to the next.) Not when the file would not fit in half the free memory."""
    try:
        with open("/proc/meminfo") as handle:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in handle}
        available = info["MemAvailable"]
    except (OSError, KeyError, ValueError, IndexError):
        return False
    if db.stat().st_size > available // 2:
        return False
    with open(db, "rb") as handle, open(os.devnull, "wb") as nowhere:
        shutil.copyfileobj(handle, nowhere, 1 << 20)
    return True


def measure(root: Path, samples: int, *, warmup: int = WARMUP, seed_value: int = 1) -> dict:
    """Post `warmup` then `samples` signed webhooks to the app built on the installation
    seeded at `root`, each from a different patient (the loop guard allows 10 texts a
    minute a number), and time each answer."""
    from twilio.request_validator import RequestValidator

    from lowband import create_app, serving

    root = Path(root)
    crowd = json.loads((root / SEED_FILE).read_text())["patients"]
    if not 0 < samples <= crowd:
        raise ValueError(f"{samples} samples need as many patients; the clinic has {crowd}")
    warmup = max(0, min(warmup, crowd - samples))
    chosen = random.Random(seed_value).sample(range(crowd), warmup + samples)
    known = catalog_texts()
    token = secrets.token_hex(16)  # the Twilio auth token the app checks signatures with
    validator = RequestValidator(token)
    app = create_app(installation_at(root).config(PUBLIC_URL, token))
    # As `lowband serve` runs: WAL checkpoints on their own thread, not in a text's commit.
    serving.start_checkpointer(app, app.extensions["lowband"].settings)
    client = app.test_client()
    timings: list[float] = []
    wrong: collections.Counter = collections.Counter()
    gc.collect()  # the seed's garbage is not the request's
    cached = warm_page_cache(installation_at(root).db)
    try:
        for visit, index in enumerate(chosen):
            text = reading_text(index, visit)
            params = form(text, "SM" + uuid.uuid4().hex)  # a fresh MessageSid: never a retry
            headers = {"X-Twilio-Signature": validator.compute_signature(PUBLIC_URL + "/sms", params)}
            began = time.perf_counter()
            response = client.post("/sms", data=params, headers=headers)
            elapsed = time.perf_counter() - began
            if visit < warmup:
                continue
            timings.append(elapsed * 1000)
            judged = verdict(response.status_code, response.content_type, response.data, text, known)
            if judged != OK:
                wrong[judged] += 1
    finally:
        app.extensions["lowband"].checkpointer.stop()
        app.extensions["lowband"].close()
    return {"samples": len(timings), "warmup": warmup, "errors": sum(wrong.values()), "wrong": dict(wrong),
            "page_cache_warmed": cached,
            "p50_ms": _round(percentile(timings, 0.50)), "p99_ms": _round(percentile(timings, 0.99)),
            "max_ms": _round(max(timings, default=None))}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# -- the whole run ------------------------------------------------------------------------


def run(sizes: list[tuple[int, int]], samples: int, workdir: Path | None = None, *, warmup: int = WARMUP,
        processes: int | None = None) -> dict:
    """Seed, measure and delete each size in turn; the ratios compare the largest size
    with the smallest (by patients, then readings)."""
    results = []
    for patients, readings in sizes:
        folder = Path(tempfile.mkdtemp(prefix="lowband-scale-", dir=workdir))
        try:
            seeded = seed(folder, patients, readings, processes=processes)
            checked = spot_check(folder)
            measured = measure(folder, min(samples, patients), warmup=warmup)
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # gigabytes at the full sizes
        results.append({"patients": patients, "readings": readings, "chws": seeded.chws,
                        "seed_seconds": seeded.seconds, "seed_phases": seeded.phases, "db_bytes": seeded.db_bytes,
                        "spot_check": checked, **measured})
    return {"sizes": results, **ratios(results), "target": TARGET}


def ratios(results: list[dict]) -> dict:
    if not results:
        return {"p50_ratio": None, "p99_ratio": None, "met": None}
    order = sorted(results, key=lambda r: (r["patients"], r["readings"]))
    small, large = order[0], order[-1]

    def ratio(key: str) -> float | None:
        return round(large[key] / small[key], 3) if large[key] and small[key] else None

    p50 = ratio("p50_ms")
    return {"p50_ratio": p50, "p99_ratio": ratio("p99_ms"), "met": None if p50 is None else p50 <= TARGET}


def as_text(report: dict) -> str:
    lines = [f"{'patients':>10} {'readings':>11} {'seed s':>8} {'db MB':>8} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'samples':>8} {'errors':>7}"]
    for r in report["sizes"]:
        lines.append(f"{r['patients']:>10,} {r['readings']:>11,} {r['seed_seconds']:>8.1f} "
                     f"{r['db_bytes'] / 1e6:>8.0f} {_ms(r['p50_ms'])} {_ms(r['p99_ms'])} "
                     f"{r['samples']:>8} {r['errors']:>7}")
        if r["wrong"]:
            lines.append(f"{'':>10} wrong answers: {r['wrong']}")
    verdict_word = {True: "met", False: "NOT met", None: "unknown"}[report["met"]]
    lines.append(f"p50 largest/smallest: {report['p50_ratio']}  (target <= {report['target']}: {verdict_word})")
    lines.append(f"p99 largest/smallest: {report['p99_ratio']}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return f"{'-':>8}" if value is None else f"{value:>8.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK} instead of {FULL}")
    parser.add_argument("--samples", type=int, default=None, help="measured texts per size")
    parser.add_argument("--warmup", type=int, default=WARMUP, help=f"texts not counted, per size (default {WARMUP})")
    parser.add_argument("--workdir", type=Path, default=None, help="where the installations go (default: temp)")
    parser.add_argument("--sizes", help="patients:readings,... instead of the standard sizes (e.g. 1000:0,5000:20000)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args(argv)
    sizes = list(QUICK if args.quick else FULL)
    if args.sizes:
        try:
            sizes = [(int(p), int(r)) for p, r in (size.split(":") for size in args.sizes.split(","))]
        except ValueError:
            parser.error("--sizes takes patients:readings pairs, like 1000:0,5000:20000")
    samples = args.samples or (QUICK_SAMPLES if args.quick else FULL_SAMPLES)
    report = run(sizes, samples, args.workdir, warmup=args.warmup)
    print(json.dumps(report, sort_keys=True) if args.json else as_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
