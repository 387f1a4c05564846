"""Store: one connection, the cipher, the repositories, and explicit transactions."""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from sqlite_utils import Database

from storage import migrations, writer_lock
from storage.connection import connect
from storage.crypto import FieldCipher, FieldIntegrityError, KeyRing
from storage.errors import OutsideTransaction, StorageError, WrongKeyError
from storage.schema import SEALED_COLUMNS

Clock = Callable[[], datetime]

_savepoints = itertools.count(1)
_ID_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z

# -- row ids ------------------------------------------------------------------------
# An id is (milliseconds since 2024 << 12) | (slot << 6) | counter: 41 bits of time
# (until 2093) and 12 below, 53 in all, exact in JSON. The slot (0-63) is leased per
# process and database: an fcntl lock on one byte of `<database>-idslots`, which the
# operating system drops when the process ends (or is killed), and which a forked child
# does not inherit, so every live process writing to a database has its own slot. The
# counter counts the ids a process made in one millisecond; at 64 the process moves
# on to the next millisecond rather than wrap, so it never repeats itself either.
ID_SLOT_BITS = 6
ID_SLOTS = 1 << ID_SLOT_BITS
_ID_COUNTER_BITS = 12 - ID_SLOT_BITS
_ID_COUNTER_MAX = (1 << _ID_COUNTER_BITS) - 1


class _IdSource:
    """This process's id state: the slot it holds in each database, and its counter."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_ms = 0
        self.counter = 0
        self.slots: dict[str, tuple[int, int | None]] = {}  # database file -> (slot, lock fd)


_ids = _IdSource()


def _forget_ids_in_child() -> None:
    """A forked child holds none of its parent's slot locks: it leases its own."""
    global _ids
    for _, fd in _ids.slots.values():
        if fd is not None:
            with suppress(OSError):
                os.close(fd)  # the child's copy; the parent's lock is untouched
    _ids = _IdSource()


os.register_at_fork(after_in_child=_forget_ids_in_child)


def database_file(conn: sqlite3.Connection) -> str:
    """The main database's file, or "" for an in-memory or temporary one."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return os.path.realpath(file) if file else ""
    return ""


def lease_id_slot(db_file: str) -> tuple[int, int | None]:
    """The lowest slot no live process holds for this database, and the fd holding it."""
    if not db_file:
        return 0, None  # nobody else can open a private database
    try:
        import fcntl
    except ImportError:
        # Windows: one process serves (waitress threads), so one slot is all there is.
        return 0, None

    fd = os.open(db_file + "-idslots", os.O_RDWR | os.O_CREAT, 0o600)
    for slot in range(ID_SLOTS):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
        except OSError:
            continue
        return slot, fd
    os.close(fd)
    raise StorageError(f"more than {ID_SLOTS} processes are writing to {db_file}; stop some of them")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000 - _ID_EPOCH_MS


def next_id(db_file: str) -> int:
    """A new row id for the database in `db_file`, unique among every process's ids."""
    ids = _ids
    with ids.lock:
        held = ids.slots.get(db_file)
        if held is None:
            held = ids.slots[db_file] = lease_id_slot(db_file)
        millis = _now_ms()
        if millis > ids.last_ms:
            ids.counter = 0
        elif ids.counter < _ID_COUNTER_MAX:
            millis = ids.last_ms  # the same millisecond (or the clock stepped back)
            ids.counter += 1
        else:
            millis, ids.counter = ids.last_ms + 1, 0  # run ahead of the clock, never wrap
        ids.last_ms = millis
        return (millis << 12) | (held[0] << _ID_COUNTER_BITS) | ids.counter


def utc_now() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock that shows `now` until it is moved: for a store or create_app's CLOCK in a
    scripted conversation (the tests, the SMS cost bench)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def iso(moment: datetime) -> str:
    """Timestamps are stored as UTC ISO-8601 text, which sorts as time does."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Store:
    """What a request, a CLI command or a job needs to read and write records.

    Cheap to create: it wraps an open connection and the shared, already-loaded keys.
    """

    def __init__(self, db: Database, keys: KeyRing, *, clock: Clock = utc_now, pin_work: int = 14,
                 keys_source: Callable[[], KeyRing] | None = None):
        """`keys_source`: where a long-lived server gets the key ring as it is now; asked
        again once the write lock is held (see write)."""
        self.db = db
        self.cipher = FieldCipher(keys)
        self.keys = keys
        self.clock = clock
        self.pin_work = pin_work
        self._keys_source = keys_source

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
                if conn.in_transaction:  # SQLite may already have rolled it all back
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")
            return
        # Writers queue in the kernel (threads and processes alike), not in SQLite's
        # busy handler, which polls with sleeps: under load that polling, not the
        # work, made the latency. See storage/writer_lock.py.
        with writer_lock.held(self.database_path):
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._refresh_keys()
                yield self
                # Inside the try: a COMMIT that fails (a deferred foreign key, a full
                # disk, an I/O error) leaves SQLite in the transaction; it is rolled back
                # here, or every later write would nest in it as a savepoint and be lost.
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @property
    def database_path(self) -> str:
        """The database's file ("" in memory), asked of SQLite once per connection: a
        Store is made for each request, its connection lives as long as its thread."""
        found = getattr(self.db, "_lowband_file", None)
        if found is None:
            found = self.db._lowband_file = database_file(self.db.conn)
        return found

    def _refresh_keys(self) -> None:
        """A request that waited for the lock while `keys rotate` switched keys would
        otherwise meet rows sealed under a key it has not loaded: its text would get an
        apology instead of an answer (an urgent reading too). The lock is held now, so
        what it reads from here on was written under the ring it gets here."""
        if self._keys_source is None:
            return
        ring = self._keys_source()
        if ring is not self.keys:
            self.keys, self.cipher = ring, FieldCipher(ring)

    def writing(self) -> Store:
        """Called by a repository before it writes. The transaction belongs to whoever
        asked for the work (the conversation service, a CLI command, a job), which opens
        it once: two repository calls that must land together then cannot land apart,
        and nothing commits half of a command behind its caller's back."""
        if not self.db.conn.in_transaction:
            raise OutsideTransaction("a repository write needs the caller's store.write()")
        return self

    def execute(self, sql: str, params: tuple | list | dict = ()) -> sqlite3.Cursor:
        return self.db.conn.execute(sql, params)

    def one(self, sql: str, params: tuple | list | dict = ()) -> sqlite3.Row | tuple | None:
        return self.db.conn.execute(sql, params).fetchone()

    # -- values -------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def now_iso(self) -> str:
        return iso(self.clock())

    def new_id(self) -> int:
        """Row ids are chosen before insert because each sealed value is bound to its
        row id. They rise with time (milliseconds since 2024, then this process's slot
        and counter; see `next_id`), so inserts append to the end of each B-tree instead
        of splitting pages all over it, and no two processes on one database make the
        same id without asking the database for each; 53 bits stay exact in JSON."""
        return next_id(self.database_path)

    def seal(self, table: str, column: str, row_id: object, value: object) -> bytes | None:
        if (table, column) not in SEALED_COLUMNS:
            # storage/schema.py must say so first, or rotation and the privacy scan miss it.
            raise ValueError(f"{table}.{column} is not a sealed column in storage/schema.py")
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
    def console_logins(self):
        from storage.console_logins import ConsoleLoginRepository

        return ConsoleLoginRepository(self)

    @cached_property
    def leases(self):
        from storage.leases import LeaseRepository

        return LeaseRepository(self)

    @cached_property
    def reminders(self):
        from storage.reminders import ReminderRepository

        return ReminderRepository(self)

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
    def text_sealer(self):
        """The sealer of short TEXT columns (audit, a message's purpose, a reading's sender)."""
        from storage.text_seal import TextSealer

        return TextSealer(self.keys.audit_key)

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


def _is_lowband_database(path: Path) -> bool:
    """Read-only, before anything (even WAL mode) is written to the file."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlite_migrations'"
        ).fetchone() is not None
    finally:
        conn.close()


def _is_empty_file(path: Path) -> bool:
    """A 0-byte database (a failed copy, a full disk, `touch`) with no write-ahead log
    holding its pages: not a database, and never to be mistaken for a new one."""
    try:
        if path.stat().st_size:
            return False
        wal = path.with_name(path.name + "-wal")
        return not (wal.exists() and wal.stat().st_size)
    except FileNotFoundError:
        return False


def open_database(path: str | Path, *, create: bool = False) -> Database:
    path = Path(path)
    if not create and not path.exists():
        raise StorageError(f"database {path} not found; run `lowband init` first")
    if not create and _is_empty_file(path):
        raise StorageError(
            f"database {path} is an empty (0-byte) file, not a Lowband database; "
            "restore a backup with `lowband restore`, or move it away and run `lowband init`"
        )
    from storage.keyfile import make_private_dir, make_private_files

    made = False
    try:
        make_private_dir(path.parent)
        if create and not path.exists():
            made = True
            # Made here, 0600, before SQLite makes it 0644; SQLite gives its -wal and
            # -shm files the database's own mode, so they are 0600 too.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.chmod(path, 0o600)
        # SQLite opens a file it cannot write read-only, then fails on the first write
        # naming no file: say which file (or folder) and why, before it starts.
        for file in _files_of(path):
            if file.exists() and not os.access(file, os.W_OK):
                raise StorageError(f"{file} is read-only: Lowband must write to it; give its owner write permission")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise StorageError(
                f"data directory {path.parent} is read-only: SQLite must create {path.name}-wal and "
                f"{path.name}-shm in it beside the database; give its owner write permission"
            )
        if not made and not _is_lowband_database(path):
            # Another program's SQLite file (or one with no tables at all): migrating it
            # would add our tables to someone else's data and stamp our key into it.
            raise StorageError(
                f"database {path} is not a Lowband database (it has no Lowband tables); "
                "check LOWBAND_DB, or restore a backup with `lowband restore`"
            )
        db = connect(path)
        migrations.apply(db)
        make_private_files(_files_of(path))
    except (sqlite3.DatabaseError, OSError, StorageError) as error:
        if made and _is_empty_file(path):
            _discard(path)  # never leave behind a 0-byte file that looks like a database
        if isinstance(error, StorageError):
            raise
        if isinstance(error, OSError):  # a file where a folder should be, a full disk, no permission
            where = error.filename or path
            raise StorageError(f"database {path} cannot be opened: {where}: {error.strerror or error}") from None
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
        with store.write():
            store.audit.record("system", "database.created")
    return store


# -- backup and restore --------------------------------------------------------------------

BACKUP_KEYS = "backup_key_ids"  # meta key in a backup: the field keys its values need
BACKUP_MADE_AT = "backup_made_at"


def sealed_key_ids(conn: sqlite3.Connection) -> set[int]:
    """The key id of every sealed value in a database (and of its key checks)."""
    from storage.migrations import ENCRYPTED

    found: set[int] = set()
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, (_, columns) in ENCRYPTED.items():
        if table not in tables:
            continue
        for column in columns:
            rows = conn.execute(
                f"SELECT DISTINCT substr({column}, 2, 2) FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608
            )
            found.update(int.from_bytes(row[0], "big") for row in rows if isinstance(row[0], bytes))
    return found


def backup_database(store: Store, target: str | Path) -> set[int]:
    """Copy the database to `target` (a consistent snapshot, even while others write)
    and return the field key ids the copy needs; the copy's meta table says so too.

    The copy is written beside the target under a temporary name and renamed into place
    only once it passed its integrity check, so a failure never leaves a partial or
    empty file at `target`. Errors are StorageError, one line naming the file."""
    target = Path(target)
    if target.exists():
        raise StorageError(f"{target} already exists; choose a new file name")
    partial = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists():
            partial.unlink()
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            # SQLite's online backup copies a consistent snapshot while others keep writing.
            store.db.conn.backup(copy, pages=256)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            if copy.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise StorageError(f"the backup to {target} failed its integrity check; try again")
            needed = sealed_key_ids(copy) | {store.keys.current}
            for key, value in ((BACKUP_KEYS, ",".join(map(str, sorted(needed)))), (BACKUP_MADE_AT, store.now_iso())):
                copy.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
        finally:
            copy.close()
        os.replace(partial, target)
    except StorageError:
        partial.unlink(missing_ok=True)
        raise
    except (OSError, sqlite3.Error) as error:
        _remove_quietly(partial)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise StorageError(f"cannot back up to {target}: {reason}") from None
    return needed


def _remove_quietly(path: Path) -> None:
    with suppress(OSError):
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class RestoreResult:
    replaced: Path | None  # where the database it replaced was kept
    values: int  # sealed values checked
    audit_entries: int
    stale_keys: list[int]  # retired keys the restored values are still sealed under


def _files_of(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def restore_database(backup: str | Path, db_path: str | Path, keys: KeyRing, *, pin_work: int = 14,
                     clock: Clock = utc_now) -> RestoreResult:
    """Put a backup in place of the database, after proving it whole: it opens with
    these keys, every sealed value opens, and the audit chain verifies. The database it
    replaces is kept beside it (renamed, never deleted). Nothing is changed unless every
    check passed. The server must be stopped first."""
    from storage.migrations import ENCRYPTED

    backup, db_path = Path(backup), Path(db_path)
    if not backup.is_file():
        raise StorageError(f"backup {backup} not found")
    if backup.stat().st_size == 0:
        raise StorageError(f"backup {backup} is an empty (0-byte) file, not a Lowband backup")
    folder = db_path.parent
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        # The check is made on a copy beside the database: say it is the folder at fault,
        # not let SQLite blame the backup for a file it could not create.
        raise StorageError(f"data directory {folder} is read-only: the restore is checked on a copy made there; "
                           "give its owner write permission")
    staging = db_path.with_name(db_path.name + ".restoring")
    for leftover in _files_of(staging):
        leftover.unlink(missing_ok=True)
    try:
        source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            copy = sqlite3.connect(staging)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
        try:
            restored = open_store(staging, keys, pin_work=pin_work, clock=clock)
        except WrongKeyError as error:
            raise WrongKeyError(f"backup {backup} does not open with this key file: {error}") from None
        try:
            needed = restored.meta_get(BACKUP_KEYS)
            if needed:
                missing = sorted({int(k) for k in needed.split(",")} - set(keys.field_keys))
                if missing:
                    raise WrongKeyError(
                        f"backup {backup} needs field key(s) {', '.join(map(str, missing))}, "
                        "which the key file no longer holds"
                    )
            values = 0
            for table, (pk, columns) in ENCRYPTED.items():
                for row in restored.execute(f"SELECT {pk}, {', '.join(columns)} FROM {table}"):  # noqa: S608
                    for column, blob in zip(columns, row[1:], strict=True):
                        if blob is not None:
                            try:
                                restored.open(table, column, row[0], blob)
                            except (FieldIntegrityError, ValueError) as error:
                                raise StorageError(f"backup {backup} is damaged: {error}") from None
                            values += 1
            report = restored.audit.verify()
            if not report.ok:
                raise StorageError(f"backup {backup} fails its audit check: {report.problems[0]}")
            stale = sorted(sealed_key_ids(restored.db.conn) - {keys.current})
            with restored.write():
                restored.execute("DELETE FROM meta WHERE key IN (?, ?)", (BACKUP_KEYS, BACKUP_MADE_AT))
                restored.audit.record("cli", "backup.restore", "database",
                                      f"entries={report.entries} values={values}")
        finally:
            restored.db.close()
    except sqlite3.DatabaseError as error:
        _discard(staging)
        raise StorageError(f"backup {backup} cannot be opened: {error}") from None
    except BaseException:
        _discard(staging)
        raise
    replaced = None
    if db_path.exists():
        stamp = clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        replaced = db_path.with_name(f"{db_path.name}.replaced-{stamp}")
        for old, new in zip(_files_of(db_path), _files_of(replaced), strict=True):
            if old.exists():
                os.replace(old, new)
    else:
        for stray in _files_of(db_path)[1:]:
            stray.unlink(missing_ok=True)
    os.replace(staging, db_path)
    _discard(staging)
    return RestoreResult(replaced=replaced, values=values, audit_entries=report.entries + 1, stale_keys=stale)


def _discard(db: Path) -> None:
    """A staging copy's files, and the writers' lock file its one write made."""
    for path in [*_files_of(db), writer_lock.lock_path(db)]:
        _remove_quietly(path)
