"""Keys and the audit log."""

from __future__ import annotations

import sys
from pathlib import Path

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
    run it again and it carries on where it stopped. The old key is retired at the end:
    it stays in the key file, marked retired, so backups made under it still restore.
    """
    from storage.keyfile import load_key_file

    s = settings()
    before = load_key_file(s.key_path)
    bar = {}
    warning = (
        f"Warning: this changes the key file {s.key_path}. Old keys stay in it (retired) so earlier "
        "backups still restore; copy the key file to your backup media again afterwards."
    )

    def store_for(ring) -> Store:
        try:
            return open_store(s.db, ring, pin_work=s.pin_work)
        except WrongKeyError:
            raise WrongKeyError(f"key file {s.key_path} does not belong to database {s.db}") from None

    store_for(before).db.close()  # a wrong key file or a missing database: fail before warning
    click.echo(warning, err=True)

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
    kept = ", ".join(str(k) for k in sorted(set(before.field_keys) - {result.new_key})) or "none"
    click.echo(f"{s.key_path} keeps retired key(s) {kept} for backups made before now; copy it to your backup media.")


@keys.command("retire")
@click.argument("key_id", type=int)
def keys_retire(key_id: int) -> None:
    """Drop retired key KEY_ID from the key file for good.

    Refused while a backup made with `lowband backup` needs it, while any value in the
    database is still sealed under it, or for the key in use.
    """
    from lowband.cli.base import store
    from storage.keyfile import backups_needing, changing, load_key_file, without_key, write_key_file
    from storage.store import sealed_key_ids

    s = settings()
    with changing(s.key_path):
        ring = load_key_file(s.key_path)
        if key_id not in ring.field_keys:
            raise click.ClickException(f"key file {s.key_path} holds no key {key_id}")
        if key_id not in ring.retired:
            raise click.ClickException(f"key {key_id} is in use; `lowband keys rotate` retires it first")
        needing = backups_needing(s.key_path, key_id)
        if needing:
            names = ", ".join(b.get("file", "?") for b in needing)
            raise click.ClickException(
                f"refusing to drop key {key_id}: {len(needing)} backup(s) need it ({names}); "
                "`lowband keys forget-backup PATH` for one deleted or kept with its own key file"
            )
        live = store()
        if key_id in sealed_key_ids(live.db.conn):
            raise click.ClickException(
                f"refusing to drop key {key_id}: the database still has values sealed under it; "
                "run `lowband keys rotate`"
            )
        write_key_file(s.key_path, without_key(ring, key_id), replace=True)
    with live.write():
        live.audit.record("cli", "keys.retire", f"key:{key_id}")
    click.echo(f"Dropped key {key_id} from {s.key_path}; anything still sealed under it can no longer be read.")


@keys.command("backups")
@json_option
def keys_backups(as_json: bool) -> None:
    """List the backups the key file keeps keys for.

    With the keys each needs, and whether the file is still where it was made."""
    from lowband.cli.base import emit
    from storage.keyfile import known_backups, load_key_file

    s = settings()
    load_key_file(s.key_path)  # a missing or damaged key file is said, not taken for "no backups"
    rows = [{"file": b.get("file", "?"), "keys": ",".join(map(str, b.get("keys", []))), "made": b.get("at", ""),
             "present": "yes" if Path(b.get("file", "")).is_file() else "MISSING"} for b in known_backups(s.key_path)]
    emit(rows, as_json, [("file", "FILE"), ("keys", "KEYS"), ("made", "MADE"), ("present", "PRESENT")],
         "No backups made with `lowband backup` yet.")


@keys.command("forget-backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--even-if-present", is_flag=True, help="Forget it although the file is still there.")
def keys_forget_backup(path: Path, even_if_present: bool) -> None:
    """Stop keeping keys for a backup that is gone.

    For the backup at PATH: deleted, or stored with its own copy of the key file.

    Until a backup is forgotten, `lowband keys retire` keeps every key it needs. A backup
    still at PATH is refused unless --even-if-present: forgetting it lets those keys be
    dropped, after which it can no longer be restored with this key file.
    """
    from lowband.cli.base import store
    from storage.keyfile import forget_backup, known_backups

    s = settings()
    listed = {b.get("file") for b in known_backups(s.key_path)}
    name = str(path.resolve()) if str(path.resolve()) in listed else str(path)
    if name not in listed:
        raise click.ClickException(f"the key file {s.key_path} lists no backup {path}; see `lowband keys backups`")
    if Path(name).is_file() and not even_if_present:
        raise click.ClickException(
            f"backup {name} is still there; delete it first, or pass --even-if-present if it is kept "
            "with its own copy of the key file"
        )
    forgotten = forget_backup(s.key_path, name)
    keys_text = ",".join(map(str, forgotten.get("keys", [])))
    live = store()
    with live.write():
        live.audit.record("cli", "backup.forget", "", f"keys:{keys_text}")
    click.echo(f"Forgot backup {name}; key(s) {keys_text} are no longer kept for it.")


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
