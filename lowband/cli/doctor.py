"""`lowband doctor`: find the records that can no longer be opened."""

from __future__ import annotations

import click

from lowband.cli.base import emit, json_option, store
from storage.records import find_damaged


@click.command(short_help="Find damaged records.")
@json_option
def doctor(as_json: bool) -> None:
    """Open every encrypted value of every table and list each that fails.

    A damaged record is left out of lists and conversations; restore it from a backup
    or enter it again. Exits 1 when any is found (with --json, one a line).
    """
    report = find_damaged(store())
    rows = [{"table": d.table, "id": d.row_id, "column": d.column, "problem": d.problem} for d in report.damaged]
    if not rows:
        if not as_json:
            click.echo(f"No damaged records ({report.checked} encrypted values checked).")
        return
    emit(rows, as_json, [("table", "TABLE"), ("id", "ID"), ("column", "COLUMN"), ("problem", "PROBLEM")], "")
    count = len(rows)
    click.echo(f"{count} damaged value{'s' if count > 1 else ''}: restore from a backup or enter again.", err=True)
    raise SystemExit(1)
