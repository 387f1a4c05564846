"""Store: one connection, the cipher, the repositories, and explicit transactions."""

from __future__ import annotations

import itertools
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from sqlite_utils import Database

from storage import migrations
from storage.connection import connect
from storage.crypto import FieldCipher, FieldIntegrityError, KeyRing
from storage.errors import StorageError, WrongKeyError

Clock = Callable[[], datetime]

_WRITER = threading.RLock()
_savepoints = itertools.count(1)
_ID_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_id_counter = itertools.count(secrets.randbelow(4096))


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Timestamps are stored as UTC ISO-8601 text, which sorts as time does."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Store:
    """What a request, a CLI command or a job needs to read and write records.

    Cheap to create: it wraps an open connection and the shared, already-loaded keys.
    """

    def __init__(self, db: Database, keys: KeyRing, *, clock: Clock = utc_now, pin_work: int = 14):
        self.db = db
        self.cipher = FieldCipher(keys)
        self.keys = keys
        self.clock = clock
        self.pin_work = pin_work

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Store]:
        """One write transaction. IMMEDIATE takes the write lock up front, so two
        requests for the same sender run one after the other instead of both reading
        the old state and one losing its update. Nested calls become savepoints."""
        conn = self.db.conn
        if conn.in_transaction:
            name = f"sp_{next(_savepoints)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")
            return
        # Threads of this process queue here, on a lock that wakes the next one at once,
        # rather than in SQLite's busy handler, which polls with sleeps: under load that
        # polling, not the work, made the latency. Other processes (the CLI, a second
        # server) still meet at SQLite's own lock.
        with _WRITER:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def execute(self, sql: str, params: tuple | list | dict = ()) -> sqlite3.Cursor:
        return self.db.conn.execute(sql, params)

    def one(self, sql: str, params: tuple | list | dict = ()) -> sqlite3.Row | tuple | None:
        return self.db.conn.execute(sql, params).fetchone()

    # -- values -------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def now_iso(self) -> str:
        return iso(self.clock())

    @staticmethod
    def new_id() -> int:
        """Row ids are chosen before insert because each sealed value is bound to its
        row id. They rise with time (milliseconds since 2024, then a per-process counter
        that starts at a random place), so inserts append to the end of each B-tree
        instead of splitting pages all over it; 53 bits stay exact in JSON."""
        millis = time.time_ns() // 1_000_000 - _ID_EPOCH_MS
        return (millis << 12) | (next(_id_counter) & 0xFFF)

    def seal(self, table: str, column: str, row_id: object, value: object) -> bytes | None:
        return self.cipher.seal(table, column, row_id, value)

    def open(self, table: str, column: str, row_id: object, blob: bytes | None) -> object:
        return self.cipher.open(table, column, row_id, blob)

    def phone_index(self, e164: str) -> bytes:
        return self.cipher.blind_index("phone", e164)

    def meta_get(self, key: str, default: str | None = None) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else default

    def meta_set(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def schema_version(self) -> str | None:
        return migrations.schema_version(self.db)

    # -- repositories ---------------------------------------------------------------

    @cached_property
    def patients(self):
        from storage.patients import PatientRepository

        return PatientRepository(self)

    @cached_property
    def staff(self):
        from storage.staff import StaffRepository

        return StaffRepository(self)

    @cached_property
    def medications(self):
        from storage.medications import MedicationRepository

        return MedicationRepository(self)

    @cached_property
    def sessions(self):
        from storage.conversations import SessionRepository

        return SessionRepository(self)

    @cached_property
    def contacts(self):
        from storage.conversations import ContactRepository

        return ContactRepository(self)

    @cached_property
    def inbound(self):
        from storage.inbound import InboundRepository

        return InboundRepository(self)

    @cached_property
    def outbox(self):
        from storage.outbox import Outbox

        return Outbox(self)

    @cached_property
    def readings(self):
        from storage.care import ReadingRepository

        return ReadingRepository(self)

    @cached_property
    def alerts(self):
        from storage.care import AlertRepository

        return AlertRepository(self)

    @cached_property
    def refills(self):
        from storage.requests import RefillRepository

        return RefillRepository(self)

    @cached_property
    def consults(self):
        from storage.requests import ConsultRepository

        return ConsultRepository(self)

    @cached_property
    def held(self):
        from storage.requests import HeldMessages

        return HeldMessages(self)

    @cached_property
    def rota(self):
        from storage.rota import Rota

        return Rota(self)

    def next_ref(self, name: str, prefix: str) -> str:
        from storage.care import next_ref

        return next_ref(self, name, prefix)

    @cached_property
    def audit(self):
        from storage.audit import AuditLog

        return AuditLog(self)


KEY_CHECK = "lowband key check"


def check_keys(db: Database, keys: KeyRing) -> bool:
    """Refuse a key file that belongs to another installation, or whose current field
    key is not the one this database was written with, before any write.

    Returns True when this database had never been opened with keys (it is new)."""
    conn = db.conn
    row = conn.execute("SELECT value FROM meta WHERE key = 'key_fingerprint'").fetchone()
    if row is not None and row[0] != keys.fingerprint():
        raise WrongKeyError("the key file does not belong to this database")
    cipher = FieldCipher(keys)
    check_name = f"key_check:{keys.current}"
    check = conn.execute("SELECT value FROM meta WHERE key = ?", (check_name,)).fetchone()
    if check is not None:
        try:
            cipher.open("meta", "value", check_name, bytes.fromhex(check[0]))
        except FieldIntegrityError:
            raise WrongKeyError(f"the key file's field key {keys.current} is not the one this database uses") from None
    if row is not None and check is not None:
        return False
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('key_fingerprint', ?)", (keys.fingerprint(),))
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
            (check_name, cipher.seal("meta", "value", check_name, KEY_CHECK).hex()),
        )
    return row is None


def open_database(path: str | Path, *, create: bool = False) -> Database:
    path = Path(path)
    if not create and not path.exists():
        raise StorageError(f"database {path} not found; run `lowband init` first")
    try:
        db = connect(path)
        migrations.apply(db)
    except sqlite3.DatabaseError as error:
        raise StorageError(f"database {path} cannot be opened: {error}") from None
    return db


def open_store(
    path: str | Path,
    keys: KeyRing,
    *,
    create: bool = False,
    clock: Clock = utc_now,
    pin_work: int = 14,
) -> Store:
    """Open (and if needed upgrade) the database and check that the keys fit it."""
    db = open_database(path, create=create)
    try:
        new = check_keys(db, keys)
    except BaseException:
        db.close()
        raise
    store = Store(db, keys, clock=clock, pin_work=pin_work)
    if new:
        # The log's first entry: from now on an empty log means a wiped log.
        store.audit.record("system", "database.created")
    return store
