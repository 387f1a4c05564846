"""Keys and the audit log."""

from __future__ import annotations

import sys

import click

from lowband.cli.base import json_option, settings
from storage import WrongKeyError
from storage.rotation import rotate
from storage.store import Store, open_store


@click.group()
def keys() -> None:
    """Manage the encryption keys."""


@keys.command("rotate")
@click.option(
    "--batch-size", default=200, show_default=True, type=click.IntRange(1, 10000), help="Rows per transaction."
)
def keys_rotate(batch_size: int) -> None:
    """Re-encrypt every record under a new key.

    Safe while the server runs (it picks up the new key), and safe to interrupt:
    run it again and it carries on where it stopped. The old key is retired at the end.
    """
    s = settings()
    bar = {}

    def store_for(ring) -> Store:
        try:
            return open_store(s.db, ring, pin_work=s.pin_work)
        except WrongKeyError:
            raise WrongKeyError(f"key file {s.key_path} does not belong to database {s.db}") from None

    def on_start(total: int, resumed: bool) -> None:
        if resumed:
            click.echo("Resuming an interrupted rotation.")
        # The bar goes to stderr, so stdout keeps only the result.
        bar["bar"] = click.progressbar(length=max(total, 1), label="Re-encrypting", file=sys.stderr)
        bar["bar"].__enter__()

    def progress(n: int) -> None:
        bar["bar"].update(n)

    try:
        result = rotate(store_for, s.key_path, batch_size=batch_size, progress=progress, on_start=on_start)
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    retired = ", ".join(str(k) for k in result.retired) or "none"
    click.echo(f"Done: {result.resealed} values re-encrypted under key {result.new_key}; retired key(s): {retired}.")
    click.echo(f"Backups made before now need the old key file; {s.key_path} now holds only the new key.")


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@json_option
def audit_verify(as_json: bool) -> None:
    """Check that no audit entry was changed or deleted."""
    import json

    from lowband.cli.base import store

    report = store().audit.verify()
    if as_json:
        click.echo(json.dumps({"entries": report.entries, "ok": report.ok, "problems": report.problems}))
    elif report.ok:
        click.echo(f"Audit log intact: {report.entries} entries, chain verified.")
    else:
        for problem in report.problems:
            click.echo(f"TAMPERED: {problem}", err=True)
    if not report.ok:
        raise SystemExit(1)
