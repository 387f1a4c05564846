"""Enrolling patients from a CSV file: the good rows once, the bad ones set aside.

- Each row is checked on its own: a bad row (no name, a phone that cannot exist, a year
  of birth in the future, a language we do not speak, a CHW nobody knows, a phone that
  already holds as many patients as its picker shows) is reported with its line and
  reason, and kept for a file of rejected rows; the other rows are enrolled.
- Exactly once: a row that looks like a patient already enrolled (same name and phone,
  or same name and birth year; see PatientRepository.likely_duplicates) is skipped, and
  so is a row repeating an earlier row of the file. A run that was interrupted is simply
  run again.
- Work done once: the active patients' names and birth years are opened once into an
  in-memory index (not once per row: 10,000 rows against 10,000 patients would be 10^8
  decryptions), and only patients enrolled since are opened before each batch.
- Short write transactions: BATCH rows a transaction, so the server's requests are not
  kept waiting for the write lock while a long file goes in; each batch re-reads who
  was enrolled or closed meanwhile, by anyone, before it decides anything.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from flows.enrolment import EnrolmentError, NewPatient, clean_phone, looks_like_text, new_patient
from flows.patient_flows import MAX_PROFILES
from flows.phones import mask
from interop.spreadsheet import read_cell, safe_cell
from storage.patients import name_key
from storage.records import DamagedRecord, open_value
from storage.store import Store

COLUMNS = ("name", "phone", "birth_year", "sex", "language", "tz", "chw")
PROBLEM = "problem"  # the column the rejected-rows file adds; ignored when read back
BATCH = 500


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, header): nothing is imported."""


@dataclass
class Row:
    line: int  # the file's own line number (where the row ends), blank lines included
    cells: list[str]  # as read, in the header's order, for the rejected-rows file
    details: NewPatient | None = None
    chw_id: int | None = None
    problem: str | None = None


@dataclass
class Report:
    enrolled: list[tuple[int, str]] = field(default_factory=list)  # (line, short ID; "" in a dry run)
    already: list[str] = field(default_factory=list)  # one note a row skipped as enrolled before
    repeated: list[str] = field(default_factory=list)  # one note a row repeating an earlier one
    rejected: list[Row] = field(default_factory=list)


@dataclass
class Sheet:
    header: list[str]  # the file's own column names, less a "problem" column
    rows: list[Row]


# -- reading -------------------------------------------------------------------------------


def read_sheet(path: Path, *, region: str | None, this_year: int, fallback_time_zone: str,
               chw_for: Callable[[str], int | None]) -> Sheet:
    """Every row of the file, each checked: `details` when it is good, `problem` when not.
    `chw_for(phone)` is the CHW's staff id (raising EnrolmentError when there is none).
    ImportFileError when the file itself cannot be read."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return _read(handle, region, this_year, fallback_time_zone, chw_for)
    except UnicodeDecodeError:
        raise ImportFileError(f"{path} is not UTF-8 text; save it as \"CSV UTF-8\" and try again") from None
    except csv.Error as error:
        raise ImportFileError(f"{path} is not a readable CSV file ({error})") from None
    except ImportFileError as error:
        raise ImportFileError(f"{path}: {error}") from None


def _read(handle, region, this_year, fallback_time_zone, chw_for) -> Sheet:
    reader = csv.reader(handle)
    header = next(reader, None)
    names = [h.strip().lower() for h in header or []]
    if "name" not in names:
        raise ImportFileError("needs a header row with at least a 'name' column")
    unknown = [h for h, n in zip(header, names, strict=True) if n not in (*COLUMNS, PROBLEM)]
    if unknown:
        # A column we would ignore ("Phone Number") is a phone we would lose.
        raise ImportFileError(f"unknown column {unknown[0]!r}; the columns are {', '.join(COLUMNS)}")
    if len(set(names)) != len(names):
        raise ImportFileError("a column is named twice in the header")
    keep = [i for i, n in enumerate(names) if n != PROBLEM]
    chws: dict[str, int | None | EnrolmentError] = {}
    rows = []
    for raw in reader:
        raw = [read_cell(cell) for cell in raw]
        if not any(cell.strip() for cell in raw):
            continue  # a blank line, or one of commas only (it still counts in the line numbers)
        row = Row(reader.line_num, [raw[i] if i < len(raw) else "" for i in keep])
        if len(raw) > len(names):
            extra = ", ".join(raw[len(names):])
            row.problem = "more values than the header has columns"
            row.cells[-1] = f"{row.cells[-1]},{extra}" if row.cells[-1] else extra  # kept for the admin to fix
            rows.append(row)
            continue
        cells = {n: (raw[i] if i < len(raw) else "").strip() for i, n in enumerate(names)}
        try:
            row.details = new_patient(
                name=cells.get("name", ""), phone=cells.get("phone") or None, region=region,
                this_year=this_year, birth_year=cells.get("birth_year") or None,
                sex=cells.get("sex") or None, language=cells.get("language") or "en",
                time_zone=cells.get("tz") or None, fallback_time_zone=fallback_time_zone,
            )
            chw = cells.get("chw") or ""
            if chw not in chws:
                try:
                    chws[chw] = chw_for(chw) if chw else None
                except EnrolmentError as error:
                    chws[chw] = error
            found = chws[chw]
            if isinstance(found, EnrolmentError):
                raise found
            row.chw_id = found
        except EnrolmentError as error:
            row.details, row.problem = None, str(error)
        rows.append(row)
    return Sheet([header[i] for i in keep], rows)


def chw_finder(store: Store, region: str | None) -> Callable[[str], int | None]:
    """chw_for for read_sheet: the active CHW on a phone number, by its blind index."""
    def chw_for(phone: str) -> int | None:
        chw = store.staff.by_phone(clean_phone(phone, region))
        if chw is None or chw.role != "chw":
            raise EnrolmentError("chw", "no CHW with that phone number; add one with `lowband users add --role chw`")
        return chw.id

    return chw_for


# -- who is enrolled already -----------------------------------------------------------------


@dataclass(frozen=True)
class _Known:
    created_at: str
    short_id: str
    phone_index: bytes | None
    birth_year: int | None
    name_key: str


class PatientIndex:
    """The active patients as duplicates are looked for, each opened once.

    Finds exactly whom PatientRepository.likely_duplicates (across every patient, as the
    CLI looks) would find, without opening the table for each row."""

    def __init__(self) -> None:
        self.known: dict[int, _Known] = {}
        self.staff_phones: set[bytes] = set()
        self._rebuild()

    def refresh(self, store: Store) -> None:
        """Catch up with the database: open the patients enrolled since the last look,
        forget those closed or merged meanwhile (by anyone), reread the staff phones."""
        rows = store.execute("SELECT id, created_at, short_id, phone_index FROM patients WHERE active = 1").fetchall()
        active = {row[0] for row in rows}
        for gone in [pid for pid in self.known if pid > 0 and pid not in active]:
            del self.known[gone]
        new = [row for row in rows if row[0] not in self.known]
        for chunk in (new[i:i + 500] for i in range(0, len(new), 500)):
            marks = ", ".join("?" for _ in chunk)
            sealed = {r[0]: (r[1], r[2]) for r in store.execute(
                f"SELECT id, name, birth_year FROM patients WHERE id IN ({marks})",  # noqa: S608
                [r[0] for r in chunk])}
            for row_id, created_at, short_id, phone_index in chunk:
                name_blob, year_blob = sealed[row_id]
                try:
                    name = open_value(store, "patients", "name", row_id, name_blob)
                    year = open_value(store, "patients", "birth_year", row_id, year_blob)
                except DamagedRecord:
                    continue  # as likely_duplicates does: a damaged record is left out
                if isinstance(name, str):
                    self.known[row_id] = _Known(created_at, short_id, phone_index, year, name_key(name))
        self.staff_phones = {r[0] for r in store.execute(
            "SELECT phone_index FROM staff WHERE active = 1 AND phone_index IS NOT NULL")}
        self._rebuild()

    def _rebuild(self) -> None:
        self._by_phone: dict[tuple[bytes, str], list[int]] = defaultdict(list)
        self._by_year: dict[tuple[str, int], list[int]] = defaultdict(list)
        self._bare: dict[str, list[int]] = defaultdict(list)
        self.on_phone: dict[bytes, int] = defaultdict(int)
        for pid, known in self.known.items():
            self._file(pid, known)

    def _file(self, pid: int, known: _Known) -> None:
        if known.phone_index is not None:
            self._by_phone[(known.phone_index, known.name_key)].append(pid)
            self.on_phone[known.phone_index] += 1
        if known.birth_year is not None:
            self._by_year[(known.name_key, known.birth_year)].append(pid)
        elif known.phone_index is None:
            self._bare[known.name_key].append(pid)

    def add(self, pid: int, created_at: str, short_id: str, details: NewPatient, phone_index: bytes | None) -> None:
        known = _Known(created_at, short_id, phone_index, details.birth_year, name_key(details.name))
        self.known[pid] = known
        self._file(pid, known)

    def matches(self, details: NewPatient, phone_index: bytes | None) -> list[int]:
        """likely_duplicates(name, phone_index, birth_year): same name on the same phone;
        same name and birth year; or, with neither, the same name among those with neither."""
        key = name_key(details.name)
        found: set[int] = set()
        if phone_index is not None:
            found.update(self._by_phone.get((phone_index, key), ()))
        if details.birth_year is not None:
            found.update(self._by_year.get((key, details.birth_year), ()))
        elif phone_index is None:
            found.update(self._bare.get(key, ()))
        return sorted(found, key=lambda pid: (self.known[pid].created_at, pid))

    def looks_like(self, matches: list[int], details: NewPatient, phone_index: bytes | None) -> str:
        """As the CLI says it: looks like patient 4376 (same name and birth year)."""
        first = self.known[matches[0]]
        return looks_like_text(
            [self.known[pid].short_id or "(this file)" for pid in matches],
            same_phone=phone_index is not None and first.phone_index == phone_index,
            same_birth_year=details.birth_year is not None and first.birth_year == details.birth_year)

    def phone_problem(self, phone: str | None, phone_index: bytes | None) -> str | None:
        """Why one more patient cannot go on this phone (as enrolling.phone_full says)."""
        if phone_index is None:
            return None
        if phone_index in self.staff_phones:
            return (f"{mask(phone)} is a staff number (staff texts are read as commands, so the patient's "
                    "readings would never reach their record); use the patient's own phone, or none")
        already = self.on_phone.get(phone_index, 0)
        if already < MAX_PROFILES:
            return None
        return f"{mask(phone)} already has {already} patients, the most one phone can choose between"


# -- enrolling -------------------------------------------------------------------------------


def enrol_rows(store: Store, rows: list[Row], *, dry_run: bool = False, batch: int = BATCH,
               progress: Callable[[int], None] = lambda n: None) -> Report:
    """Enrol the good rows, BATCH to a write transaction; report every row's fate.

    A dry run decides the same way (each row against the patients enrolled so far, the
    file's earlier rows included) and writes nothing."""
    report = Report()
    index = PatientIndex()
    line_of: dict[int, int] = {}  # patient enrolled by this file -> its line
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        with nullcontext() if dry_run else store.write():
            index.refresh(store)
            for row in chunk:
                _enrol_row(store, row, index, line_of, report, dry_run)
        progress(len(chunk))
    return report


def _enrol_row(store: Store, row: Row, index: PatientIndex, line_of: dict[int, int], report: Report,
               dry_run: bool) -> None:
    if row.details is None:
        report.rejected.append(row)
        return
    details = row.details
    phone_index = store.phone_index(details.phone) if details.phone else None
    matches = index.matches(details, phone_index)
    earlier = [line_of[pid] for pid in matches if pid in line_of]
    if earlier:
        report.repeated.append(f"line {row.line}: skipped, the same person as line {earlier[0]}")
        return
    if matches:
        report.already.append(f"line {row.line}: skipped, {index.looks_like(matches, details, phone_index)}")
        return
    problem = index.phone_problem(details.phone, phone_index)
    if problem:
        row.problem = problem
        report.rejected.append(row)
        return
    if dry_run:
        pid, short_id, created_at = -(len(line_of) + 1), "", store.now_iso()  # a stand-in id, never a real one
    else:
        patient = store.patients.add(**vars(details), chw_id=row.chw_id)
        store.audit.record("cli", "patient.enrol", f"patient:{patient.short_id}", "by=import")
        pid, short_id, created_at = patient.id, patient.short_id, patient.created_at
    index.add(pid, created_at, short_id, details, phone_index)
    line_of[pid] = row.line
    report.enrolled.append((row.line, short_id))


def rejected_path(path: Path) -> Path:
    """Where the rejected rows go: patients.csv -> patients.rejected.csv. Importing that
    file again (once fixed) rewrites it with the rows still rejected, if any."""
    if path.stem.endswith(".rejected"):
        return path
    return path.with_name(f"{path.stem}.rejected{path.suffix or '.csv'}")


def write_rejected(target: Path, header: list[str], rows: Iterable[Row]) -> None:
    """The rejected rows, as read, with a last column saying what is wrong: fixed, the
    file imports as it is. Created 0600 under a temporary name, then moved into place
    (it holds names and phones in clear, like the file it came from)."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([safe_cell(h) for h in (*header, PROBLEM)])
            for row in rows:
                writer.writerow([safe_cell(c) for c in (*row.cells, f"line {row.line}: {row.problem}")])
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
