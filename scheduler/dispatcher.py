"""The dispatcher: one interval job, never two at once, that drains the outbox.

One job (not one per message) keeps the schedule itself out of the database's way:
the outbox table is the queue, so a restart loses nothing and sends nothing twice.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from flows.service import ConversationService
from scheduler.adherence import follow_up as follow_up_adherence
from scheduler.escalation import ACK_WAIT, follow_alerts
from scheduler.overdue import flag_waiting_refills
from scheduler.reminders import send_due as send_due_reminders
from sms_gateway.gateway import take_in
from sms_gateway.sender import DrainReport, drain
from sms_gateway.transports import Transport, TransportError
from storage import Store

log = logging.getLogger("lowband.scheduler")

LEASE_NAME = "dispatcher"
LEASE = timedelta(seconds=60)


class AnotherDispatcher(Exception):  # noqa: N818 (a state, not a failure)
    """Another process is the dispatcher now; this one waits its turn."""


def give_up(store: Store) -> None:
    """A dispatcher stopping cleanly lets the next one start at once, not a minute later."""
    with store.write():
        store.leases.give_up(LEASE_NAME, holder())


def holder() -> str:
    """This process, as the lease names it (asked each time: a forked worker is another)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def dispatch_once(
    store: Store,
    transport: Transport,
    *,
    now: datetime | None = None,
    status_callback: str | None = None,
    service: ConversationService | None = None,
    refill_wait_hours: int = 24,
    ack_wait: timedelta = ACK_WAIT,
    voice_base: str | None = None,
) -> DrainReport:
    """One pass: flag requests waiting too long (their notes join the outbox), then
    send what the outbox holds. Raises AnotherDispatcher while another process holds
    the dispatcher's lease (it is renewed on every pass, and lapses LEASE after a holder
    stops or is killed)."""
    with store.write():
        if not store.leases.take(LEASE_NAME, holder(), store.now(), LEASE):
            current = store.leases.holder(LEASE_NAME)
            raise AnotherDispatcher(f"another dispatcher ({current[0]}) is running until {current[1]}")
    if service is not None:
        # What the clinic's own SIM received since the last pass: answered in this pass.
        for gateway in receiving(transport):
            try:
                take_in(store, service, gateway, service.config.region)
            except TransportError as error:
                log.warning("gateway %s: %s", gateway.name, error)
            except Exception as error:  # whatever a device does, the outbox still goes out  # noqa: BLE001
                log.error("gateway %s: %s", gateway.name, type(error).__name__)
        flag_waiting_refills(store, service, now or store.now(), refill_wait_hours)
        reminded = send_due_reminders(store, service, now or store.now())
        if reminded.sent or reminded.missed:
            log.info("reminders: %d sent, %d missed", len(reminded.sent), len(reminded.missed))
        followed = follow_up_adherence(store, service, now or store.now())
        if followed.chw_told or followed.nudged:
            log.info("adherence: %d flagged to CHWs, %d nudged", len(followed.chw_told), len(followed.nudged))
    # Alerts whose messages failed since the last pass (a late carrier report) are
    # passed on first; and an alert passed on while draining (its messages refused) has
    # the next people's messages sent in this same pass.
    followed = follow_alerts(store, now, ack_wait)
    report = drain(store, transport, now=now, status_callback=status_callback, voice_base=voice_base)
    for _ in range(2):
        more = follow_alerts(store, now, ack_wait)
        followed.passed_on += more.passed_on
        followed.undelivered += more.undelivered
        if not more.passed_on:
            break
        report += drain(store, transport, now=now, status_callback=status_callback, voice_base=voice_base)
    if followed.passed_on or followed.undelivered or followed.escalated:
        log.warning("alerts passed on: %s; undelivered: %s; not acknowledged, escalated: %s",
                    followed.passed_on, followed.undelivered, followed.escalated)
    if report.sent or report.failed or report.retrying:
        log.info("outbox: %s", report)
    note_transports(store, transport, now or store.now())
    return report


TRANSPORTS_SEEN = "transports_seen"  # meta: what the dispatcher last found of each transport
SEEN_EVERY = timedelta(seconds=30)


def note_transports(store: Store, transport: Transport, now: datetime, *, force: bool = False) -> None:
    """Keep what each transport last said (up or not, and why) where /healthz and
    `lowband gateway status` read it: only the dispatcher talks to the devices (a modem's
    port has one owner), so the others must not ask them."""
    seen = store.meta_get(TRANSPORTS_SEEN)
    if seen and not force and now - datetime.fromisoformat(json.loads(seen)["at"]) < SEEN_EVERY:
        return
    with store.write():
        store.meta_set(TRANSPORTS_SEEN, json.dumps({"at": now.isoformat(), "transports": transport_status(transport)}))


def transport_status(transport: Transport) -> list[dict]:
    if hasattr(transport, "transports"):  # the failover list: each, and whether it rests
        return [{"name": name, "up": up, "said": said} for name, up, said in transport.status()]
    try:
        up, said = transport.status() if hasattr(transport, "status") else (True, "ready")
    except Exception as error:  # a device that cannot say is down  # noqa: BLE001
        up, said = False, type(error).__name__
    return [{"name": transport.name, "up": up, "said": said}]


def nudge(scheduler: BackgroundScheduler) -> None:
    """Run the dispatcher's pass now, not at its next tick: a text a gateway's webhook
    brought has its reply waiting in the outbox."""
    try:
        scheduler.modify_job("dispatch", next_run_time=datetime.now().astimezone())
    except Exception:  # stopped meanwhile: the reply goes at the next start  # noqa: BLE001
        log.debug("no dispatcher to nudge")


def receiving(transport: Transport) -> list:
    """The transports that also receive (a gateway: the clinic's own SIM)."""
    return [t for t in getattr(transport, "transports", [transport]) if hasattr(t, "poll")]


def start(
    store_for_thread: Callable[[], Store],
    transport: Transport,
    *,
    interval_seconds: float = 5.0,
    status_callback: str | None = None,
    service: ConversationService | None = None,
    refill_wait_hours: int = 24,
    ack_wait: timedelta = ACK_WAIT,
    voice_base: str | None = None,
) -> BackgroundScheduler:
    """Start the background dispatcher; call `.shutdown()` to stop it."""

    def job() -> None:
        try:
            dispatch_once(store_for_thread(), transport, status_callback=status_callback, service=service,
                          refill_wait_hours=refill_wait_hours, ack_wait=ack_wait, voice_base=voice_base)
        except AnotherDispatcher as waiting:
            log.debug("%s", waiting)  # it takes over when that one's lease lapses
        except Exception:  # keep the scheduler alive; the next run retries
            log.exception("dispatch failed")

    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(
        job, "interval", seconds=interval_seconds, id="dispatch", max_instances=1, coalesce=True,
        next_run_time=datetime.now().astimezone(),
    )
    scheduler.start()
    return scheduler
