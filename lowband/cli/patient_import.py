"""`lowband patients import`: enrol from a CSV file; the good rows once, the bad ones set
aside in a file to fix and import again. The work is interop/patient_import.py's."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from interop.patient_import import (
    ImportFileError,
    chw_finder,
    enrol_rows,
    read_sheet,
    rejected_path,
    write_rejected,
)
from lowband.cli.base import settings, store, this_year


@click.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and say what would happen; change nothing.")
def patients_import(csv_file: Path, dry_run: bool) -> None:
    """Enrol patients from a CSV file with a header row.

    Columns: name, phone, birth_year, sex, language, tz, chw (only name is required).
    Each good row is enrolled; each bad row is named with its line and reason, and
    written to FILE.rejected.csv beside the file (the same columns, plus "problem"):
    fix the rows there and import that file. The command then exits with status 1.

    Safe to run twice, or again after an interruption: a row that looks like a patient
    already enrolled (same name and phone, or same name and birth year) is skipped, and
    so is a row repeating an earlier one. Rows go in 500 to a transaction.
    """
    s, st = settings(), store()
    try:
        sheet = read_sheet(csv_file, region=s.region, this_year=this_year(), fallback_time_zone=s.time_zone,
                           chw_for=chw_finder(st, s.region))
    except ImportFileError as error:
        raise click.ClickException(f"{error}; nothing imported") from None
    rows = sheet.rows
    if sys.stderr.isatty() and len(rows) > 500:
        with click.progressbar(length=len(rows), label="Importing", file=sys.stderr) as bar:
            report = enrol_rows(st, rows, dry_run=dry_run, progress=bar.update)
    else:
        report = enrol_rows(st, rows, dry_run=dry_run)

    for note in report.already + report.repeated:
        click.echo(note)
    for row in sorted(report.rejected, key=lambda r: r.line):
        click.echo(f"line {row.line}: rejected, {row.problem}")
    enrolled = f"{len(report.enrolled)} patient{'' if len(report.enrolled) == 1 else 's'}"
    parts = [f"skipped {len(report.already)} already enrolled"]
    if report.repeated:
        parts.append(f"{len(report.repeated)} repeated in the file")
    if report.rejected:
        parts.append(f"rejected {len(report.rejected)}")
    if dry_run:
        click.echo(f"Dry run: would import {enrolled}, {', '.join(parts)}. Nothing was changed.")
    else:
        click.echo(f"Imported {enrolled}, {', '.join(parts)}.")
    if not report.rejected:
        return
    target = rejected_path(csv_file)
    count = len(report.rejected)
    rows_word = "row was" if count == 1 else "rows were"
    if dry_run:
        click.echo(f"{count} {rows_word} rejected; a real import writes them to {target}.", err=True)
    else:
        write_rejected(target, sheet.header, sorted(report.rejected, key=lambda r: r.line))
        click.echo(f"{count} {rows_word} rejected and written to {target} (with a 'problem' column): "
                   "fix them there and import that file.", err=True)
    click.get_current_context().exit(1)

