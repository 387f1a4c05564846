"""Setting up and running an installation: init, serve, backup, restore."""

from __future__ import annotations

import os
from pathlib import Path

import click

from lowband.cli.base import runtime, settings, store, this_year
from storage import create_key_file, open_store


def demo_sign_in(st) -> str:
    """The demo's sign-in, for a demo database only."""
    from lowband.demo import DEMO_FLAG, DEMO_PASSWORD, STAFF

    if st.meta_get(DEMO_FLAG) != "1":
        return ""
    email = next(email for role, _, _, email in STAFF if role == "clinician")
    return f" (demo sign-in: {email}, password {DEMO_PASSWORD})"


@click.command()
@click.option(
    "--demo", is_flag=True, help="Also add a demo clinic: staff (with console sign-ins) and three patients."
)
def init(demo: bool) -> None:
    """Create the database and its key file.

    The key file is made once, readable only by you (mode 0600), and never
    overwritten. Keep a copy somewhere safe and apart from the database.
    """
    s = settings()
    if s.db.exists():
        raise click.ClickException(f"database {s.db} already exists; nothing to do")
    if s.key_path.exists():
        raise click.ClickException(
            f"key file {s.key_path} already exists but database {s.db} does not; "
            "point LOWBAND_DB at its database, or move the key file away to start afresh"
        )
    ring = create_key_file(s.key_path)
    try:
        new_store = open_store(s.db, ring, create=True, pin_work=s.pin_work)
    except BaseException:
        # No database came of it, so the new key file protects nothing: leave no orphan
        # that would make the next `lowband init` refuse.
        if not s.db.exists():
            s.key_path.unlink(missing_ok=True)
        raise
    try:
        with new_store.write():
            new_store.audit.record("cli", "init")
        click.echo(f"Created database {s.db}")
        click.echo(f"Created key file {s.key_path}")
        if demo:
            from lowband.demo import load_demo

            made = load_demo(new_store, s, this_year())
            click.echo("Added a demo clinic:")
            for line in made["staff"]:
                click.echo(f"  staff    {line}")
            for line in made["patients"]:
                click.echo(f"  patient  {line}")
    finally:
        new_store.db.close()
    click.echo(
        "\nIMPORTANT: every name, number and health record is encrypted with the key file.\n"
        "If the key file is lost, the data is lost: nobody can read it, not even you.\n"
        f"Copy {s.key_path} to a safe place now (a USB stick kept apart from this laptop)."
    )


@click.command(short_help="Serve the webhooks and send the outbox.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--processes", type=click.IntRange(1, 64), default=None,
              help="Worker processes (gunicorn, on POSIX). Default: one per CPU core; 1 runs waitress in this "
                   "process, as on Windows.")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per process.")
def serve(host: str, port: int, processes: int | None, workers: int) -> None:
    """Serve the webhooks and the console, and send what the outbox holds in the
    background (printed to the terminal with the console transport): on every core
    with gunicorn where it runs, else in one process with waitress."""
    import logging
    import os

    from lowband import serving

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The dispatcher runs every few seconds: its every run would bury the messages shown.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    runtime()  # fail early, in one line, on a bad key file or database
    s = settings()
    wanted = processes or os.cpu_count() or 1
    several = wanted > 1 and serving.gunicorn_available()
    if wanted > 1 and not several:
        click.echo("gunicorn cannot run here (Windows?): serving in one process.", err=True)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL
    if several:
        from lowband.app import create_app

        # Built once here, only to check it: a bad setting (care rules, proxies) is one
        # line now, not a worker that fails to boot over and over after the fork.
        create_app().extensions["lowband"].close()
        try:
            serving.check_bind(host, port)
        except OSError as error:
            raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        click.echo(f"Lowband serving on http://{shown}:{port} ({wanted} processes of {workers} threads, "
                   f"{s.transport} transport). Ctrl-C stops.")
        click.echo(f"Console: http://{shown}:{port}/console" + demo_sign_in(runtime().store()))
        runtime().close()  # no connection crosses the fork: each worker opens its own
        serving.run_gunicorn(host, port, wanted, workers, s)
        return
    _serve_one_process(host, port, workers, s, shown)


def _serve_one_process(host: str, port: int, workers: int, s, shown: str) -> None:
    from waitress import create_server

    from lowband import serving
    from lowband.app import create_app
    from lowband.webhook_auth import MAX_WEBHOOK_BYTES

    app = create_app()
    try:
        # Bound here, before anything says "serving" or the outbox is sent: a port in use
        # or a host that is no address is one line, and nothing was started.
        # Waitress refuses oversized bodies before buffering them; X-Forwarded-* are left
        # for the app, which believes them only from LOWBAND_TRUSTED_PROXIES.
        server = create_server(app, host=host, port=port, threads=workers, ident="lowband",
                               clear_untrusted_proxy_headers=not s.trusted_proxies,
                               max_request_body_size=MAX_WEBHOOK_BYTES)
    except (OSError, ValueError) as error:
        app.extensions["lowband"].close()
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None
    background = serving.start_dispatcher(app, s)
    click.echo(f"Lowband serving on http://{shown}:{port} ({workers} threads, {s.transport} transport). Ctrl-C stops.")
    click.echo(f"Console: http://{shown}:{port}/console" + demo_sign_in(app.extensions["lowband"].store()))
    try:
        server.run()
    finally:
        serving.stop_dispatcher(app, background)
        server.close()


@click.command(short_help="Back up the database, even while serving.")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Copy the database to PATH, consistently, even while the server runs.

    The copy stays encrypted: it can only be read with the key file. The key file
    notes which of its keys the copy needs, so `keys retire` will not drop them.
    """
    from storage.keyfile import record_backup
    from storage.store import backup_database

    s = settings()
    source = store()
    needed = backup_database(source, path)
    try:
        os.chmod(path, 0o600)  # encrypted, but still the whole installation's data
        record_backup(s.key_path, str(path.resolve()), needed, source.now_iso())
    except BaseException:
        # A backup the key file does not list could lose its keys to `keys retire`
        # (and one made on a disk that then filled up is suspect): none is left behind.
        path.unlink(missing_ok=True)
        raise
    keys_text = ",".join(map(str, sorted(needed)))
    with source.write():
        source.audit.record("cli", "backup", f"keys:{keys_text}")
    click.echo(f"Backed up {s.db} to {path}.")
    click.echo(f"It is encrypted: restoring it needs the key file {s.key_path} (field key(s) {keys_text}).")


@click.command(short_help="Put a backup in place of the database.")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def restore(path: Path) -> None:
    """Replace the database with the backup at PATH. Stop the server first.

    The backup must open with the key file, every encrypted value in it must open, and
    its audit log must verify; otherwise nothing changes. The database it replaces is
    kept beside it (renamed *.replaced-TIME), never deleted.
    """
    from storage import load_key_file
    from storage.keyfile import record_backup
    from storage.store import iso, restore_database, utc_now

    s = settings()
    result = restore_database(path, s.db, load_key_file(s.key_path), pin_work=s.pin_work)
    click.echo(f"Restored {s.db} from {path}: {result.values} encrypted values and "
               f"{result.audit_entries} audit entries checked.")
    if result.replaced:
        # Listed like a backup, so `keys retire` keeps the keys it may still need; it may
        # be damaged (that is why one restores), so every key of the moment is kept for it.
        ring = load_key_file(s.key_path)
        record_backup(s.key_path, str(result.replaced.resolve()), set(ring.field_keys), iso(utc_now()))
        click.echo(f"The database it replaced was kept as {result.replaced}; `lowband keys backups` lists it.")
    if result.stale_keys:
        keys_text = ", ".join(map(str, result.stale_keys))
        click.echo(f"Its values are sealed under older key(s) {keys_text}; run `lowband keys rotate` to re-seal them.")
