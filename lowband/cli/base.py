"""What every command shares: settings and store on demand, errors as one line, JSON output."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import click

from flows.enrolment import EnrolmentError
from flows.phones import InvalidPhoneNumber
from lowband.runtime import Runtime
from lowband.settings import Settings, SettingsError, load_settings
from storage import FieldIntegrityError, StorageError, Store
from storage.keyfile import check_key_file_mode
from storage.records import Damaged, DamagedRecord, intact, lenient

# Errors whose message is written for the admin: shown as one line, exit status 1.
EXPECTED = (SettingsError, StorageError, EnrolmentError, InvalidPhoneNumber)


class LowbandGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # A terminal in another encoding hands Python undecodable bytes as surrogates;
        # they would fail deep inside sealing. Refuse them here, saying which argument.
        for position, arg in enumerate(args, 1):
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                raise click.UsageError(
                    f"argument {position} is not valid UTF-8 text; set the terminal to UTF-8 and type it again", ctx
                ) from None
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        # Whatever a command creates (the database, its -wal and -shm, backups, folders)
        # is its owner's only: 0600 files, 0700 folders.
        umask = os.umask(0o077)
        try:
            return self._invoke(ctx)
        finally:
            os.umask(umask)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DamagedRecord as error:
            # One record, not the key file: the rest of the database is fine.
            raise click.ClickException(f"{error}; `lowband doctor` lists every damaged record") from None
        except FieldIntegrityError as error:
            # Most often the key file is not the one this database (or backup) was sealed
            # with, so name the file in use; the admin cannot tell otherwise.
            key_file = ctx.meta["lowband.settings"].key_path if "lowband.settings" in ctx.meta else None
            hint = f" (key file {key_file})" if key_file else ""
            raise click.ClickException(f"{error}{hint}") from None
        except EXPECTED as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            # A full disk, a read-only folder, a file where a folder should be: still one
            # line, naming the file and the reason.
            where = f"{error.filename}: " if error.filename else ""
            raise click.ClickException(f"{where}{error.strerror or error}") from None
        except sqlite3.Error as error:
            db = ctx.meta["lowband.settings"].db if "lowband.settings" in ctx.meta else "the database"
            raise click.ClickException(f"database {db}: {error}") from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            # A bug, not the admin's mistake: still one line (an exception's text may hold
            # a name or a number, so only its kind is shown); LOWBAND_DEBUG=1 shows where.
            if os.environ.get("LOWBAND_DEBUG") == "1":
                raise
            raise click.ClickException(
                f"unexpected error ({type(error).__name__}). Run again with LOWBAND_DEBUG=1 to see where, "
                "and report it"
            ) from None


def settings() -> Settings:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if "lowband.settings" not in root.meta:
        loaded = load_settings()
        # Every command refuses a key file others may read or write, before anything else.
        check_key_file_mode(loaded.key_path)
        root.meta["lowband.settings"] = loaded
    return root.meta["lowband.settings"]


def runtime() -> Runtime:
    root = click.get_current_context().find_root()
    if "lowband.runtime" not in root.meta:
        rt = Runtime(settings())
        root.meta["lowband.runtime"] = rt
        root.call_on_close(rt.close)
    return root.meta["lowband.runtime"]


def store() -> Store:
    return runtime().store()


def listing() -> Store:
    """The store for list commands: a damaged record comes back marked instead of
    failing the whole list; pass what was listed through `sound` to leave it out."""
    root = click.get_current_context().find_root()
    if "lowband.listing" not in root.meta:
        root.meta["lowband.listing"] = lenient(store())
    return root.meta["lowband.listing"]


def sound(items: Iterable) -> list:
    """The items a list command listed, less any damaged record (said on stderr in one
    line, by count only, so stdout and --json stay clean)."""
    kept, left_out = intact(items)
    note_left_out(left_out)
    return kept


def note_left_out(left_out: list[Damaged]) -> None:
    if left_out:
        count = len(left_out)
        click.echo(f"Left out {count} damaged record{'s' if count > 1 else ''}; `lowband doctor` lists them.",
                   err=True)


def parse_moment(text: str, what: str) -> datetime:
    """A date and time an admin typed, with its UTC offset (times mean nothing without)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.ClickException(f"{what} is a date and time like 2026-11-22T08:00+03:00") from None
    if moment.tzinfo is None:
        raise click.ClickException(f"{what} needs its UTC offset, like 2026-11-22T08:00+03:00")
    try:
        # 0001-01-01T00:00+14:00 is before the first time Python can hold in UTC, and a
        # moment near year 9999 overflows as soon as a day is added to it.
        in_range = 1900 <= moment.astimezone(UTC).year <= 9998
    except OverflowError:
        in_range = False
    if not in_range:
        raise click.ClickException(f"{what} is out of range; give a date between the years 1900 and 9998")
    return moment


REASON_MAX = 120
# The audit log's details are sealed, but every admin who can read the log reads them.
REASON_HELP = "Why, in a few words. Kept (sealed) in the audit log, which admins read: no health details."


def clean_reason(text: str) -> str:
    """A reason an admin gave, kept (sealed) in the audit log."""
    reason = " ".join(text.split())
    if not reason or len(reason) > REASON_MAX:
        raise click.ClickException(f"give a reason of 1 to {REASON_MAX} characters")
    return reason


def this_year() -> int:
    return datetime.now(UTC).year


def emit(rows: Iterable[dict], as_json: bool, columns: list[tuple[str, str]], empty: str) -> None:
    """Print rows as a table for people, or one JSON object a line for scripts."""
    rows = list(rows)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False, default=str))
        return
    if not rows:
        click.echo(empty)
        return
    for line in table(rows, columns):
        click.echo(line)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    """The lines of a table with a title row, each column as wide as its widest cell."""
    widths = [max(len(title), *(len(_cell(r.get(key))) for r in rows)) for key, title in columns]
    lines = ["  ".join(title.ljust(w) for (_, title), w in zip(columns, widths, strict=True)).rstrip()]
    for row in rows:
        cells = (_cell(row.get(key)).ljust(w) for (key, _), w in zip(columns, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
    return lines


def _cell(value: object) -> str:
    return "-" if value in (None, "") else str(value)


json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object a line, for scripts.")

# -- paging: every list says when it shows less than there is ------------------------------

DEFAULT_LIMIT = 50


def paging_options(command):
    """--limit N (default 50) and --all, for a list command; read them with `page_size`."""
    command = click.option("--all", "show_all", is_flag=True, help="List every row, however many.")(command)
    return click.option("--limit", type=click.IntRange(min=1), default=None,
                        help=f"List at most N rows (default {DEFAULT_LIMIT}).")(command)


def page_size(limit: int | None, show_all: bool) -> int | None:
    """How many rows to show: None for every one."""
    if show_all and limit is not None:
        raise click.ClickException("use --limit or --all, not both")
    return None if show_all else (limit or DEFAULT_LIMIT)


def note_more(shown: int, total: int, which: str = "") -> None:
    """One line on stderr when the list shows fewer rows than exist (stdout and --json
    stay clean): never cut a list silently."""
    if total > shown:
        click.echo(f"showing {shown} of {total}{which}; use --all or --limit", err=True)


def newest(rows: list, size: int | None) -> list:
    """The last `size` rows of a list in time order, oldest first (a cut keeps the newest);
    says so on stderr when rows were left out."""
    if size is None or len(rows) <= size:
        return rows
    note_more(size, len(rows), " (the newest)")
    return rows[-size:]


def first(rows: list, size: int | None) -> list:
    """The first `size` rows; says so on stderr when rows were left out."""
    if size is None or len(rows) <= size:
        return rows
    note_more(size, len(rows))
    return rows[:size]
