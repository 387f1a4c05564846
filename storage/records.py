"""Helpers shared by repositories: sealing a row's personal columns and opening them,
and keeping one damaged row from breaking a list for everyone else."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from storage import schema
from storage.crypto import SUPPORTED_VERSIONS, FieldCipher, FieldIntegrityError
from storage.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class DamagedRecord(FieldIntegrityError):
    """One sealed value of one row cannot be opened: altered, or not valid JSON. The
    message names the table, column and row id, never the content."""

    def __init__(self, table: str, row_id: object, column: str, problem: str):
        super().__init__(f"integrity check failed for {table}.{column} of row {row_id}: {problem}")
        self.table, self.row_id, self.column, self.problem = table, row_id, column, problem


def unknown_key(store: Store, blob: object) -> int | None:
    """The key id a sealed value names when the key file does not hold it: a problem
    with the key file (every row sealed under that key fails), not with one row."""
    if not isinstance(blob, bytes | bytearray | memoryview) or len(blob) < 3 or blob[0] not in SUPPORTED_VERSIONS:
        return None
    key_id = FieldCipher.key_id_of(bytes(blob))
    return None if key_id in store.keys.field_keys else key_id


def open_value(store: Store, table: str, column: str, row_id: object, blob: bytes | None) -> Any:
    """Open one sealed value; DamagedRecord when this row's value is damaged. A value
    under a key the key file lacks raises plain FieldIntegrityError: skipping it would
    quietly hide every row, where the admin needs to hear about the key file."""
    try:
        return store.open(table, column, row_id, blob)
    except (FieldIntegrityError, ValueError) as error:
        raise _classify(store, table, column, row_id, blob, error) from None


def _classify(store: Store, table: str, column: str, row_id: object, blob: object, error: Exception) -> Exception:
    """DamagedRecord for a failure of this one value; the key file's failure unchanged."""
    if isinstance(error, DamagedRecord):
        return error
    if isinstance(error, FieldIntegrityError):
        if unknown_key(store, blob) is not None:
            return error
        # crypto's message ends with the reason, after the place it names.
        return DamagedRecord(table, row_id, column, str(error).rpartition(": ")[2])
    return DamagedRecord(table, row_id, column, "not valid JSON")  # JSONDecodeError, UnicodeDecodeError


def skip_damaged(rows: Iterable[T], build: Callable[[T], R]) -> Iterator[R]:
    """build(row) for each row, leaving out (and logging, by table and id only) the
    rows whose sealed values are damaged."""
    for row in rows:
        try:
            yield build(row)
        except DamagedRecord as damage:
            log.warning("skipped damaged record: %s row %s (%s %s)", damage.table, damage.row_id, damage.column,
                        damage.problem)


def insert_sealed(store: Store, table: str, row: Mapping[str, Any]) -> None:
    """Insert `row`, sealing the columns storage/schema.py calls sealed under the row's id."""
    row_id = row["id"]
    sealed = schema.sealed(table)
    values = {k: store.seal(table, k, row_id, v) if k in sealed else v for k, v in row.items()}
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    store.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))  # noqa: S608


def update_sealed(store: Store, table: str, row_id: int, changes: Mapping[str, Any]) -> None:
    sealed = schema.sealed(table)
    values = {k: store.seal(table, k, row_id, v) if k in sealed else v for k, v in changes.items()}
    assignments = ", ".join(f"{k} = ?" for k in values)
    store.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", [*values.values(), row_id])  # noqa: S608


def open_row(store: Store, table: str, row: sqlite3.Row | tuple, columns: list[str]) -> dict:
    """Map a fetched row to a dict, opening the sealed columns (raises DamagedRecord, a
    FieldIntegrityError)."""
    data = dict(zip(columns, row, strict=True))
    row_id = data["id"]
    for column in schema.sealed(table):
        if column in data:
            data[column] = open_value(store, table, column, row_id, data[column])
    return data


# -- listing around damage, and finding it ------------------------------------------------


class Damaged:
    """What a lenient store gives for a value that cannot be opened (see `lenient`)."""

    __slots__ = ("column", "problem", "row_id", "table")

    def __init__(self, table: str, row_id: object, column: str, problem: str):
        self.table, self.row_id, self.column, self.problem = table, row_id, column, problem

    def __repr__(self) -> str:
        return f"<damaged {self.table}.{self.column} of row {self.row_id}>"

    __str__ = __repr__


class LenientStore(Store):
    """A view of a store (same connection and keys) for read-only listing through any
    repository: a damaged value comes back as a `Damaged` marker instead of raising, so
    the caller can leave that one row out with `intact`. A value under a key the key
    file lacks still raises."""

    def open(self, table: str, column: str, row_id: object, blob: bytes | None) -> object:
        try:
            return super().open(table, column, row_id, blob)
        except (FieldIntegrityError, ValueError) as error:
            damage = _classify(self, table, column, row_id, blob, error)
            if not isinstance(damage, DamagedRecord):
                raise damage from None
            return Damaged(table, row_id, column, damage.problem)


def lenient(store: Store) -> LenientStore:
    return LenientStore(store.db, store.keys, clock=store.clock, pin_work=store.pin_work)


def damage_in(item: object) -> Damaged | None:
    """The first Damaged marker among an object's fields (or a dict's values), if any."""
    values = item.values() if isinstance(item, dict) else getattr(item, "__dict__", {}).values()
    return next((v for v in values if isinstance(v, Damaged)), None)


def intact(items: Iterable[T]) -> tuple[list[T], list[Damaged]]:
    """Split what a lenient store listed into the sound items and the damage left out
    (each logged by table, column and id, never its content)."""
    sound: list[T] = []
    left_out: list[Damaged] = []
    for item in items:
        damage = damage_in(item)
        if damage is None:
            sound.append(item)
        else:
            left_out.append(damage)
            log.warning("skipped damaged record: %s row %s (%s %s)", damage.table, damage.row_id, damage.column,
                        damage.problem)
    return sound, left_out


class DamageReport:
    """What `find_damaged` saw: how many sealed values it opened, and which failed."""

    def __init__(self) -> None:
        self.checked = 0
        self.damaged: list[Damaged] = []


def find_damaged(store: Store) -> DamageReport:
    """Open every sealed value of every table (migrations.ENCRYPTED) and report each
    that fails, by table, row id and column. Rows keyed by a blind index give its hex."""
    from storage.migrations import ENCRYPTED

    report = DamageReport()
    for table, (key, columns) in ENCRYPTED.items():
        cursor = store.execute(f"SELECT {key}, {', '.join(columns)} FROM {table} ORDER BY {key}")  # noqa: S608
        for row_key, *blobs in cursor:
            for column, blob in zip(columns, blobs, strict=True):
                if blob is None:
                    continue
                report.checked += 1
                problem = _problem(store, table, column, row_key, blob)
                if problem:
                    shown = row_key.hex() if isinstance(row_key, bytes) else row_key
                    report.damaged.append(Damaged(table, shown, column, problem))
    return report


def _problem(store: Store, table: str, column: str, row_key: object, blob: object) -> str | None:
    try:
        store.cipher.open(table, column, row_key, blob)
    except (FieldIntegrityError, ValueError) as error:
        damage = _classify(store, table, column, row_key, blob, error)
        if isinstance(damage, DamagedRecord):
            return damage.problem
        return f"sealed under key {unknown_key(store, blob)}, which the key file does not hold"
    return None
