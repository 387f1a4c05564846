"""Gathering the clinic's records for an export, and writing the file safely.

What is exported: patients, readings, refill requests, the patient's messages in nurse
consultations (the first and each reply), and alerts. `since` keeps only what was
created or changed at or after that moment (a reading: taken; a refill, consult or
alert: created or updated; a patient: enrolled or closed), plus the patients those
records are about, so every reference resolves. A damaged record is left out and
counted, never exported half-open.

The file holds health data in clear: it is created 0600 with os.open (never widened,
never chmod-ed after the data is in it), an existing file is kept unless `force`, and
a forced overwrite goes through a new 0600 file renamed over the old one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interop import fhir
from interop.spreadsheet import safe_cell
from storage.errors import StorageError
from storage.records import DamagedRecord, open_value
from storage.store import Store

FORMATS = ("fhir", "csv", "json")
SUFFIX = {"fhir": ".fhir.json", "csv": ".csv", "json": ".jsonl"}


@dataclass
class Gathered:
    patients: dict[int, dict[str, Any]] = field(default_factory=dict)
    readings: list[dict[str, Any]] = field(default_factory=list)
    refills: list[dict[str, Any]] = field(default_factory=list)
    consults: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    damaged: int = 0  # records left out because a sealed value would not open


def _rows(store: Store, sql: str, params: tuple, build, into: Gathered) -> Iterator[dict[str, Any]]:
    for row in store.execute(sql, params).fetchall():
        try:
            yield build(row)
        except DamagedRecord:
            into.damaged += 1


def gather(store: Store, since: str = "") -> Gathered:
    """Every record created or changed at or after `since` (UTC ISO text, as stored;
    "" for everything), opened, all read from one snapshot of the database (a server
    writing meanwhile cannot leave a refill pointing at a patient the export lacks)."""
    conn = store.db.conn
    if conn.in_transaction:
        return _gather(store, since)
    conn.execute("BEGIN")  # deferred: a read snapshot, no write lock taken
    try:
        return _gather(store, since)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _gather(store: Store, since: str) -> Gathered:
    got = Gathered()

    def reading(row) -> dict[str, Any]:
        rid = row[0]
        return {"id": rid, "patient_id": row[1], "kind": open_value(store, "readings", "kind", rid, row[2]),
                "measured": open_value(store, "readings", "measured", rid, row[3]),
                "level": open_value(store, "readings", "level", rid, row[4]),
                "submitted_by": store.text_sealer.open(row[5], "readings.submitted_by"), "taken_at": row[6]}

    got.readings = list(_rows(store, "SELECT id, patient_id, kind, measured, level, submitted_by, taken_at "
                                     "FROM readings WHERE taken_at >= ? ORDER BY taken_at, id", (since,), reading, got))

    medicines: dict[int, Any] = {}

    def refill(row) -> dict[str, Any]:
        rid, medication_id = row[0], row[3]
        if medication_id not in medicines:
            medicines[medication_id] = store.medications.get(medication_id)
        medicine = medicines[medication_id]
        return {"id": rid, "ref": row[1], "patient_id": row[2], "medicine": medicine.name, "dose": medicine.dose,
                "quantity": medicine.quantity, "status": row[4],
                "answer": open_value(store, "refills", "answer", rid, row[5]), "created_at": row[6],
                "updated_at": row[7]}

    got.refills = list(_rows(store, "SELECT id, ref, patient_id, medication_id, status, answer, created_at, updated_at "
                                    "FROM refills WHERE max(created_at, updated_at) >= ? ORDER BY created_at, id",
                             (since,), refill, got))

    def consult(row) -> dict[str, Any]:
        rid = row[0]
        summary = open_value(store, "consults", "summary", rid, row[3]) or {}
        return {"id": rid, "ref": row[1], "patient_id": row[2], "summary": summary, "status": row[4],
                "created_at": row[5], "updated_at": row[6]}

    got.consults = list(_rows(store, "SELECT id, ref, patient_id, summary, status, created_at, updated_at "
                                     "FROM consults WHERE max(created_at, updated_at) >= ? ORDER BY created_at, id",
                              (since,), consult, got))

    def alert(row) -> dict[str, Any]:
        rid = row[0]
        return {"id": rid, "ref": row[1], "patient_id": row[2], "reason": open_value(store, "alerts", "reason", rid,
                                                                                      row[3]),
                "status": row[4], "created_at": row[5], "updated_at": row[6]}

    got.alerts = list(_rows(store, "SELECT id, ref, patient_id, reason, status, created_at, updated_at FROM alerts "
                                   "WHERE max(created_at, updated_at) >= ? ORDER BY created_at, id",
                            (since,), alert, got))

    wanted = {r["patient_id"] for r in (*got.readings, *got.refills, *got.consults, *got.alerts)} - {None}
    wanted |= {r[0] for r in store.execute(
        "SELECT id FROM patients WHERE created_at >= ? OR coalesce(closed_at, '') >= ?", (since, since))}
    for patient_id in sorted(wanted):
        try:
            got.patients[patient_id] = vars(store.patients.get(patient_id))
        except DamagedRecord:
            got.damaged += 1
    # A record whose patient could not be opened would point at nothing: left out too.
    for name in ("readings", "refills", "consults", "alerts"):
        kept = [r for r in getattr(got, name) if r["patient_id"] is None or r["patient_id"] in got.patients]
        got.damaged += len(getattr(got, name)) - len(kept)
        setattr(got, name, kept)
    return got


def consult_messages(consult: dict[str, Any]) -> list[dict[str, Any]]:
    """The patient's messages in a consultation: the first, then each reply."""
    summary = consult["summary"] if isinstance(consult["summary"], dict) else {}
    recording = summary.get("recording") or {}
    first = {"part": "", "ref": consult["ref"], "sent": consult["created_at"], "text": summary.get("words") or "",
             "problem": summary.get("problem"), "days": summary.get("days"),
             "recording_url": recording.get("url") if isinstance(recording, dict) else None}
    replies = [{"part": f"reply{n}", "ref": consult["ref"], "sent": reply.get("at") or consult["updated_at"],
                "text": reply.get("words") or ""}
               for n, reply in enumerate(summary.get("replies") or [], 1) if isinstance(reply, dict)]
    return [first, *replies]


# -- the three formats ------------------------------------------------------------------------


class Exporter:
    def __init__(self, store: Store, got: Gathered, *, clinic: str):
        self.got = got
        self.clinic = clinic
        self.ids = fhir.Ids(store.meta_get("key_fingerprint") or "")
        self.now = store.now_iso()

    def patient_ref(self, patient_id: int) -> str:
        return self.ids.of("patients", patient_id)

    def fhir_resources(self) -> list[dict[str, Any]]:
        got, ids = self.got, self.ids
        out = []
        for pid, p in got.patients.items():
            merged = ids.of("patients", p["merged_into"]) if p.get("merged_into") else None
            out.append(fhir.patient(ids.of("patients", pid), p, clinic=self.clinic, merged_into=merged))
        for r in got.readings:
            for part, value in fhir.observation_values(r["kind"], r["measured"]):
                out.append(fhir.observation(ids.of("readings", r["id"], part), self.patient_ref(r["patient_id"]),
                                            value, kind=r["kind"], level=r["level"], taken_at=r["taken_at"]))
        for r in got.refills:
            out.append(fhir.medication_request(ids.of("refills", r["id"]), self.patient_ref(r["patient_id"]), r))
        for c in got.consults:
            first = ids.of("consults", c["id"])
            for message in consult_messages(c):
                out.append(fhir.communication(ids.of("consults", c["id"], message["part"]),
                                              self.patient_ref(c["patient_id"]), message,
                                              in_response_to=first if message["part"] else None))
        # An alert raised before the sender was told apart names no patient: a Flag must.
        for a in got.alerts:
            if a["patient_id"] is not None:
                out.append(fhir.flag(ids.of("alerts", a["id"]), self.patient_ref(a["patient_id"]), a))
        return out

    def bundle(self) -> dict[str, Any]:
        return fhir.bundle(str(uuid.uuid4()), self.now, self.fhir_resources())

    def flat(self) -> list[dict[str, Any]]:
        """One dict a record, each with "resource" saying what it is, and "id" the same
        UUID its FHIR resource has."""
        got, ids = self.got, self.ids
        short = {pid: p["short_id"] for pid, p in got.patients.items()}
        rows: list[dict[str, Any]] = []
        for pid, p in got.patients.items():
            rows.append({"resource": "patient", "id": ids.of("patients", pid), "patient": p["short_id"],
                         "time": p["created_at"], "status": "active" if p["active"] else "closed",
                         "name": p["name"], "phone": p["phone"], "birth_year": p["birth_year"], "sex": p["sex"],
                         "language": p["language"], "time_zone": p["time_zone"], "closed_at": p["closed_at"],
                         "merged_into": short.get(p["merged_into"]) if p.get("merged_into") else None})
        for r in got.readings:
            for part, value in fhir.observation_values(r["kind"], r["measured"]):
                row = {"resource": "reading", "id": ids.of("readings", r["id"], part),
                       "patient": short[r["patient_id"]], "time": r["taken_at"], "status": "final",
                       "reading": "pulse" if part else r["kind"], "loinc": fhir.CODES[value["code"]][0],
                       "level": None if part else r["level"], "submitted_by": r["submitted_by"]}
                if "components" in value:
                    row.update({c: q["value"] for c, q in value["components"]})
                    row["unit"] = value["components"][0][1]["code"]
                else:
                    row.update(value=value["quantity"]["value"], unit=value["quantity"]["code"])
                rows.append(row)
        for r in got.refills:
            rows.append({"resource": "refill", "id": ids.of("refills", r["id"]), "patient": short[r["patient_id"]],
                         "time": r["created_at"], "status": r["status"], "ref": r["ref"], "medicine": r["medicine"],
                         "dose": r["dose"], "quantity": r["quantity"], "answer": r["answer"],
                         "updated_at": r["updated_at"]})
        for c in got.consults:
            for message in consult_messages(c):
                rows.append({"resource": "message", "id": ids.of("consults", c["id"], message["part"]),
                             "patient": short[c["patient_id"]], "time": message["sent"], "status": c["status"],
                             "ref": c["ref"], "problem": message.get("problem"), "days": message.get("days"),
                             "text": message["text"], "recording_url": message.get("recording_url"),
                             "updated_at": c["updated_at"]})
        for a in got.alerts:
            rows.append({"resource": "alert", "id": ids.of("alerts", a["id"]),
                         "patient": short.get(a["patient_id"]), "time": a["created_at"], "status": a["status"],
                         "ref": a["ref"], "reason": a["reason"], "updated_at": a["updated_at"]})
        return rows

    def render(self, fmt: str) -> tuple[str, int]:
        """The file's text and how many records (FHIR resources, or flat rows) it holds."""
        if fmt == "fhir":
            document = self.bundle()
            return json.dumps(document, ensure_ascii=False, indent=1) + "\n", len(document["entry"])
        rows = self.flat()
        if fmt == "json":
            return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), len(rows)
        return to_csv(rows), len(rows)


CSV_COLUMNS = ("resource", "id", "patient", "time", "status", "name", "phone", "birth_year", "sex", "language",
               "time_zone", "closed_at", "merged_into", "reading", "loinc", "value", "systolic", "diastolic", "unit",
               "level", "submitted_by", "ref", "medicine", "dose", "quantity", "answer", "problem", "days", "text",
               "recording_url", "reason", "updated_at")


def to_csv(rows: list[dict[str, Any]]) -> str:
    """One file, one row a record, the "resource" column saying which kind; a column a
    kind does not have is empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else safe_cell(v) for k, v in row.items()})
    return buffer.getvalue()


# -- writing ---------------------------------------------------------------------------------


def write_private(target: Path, text: str, *, force: bool = False) -> None:
    """Write `text` to a new file only its owner can read (0600 from its creation).

    Refuses an existing file unless `force`; then the text goes to a new 0600 file
    beside it, renamed over the old one (whose mode may have been wider)."""
    data = text.encode("utf-8")
    if not force:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise StorageError(f"{target} already exists; choose another file, or use --force to replace it") from None
        _fill(fd, target, data)
        return
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    _fill(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), partial, data)
    os.replace(partial, target)


def _fill(fd: int, path: Path, data: bytes) -> None:
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)  # never leave half an export behind
        raise
