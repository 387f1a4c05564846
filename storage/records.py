"""Helpers shared by repositories: sealing a row's personal columns and opening them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.store import Store


def insert_sealed(store: Store, table: str, row: Mapping[str, Any], sealed: Iterable[str]) -> None:
    """Insert `row`, sealing the named columns under the row's own id."""
    row_id = row["id"]
    sealed = set(sealed)
    values = {k: store.seal(table, k, row_id, v) if k in sealed else v for k, v in row.items()}
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    store.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))  # noqa: S608


def update_sealed(store: Store, table: str, row_id: int, changes: Mapping[str, Any], sealed: Iterable[str]) -> None:
    sealed = set(sealed)
    values = {k: store.seal(table, k, row_id, v) if k in sealed else v for k, v in changes.items()}
    assignments = ", ".join(f"{k} = ?" for k in values)
    store.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", [*values.values(), row_id])  # noqa: S608


def open_row(store: Store, table: str, row: sqlite3.Row | tuple, columns: list[str], sealed: Iterable[str]) -> dict:
    """Map a fetched row to a dict, opening the sealed columns (raises FieldIntegrityError)."""
    data = dict(zip(columns, row, strict=True))
    row_id = data["id"]
    for column in sealed:
        if column in data:
            data[column] = store.open(table, column, row_id, data[column])
    return data
