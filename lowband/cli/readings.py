"""Readings as the clinic sees them (in `patients show`, and all of them for review),
and moving one that was recorded for the wrong patient."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from flows.readings import Reading, format_reading
from lowband.cli.base import (
    REASON_HELP,
    clean_reason,
    json_option,
    listing,
    note_more,
    page_size,
    paging_options,
    parse_moment,
    sound,
    store,
    table,
)
from lowband.cli.enrolling import open_record
from storage import Store
from storage.errors import NotFound
from storage.patients import Patient
from storage.records import damage_in
from storage.store import iso


def echo_of(kind: str, measured: dict) -> str:
    """The reading as replies echo it ("BP 140/90 P72"); a kind this version does not
    know is shown plainly rather than failing the whole list."""
    try:
        return format_reading(Reading(kind, measured))
    except (KeyError, TypeError, ValueError):
        return f"{kind} {measured}"


def when_local(taken_at: str, time_zone: str) -> str:
    """The patient's own local date and time, like "2026-11-22 11:00 EAT"."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.fromisoformat(taken_at).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


class Submitters:
    """Who sent a reading, for people: "patient", "patient 4376" (sent from another
    patient's profile) or "Grace Achieng (chw)" for a staff member's relay."""

    def __init__(self, view: Store):
        self.view = view
        self.staff: dict[str, str] = {}

    def describe(self, submitted_by: str, patient: Patient) -> str:
        kind, _, ref = submitted_by.partition(":")
        if kind == "patient":
            return "patient" if ref == patient.short_id else f"patient {ref}"
        if kind == "staff":
            if ref not in self.staff:
                self.staff[ref] = self._staff(ref)
            return self.staff[ref]
        return submitted_by

    def _staff(self, ref: str) -> str:
        try:
            user = self.view.staff.get(int(ref))
        except (NotFound, ValueError):
            return f"staff {ref}"
        return f"staff {ref}" if damage_in(user) else f"{user.name} ({user.role})"


def reading_rows(patient: Patient, readings: list) -> list[dict]:
    """One JSON object per reading, for --json."""
    return [
        {"id": r.id, "patient": patient.short_id, "kind": r.kind, "values": r.measured, "level": r.level,
         "text": echo_of(r.kind, r.measured), "submitted_by": r.submitted_by, "taken_at": r.taken_at}
        for r in readings
    ]


def reading_lines(view: Store, patient: Patient, readings: list) -> list[str]:
    """The readings as a table, with the IDs `lowband readings move` takes."""
    if not readings:
        return []
    who = Submitters(view)
    rows = [
        {"id": r.id, "reading": echo_of(r.kind, r.measured), "level": r.level,
         "by": who.describe(r.submitted_by, patient), "when": when_local(r.taken_at, patient.time_zone)}
        for r in readings
    ]
    columns = [("id", "READING ID"), ("reading", "READING"), ("level", "LEVEL"), ("by", "SENT BY"), ("when", "WHEN")]
    return table(rows, columns)


@click.group(invoke_without_command=True)
@click.option("--since", help="Only readings taken at or after this moment, like 2026-11-22T08:00+03:00.")
@json_option
@paging_options
@click.pass_context
def readings(ctx: click.Context, since: str | None, as_json: bool, limit: int | None, show_all: bool) -> None:
    """Readings patients and CHWs sent; with no command, lists them for review.

    Newest first (the newest 50 unless --limit or --all), with the patient's short ID,
    the reading as replies echo it, its level, who sent it and when (the patient's own
    time). With --json: one reading a line.
    """
    if ctx.invoked_subcommand is not None:
        if since or as_json or limit or show_all:
            raise click.ClickException("--since, --json, --limit and --all list readings: give them without a command")
        return
    list_readings(since, as_json, page_size(limit, show_all))


def list_readings(since: str | None, as_json: bool, size: int | None) -> None:
    view = listing()
    where, params = ("WHERE taken_at >= ?", [iso(parse_moment(since, "--since"))]) if since else ("", [])
    total = view.one(f"SELECT count(*) FROM readings {where}", params)[0]  # noqa: S608
    ids = [r[0] for r in view.execute(
        f"SELECT id FROM readings {where} ORDER BY taken_at DESC, id DESC LIMIT ?",  # noqa: S608
        [*params, -1 if size is None else size],
    ).fetchall()]
    found = sound(r for r in (view.readings.get(i) for i in ids) if r is not None)
    owners: dict[int, Patient] = {}
    for reading in found:
        if reading.patient_id not in owners:
            # A damaged name does not matter here: the short ID and time zone are plain.
            owners[reading.patient_id] = view.patients.get(reading.patient_id)
    if as_json:
        for reading in found:
            click.echo(json.dumps(reading_rows(owners[reading.patient_id], [reading])[0], ensure_ascii=False))
    elif not found:
        click.echo("No readings" + (" since then." if since else " yet."))
    else:
        who = Submitters(view)
        rows = [
            {"id": r.id, "patient": owners[r.patient_id].short_id, "reading": echo_of(r.kind, r.measured),
             "level": r.level, "by": who.describe(r.submitted_by, owners[r.patient_id]),
             "when": when_local(r.taken_at, owners[r.patient_id].time_zone)}
            for r in found
        ]
        columns = [("id", "READING ID"), ("patient", "PATIENT"), ("reading", "READING"), ("level", "LEVEL"),
                   ("by", "SENT BY"), ("when", "WHEN")]
        for line in table(rows, columns):
            click.echo(line)
    note_more(len(ids), total)


@readings.command("move")
@click.argument("reading_id")
@click.option("--to", "to_patient", required=True, help="Short ID of the patient the reading belongs to.")
@click.option("--reason", required=True, help=REASON_HELP)
def readings_move(reading_id: str, to_patient: str, reason: str) -> None:
    """Move a reading recorded for the wrong patient to the right one.

    READING_ID is shown by `lowband patients show`. The move is written to the audit
    log with both patients' short IDs and the reason.
    """
    st = store()
    reason = clean_reason(reason)
    try:
        row_id = int(reading_id.strip())
        if not 0 < row_id < 2**63:
            raise ValueError
    except ValueError:
        raise click.ClickException(f"no reading {reading_id}; reading IDs are the numbers `lowband patients show` "
                                   "lists") from None
    with st.write():
        reading = st.readings.get(row_id)
        if reading is None:
            raise click.ClickException(f"no reading {row_id}; see `lowband patients show` for reading IDs")
        target = open_record(st, to_patient, "moving a reading to it")
        source = st.patients.get(reading.patient_id)
        if source.id == target.id:
            raise click.ClickException(f"reading {row_id} is already patient {target.short_id}'s")
        st.readings.move(row_id, target.id)
        st.audit.record("cli", "reading.moved", f"reading:{row_id}",
                        f"from={source.short_id} to={target.short_id} reason={reason}")
    click.echo(f"Moved reading {row_id} ({echo_of(reading.kind, reading.measured)}) "
               f"from patient {source.short_id} to patient {target.short_id}.")
