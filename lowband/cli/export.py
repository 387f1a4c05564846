"""`lowband export`: the clinic's records out, as FHIR R4, CSV or JSON lines, decrypted.
The work is interop/'s; this is the command."""

from __future__ import annotations

from pathlib import Path

import click

from interop.export import FORMATS, SUFFIX, Exporter, gather, write_private
from lowband.cli.base import note_left_out, parse_moment, settings, store
from storage.store import iso

WARNING = ("Warning: {path} holds health data in clear (names, phone numbers, readings, messages), "
           "not encrypted like the database. It is readable by you only (mode 0600); keep it on an encrypted "
           "disk, share it only with those who may see these records, and delete it when done.")


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="fhir", show_default=True,
              help="fhir: one FHIR R4 Bundle (JSON); csv: one file, a 'resource' column says what each row is; "
                   "json: one JSON object a line, with a 'resource' field.")
@click.option("--since", help="Only records created or changed at or after this moment, like "
                              "2026-11-01T00:00+03:00 (an incremental export).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write. Default: lowband-export-YYYYMMDD.fhir.json (.csv, .jsonl) in the "
                   "current folder. Never standard output.")
@click.option("--force", is_flag=True, help="Replace the file if it exists (refused otherwise).")
def export(fmt: str, since: str | None, out: Path | None, force: bool) -> None:
    """Export patients, readings, refills, consultations and alerts to a file.

    The file is decrypted: it holds health data in clear. It is created readable by
    you only (0600), an existing file is never replaced without --force, and the audit
    log records that an export was made (what kind, not what it held). FHIR: Patient,
    Observation (LOINC and UCUM, vital-signs profiles), MedicationRequest,
    Communication and Flag resources; see docs/export.md.
    """
    since_iso = iso(parse_moment(since, "--since")) if since else ""
    s, st = settings(), store()
    target = out or Path(f"lowband-export-{st.now().strftime('%Y%m%d')}{SUFFIX[fmt]}")
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists; choose another file, or use --force to replace it")
    got = gather(st, since_iso)
    text, count = Exporter(st, got, clinic=s.clinic_name).render(fmt)
    click.echo(WARNING.format(path=target), err=True)
    write_private(target, text, force=force)
    with st.write():
        st.audit.record("cli", "export.made", "", f"format={fmt} since={since_iso or 'all'} records={count} "
                                                  f"file={target.name}")
    note_left_out([None] * got.damaged)
    click.echo(f"Exported {len(got.patients)} patient{'' if len(got.patients) == 1 else 's'} and their records "
               f"({count} {'resources' if fmt == 'fhir' else 'rows'}) to {target}.")
