"""Trying the SMS line, and watching what goes out: simulate, outbox, dispatch."""

from __future__ import annotations

import secrets
import sys
import time
from datetime import timedelta
from xml.etree import ElementTree

import click
from twilio.request_validator import RequestValidator

from flows.phones import mask, to_e164
from flows.segments import encoding, segments
from lowband.cli.base import (
    emit,
    json_option,
    listing,
    note_more,
    page_size,
    paging_options,
    parse_moment,
    runtime,
    settings,
    sound,
)
from storage.outbox import RANK


@click.command(short_help="Text or call the clinic from a pretend phone.")
@click.option("--from", "sender", required=True, help="The phone number to text (or call) as.")
@click.option("--voice", is_flag=True, help="Call instead: each line is keys (140# ends with #), empty for silence.")
def simulate(sender: str, voice: bool) -> None:
    """Text the clinic's number from a pretend phone: one line of stdin, one text.

    Each line is posted to /sms signed exactly as Twilio signs it, through the same
    code path; the replies are printed with their SMS segment count. Messages queued
    for other people (alerts, relays) are shown too. Pipe a script in, or type.

    With --voice it is a call: each line is the keys pressed next ("1", "140#"), an
    empty line is silence, and `hangup` ends it; what the caller hears is printed (~ said,
    ? asked) with what the keypad waits for.
    """
    from lowband.app import create_app

    s = settings()
    e164 = to_e164(sender, s.region)
    # A pasted script "types" faster than any person; lift the loop guard's rate limit
    # (repeats are still caught) so a long script is not muted half-way.
    app = create_app({"RATE_LIMIT": 1000})
    interactive = sys.stdin.isatty()
    stdin = getattr(sys.stdin, "buffer", sys.stdin)  # bytes: decoded below, never a crash
    if voice:
        from lowband.cli.voice_sim import call

        def lines():
            while True:
                if interactive:
                    click.echo("keys> ", nl=False)
                raw = stdin.readline()
                if not raw:
                    return
                yield raw.decode("utf-8", "replace").rstrip("\r\n")

        try:
            call(app, s.public_base, e164, s.twilio_from or "+15005550006", lines(), click.echo)
        finally:
            app.extensions["lowband"].close()
        return
    client = app.test_client()
    validator = RequestValidator(app.extensions["lowband"].webhook_token())
    url = s.public_base + "/sms"
    # Timestamps have one-second resolution, so remember which queued messages were shown.
    started, shown = app.extensions["lowband"].store().now_iso(), set()
    try:
        while True:
            if interactive:
                click.echo("> ", nl=False)
            raw = stdin.readline()
            if not raw:
                break
            # Bytes that are not UTF-8 (a terminal in another encoding) arrive as a phone
            # would deliver them: replaced, never a crash.
            body = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not interactive:
                click.echo(f"> {body}")
            params = {
                "MessageSid": "SM" + secrets.token_hex(16),
                "AccountSid": s.twilio_account_sid or "AC" + "0" * 32,
                "From": e164,
                "To": s.twilio_from or "+15005550006",
                "Body": body,
                "NumMedia": "0",
            }
            response = client.post(
                "/sms", data=params, base_url=s.public_base,
                headers={"X-Twilio-Signature": validator.compute_signature(url, params)},
            )
            if response.status_code != 200:
                click.echo(f"! HTTP {response.status_code}: {response.get_data(as_text=True).strip()}")
                continue
            # Our own app's TwiML, not untrusted input.
            twiml = ElementTree.fromstring(response.data)  # noqa: S314
            replies = [m.text or "" for m in twiml.iter("Message")]
            if not replies:
                click.echo("< (no reply)")
            for text in replies:
                click.echo(f"< {text}  [{segments(text)} SMS, {encoding(text)}]")
            for queued in app.extensions["lowband"].store().outbox.created_since(started):
                if queued.id not in shown:
                    shown.add(queued.id)
                    click.echo(f"  (queued for {mask(queued.phone)}: {queued.body})")
    finally:
        app.extensions["lowband"].close()


@click.command()
@click.option("--status", type=click.Choice(sorted(RANK)), help="Only messages in this state.")
@json_option
@paging_options
def outbox(status: str | None, as_json: bool, limit: int | None, show_all: bool) -> None:
    """List messages waiting to go out, and what became of those sent.

    The newest 50 unless --limit or --all.
    """
    size = page_size(limit, show_all)
    rows = [
        {
            "id": m.id, "created": m.created_at, "to": m.phone if as_json else mask(m.phone),
            "purpose": m.purpose, "status": m.status, "attempts": m.attempts, "error": m.error,
            "via": m.transport or "-",
            "body": m.body if as_json else (m.body[:40] + ("..." if len(m.body) > 40 else "")),
        }
        for m in sound(_outbox_page(status, size))
    ]
    emit(rows, as_json, [("created", "CREATED"), ("to", "TO"), ("purpose", "PURPOSE"), ("status", "STATUS"),
                         ("via", "VIA"), ("attempts", "TRIES"), ("body", "MESSAGE")], "The outbox is empty.")


def _outbox_page(status: str | None, size: int | None) -> list:
    """The outbox's messages, oldest first; when more than `size` exist, the newest `size`
    (said on stderr). Counted here, so nothing is cut at the outbox's own default limit."""
    view = listing()
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    total = view.one(f"SELECT count(*) FROM outbox {where}", params)[0]  # noqa: S608
    if size is None or total <= size:
        return view.outbox.list(status, limit=max(total, 1))
    ids = [r[0] for r in view.execute(
        f"SELECT id FROM outbox {where} ORDER BY created_at DESC, id DESC LIMIT ?", [*params, size]  # noqa: S608
    ).fetchall()]
    note_more(len(ids), total, " (the newest)")
    return [view.outbox.get(message_id) for message_id in reversed(ids)]


@click.command(short_help="Send what is due from the outbox.")
@click.option("--once", is_flag=True, help="One pass, then exit (for cron or a test).")
@click.option("--at", "at", help="Pretend it is this time (ISO with offset), to try schedules.")
@click.option(
    "--interval", default=5.0, show_default=True, type=click.FloatRange(0.5, 3600), help="Seconds between passes."
)
def dispatch(once: bool, at: str | None, interval: float) -> None:
    """Send what is due from the outbox through the configured transport."""
    from lowband.wiring import conversation_service, status_callback_url, transport
    from scheduler.dispatcher import AnotherDispatcher, dispatch_once

    s = settings()
    moment = parse_moment(at, "--at") if at else None
    if moment is not None and s.transport != "console":
        # A pretended time decides what is due; the texts would reach real phones now.
        raise click.ClickException(f"--at pretends a time, and with LOWBAND_TRANSPORT={s.transport} it would text "
                                   "people now; preview with `lowband reminders due --at` instead")
    chosen = transport(s)
    service = conversation_service(s)
    rt = runtime()
    while True:
        try:
            report = dispatch_once(rt.store(), chosen, now=moment, status_callback=status_callback_url(s),
                                   service=service, refill_wait_hours=s.refill_wait_hours,
                                   ack_wait=timedelta(minutes=s.alert_ack_minutes), voice_base=s.public_base)
            click.echo(f"Outbox: {report}.")
        except AnotherDispatcher as waiting:
            # Exactly one dispatcher acts at a time; this one takes over when that lease lapses.
            click.echo(f"Waiting: {waiting}.", err=True)
        if once:
            from scheduler.dispatcher import give_up

            give_up(rt.store())  # a pass from cron must not keep the next one waiting a minute
            return
        time.sleep(interval)
