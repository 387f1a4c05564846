"""`lowband gateway status|test`: is the clinic's SMS line working?

Only the dispatcher talks to the devices (a modem's serial port has one owner), so
`status` reads what the dispatcher last found, and `test` puts one message in the
outbox and, when no dispatcher is running, runs one pass itself to send it."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime

import click

from flows.enrolment import clean_phone
from lowband.cli.base import runtime, settings, store
from scheduler.dispatcher import LEASE_NAME, TRANSPORTS_SEEN, note_transports

WAIT_SECONDS = 60  # for a running dispatcher to send the test message


@click.group()
def gateway() -> None:
    """Check the SMS line: Twilio, the clinic's Android phone or its USB modem."""


@gateway.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def gateway_status(as_json: bool) -> None:
    """Which transports are up, as the dispatcher last found them."""
    s, st = settings(), store()
    seen = st.meta_get(TRANSPORTS_SEEN)
    found = json.loads(seen) if seen else None
    if as_json:
        click.echo(json.dumps({"order": list(s.transports), "seen": found}))
        return
    click.echo(f"Order: {', '.join(s.transports)} (the first that is up sends).")
    if found is None:
        click.echo("No dispatcher has looked yet: start `lowband serve` (or `lowband dispatch`).")
        return
    age = (st.now() - datetime.fromisoformat(found["at"])).total_seconds()
    for item in found["transports"]:
        click.echo(f"  {item['name']:<8} {'up' if item['up'] else 'DOWN':<5} {item['said']}")
    click.echo(f"Seen {int(age)} s ago" + (" (is the dispatcher running?)" if age > 300 else "") + ".")


@gateway.command("test")
@click.option("--to", "phone", required=True, help="Your own phone: one SMS should arrive on it.")
def gateway_test(phone: str) -> None:
    """Send one test SMS through the configured line and say how it went."""
    from lowband.wiring import conversation_service, transport
    from scheduler.dispatcher import AnotherDispatcher, dispatch_once, give_up

    s, st = settings(), store()
    e164 = clean_phone(phone, s.region)
    with st.write():
        message = st.outbox.enqueue(e164, f"{s.clinic_name}: a test message from Lowband. No reply needed.", "reply")
        st.audit.record("cli", "gateway.test", f"message:{message.id}")
    holder = st.leases.holder(LEASE_NAME)
    if holder is None or holder[1] <= st.now_iso():
        chosen = transport(s)
        with contextlib.suppress(AnotherDispatcher):  # one started meanwhile: it sends it
            dispatch_once(runtime().store(), chosen, service=conversation_service(s))
            note_transports(st, chosen, st.now(), force=True)
            give_up(runtime().store())
            sent = st.outbox.get(message.id)
            if sent.status not in ("sent", "delivered"):
                # Our own pass could not send it: say why now, and never let a test SMS go
                # out hours later when the line comes back.
                with st.write():
                    st.outbox.mark_failed(message.id, f"test withdrawn: {sent.error or sent.status}", retry_at=None)
                raise click.ClickException(f"not sent: {sent.error or sent.status}")
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        sent = st.outbox.get(message.id)
        if sent.status not in ("queued", "sending") or time.monotonic() > deadline:
            break
        time.sleep(1)
    if sent.status in ("sent", "delivered"):
        click.echo(f"Sent through {sent.transport or 'the line'}: check that {phone} received it.")
        return
    if sent.status in ("queued", "sending"):
        raise click.ClickException(f"not sent within {WAIT_SECONDS} s; it waits in the outbox "
                                   "(`lowband outbox`); is the dispatcher running?")
    raise click.ClickException(f"not sent: {sent.error or sent.status}")
