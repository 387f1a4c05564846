"""`lowband patients import`: enrol from a CSV file, all or nothing, safe to run twice."""

from __future__ import annotations

import contextlib
import csv
from dataclasses import dataclass, field
from pathlib import Path

import click

from flows.enrolment import EnrolmentError, NewPatient, new_patient
from lowband.cli.base import settings, store, this_year
from lowband.cli.enrolling import chw_id_for, lookalikes, looks_like, phone_full
from lowband.settings import Settings
from storage import Store


@dataclass
class Row:
    line: int  # the file's own line number, blank lines included
    details: NewPatient
    chw_id: int | None


@dataclass
class Outcome:
    enrolled: int = 0
    already: list[str] = field(default_factory=list)  # one note a skipped row
    repeated: list[str] = field(default_factory=list)


class _DryRun(Exception):
    """Raised inside the import's transaction to roll it back after a full rehearsal."""


COLUMNS = ("name", "phone", "birth_year", "sex", "language", "tz", "chw")


@click.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and say what would happen; change nothing.")
def patients_import(csv_file: Path, dry_run: bool) -> None:
    """Enrol patients from a CSV file with a header row.

    Columns: name, phone, birth_year, sex, language, tz, chw (only name is required).
    Nothing is imported unless every row is valid; errors name the line. Safe to run
    twice: a row that looks like a patient already enrolled (same name and phone, or
    same name and birth year) is skipped, and so is a row repeating an earlier one.
    """
    s, st = settings(), store()
    try:
        rows = _read(csv_file, s, st)
    except UnicodeDecodeError:
        raise click.ClickException(f"{csv_file} is not UTF-8 text; save it as \"CSV UTF-8\" and try again") from None
    except csv.Error as error:
        raise click.ClickException(f"{csv_file} is not a readable CSV file ({error}); nothing imported") from None
    outcome = _enrol_all(st, csv_file, rows, dry_run)
    for note in outcome.already + outcome.repeated:
        click.echo(note)
    skipped = [f"skipped {len(outcome.already)} already enrolled"]
    if outcome.repeated:
        skipped.append(f"{len(outcome.repeated)} repeated in the file")
    enrolled = f"{outcome.enrolled} patient{'' if outcome.enrolled == 1 else 's'}"
    if dry_run:
        click.echo(f"Dry run: would import {enrolled}, {', '.join(skipped)}. Nothing was changed.")
    else:
        click.echo(f"Imported {enrolled}, {', '.join(skipped)}.")


def _enrol_all(st: Store, csv_file: Path, rows: list[Row], dry_run: bool) -> Outcome:
    """Enrol row by row in one transaction, so each row is checked against the patients
    enrolled so far, earlier rows included. A dry run does exactly the same, then rolls
    back: what it says is what a real run would do."""
    outcome = Outcome()
    # A dry run leaves the transaction by raising _DryRun: everything it did rolls back.
    with contextlib.suppress(_DryRun), st.write():
        line_of: dict[int, int] = {}  # patient enrolled by this file -> its line
        for row in rows:
            matches = lookalikes(st, row.details)
            earlier = [line_of[p.id] for p in matches if p.id in line_of]
            if earlier:
                outcome.repeated.append(f"line {row.line}: skipped, the same person as line {earlier[0]}")
                continue
            if matches:
                outcome.already.append(f"line {row.line}: skipped, {looks_like(matches, row.details)}")
                continue
            problem = phone_full(st, row.details.phone)
            if problem:
                raise click.ClickException(f"{csv_file} line {row.line}: {problem}; nothing imported")
            patient = st.patients.add(**vars(row.details), chw_id=row.chw_id)
            st.audit.record("cli", "patient.enrol", f"patient:{patient.short_id}", "by=import")
            line_of[patient.id] = row.line
        outcome.enrolled = len(line_of)
        if dry_run:
            raise _DryRun
    return outcome


def _read(csv_file: Path, s: Settings, st: Store) -> list[Row]:
    with csv_file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "name" not in [f.strip().lower() for f in reader.fieldnames]:
            raise click.ClickException(f"{csv_file} needs a header row with at least a 'name' column")
        unknown = [f for f in reader.fieldnames if f.strip().lower() not in COLUMNS]
        if unknown:
            # A column we would ignore ("Phone Number") is a phone we would lose.
            raise click.ClickException(
                f"{csv_file}: unknown column {unknown[0]!r}; the columns are {', '.join(COLUMNS)}; nothing imported"
            )
        rows = []
        for raw in reader:
            line = reader.line_num
            if None in raw:  # DictReader files values beyond the header under the key None
                raise click.ClickException(
                    f"{csv_file} line {line}: more values than the header has columns; nothing imported"
                )
            cells = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            try:
                details = new_patient(
                    name=cells.get("name", ""), phone=cells.get("phone") or None, region=s.region,
                    this_year=this_year(), birth_year=cells.get("birth_year") or None,
                    sex=cells.get("sex") or None, language=cells.get("language") or "en",
                    time_zone=cells.get("tz") or None, fallback_time_zone=s.time_zone,
                )
                chw_id = chw_id_for(st, cells.get("chw") or None)
            except (EnrolmentError, click.ClickException) as error:
                message = error.message if isinstance(error, click.ClickException) else str(error)
                raise click.ClickException(f"{csv_file} line {line}: {message}; nothing imported") from None
            rows.append(Row(line, details, chw_id))
    return rows
