"""The admin's pages: messages that need a person, staff, the audit log, and the last
seven days at a glance."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from statistics import median

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from console.guard import needs
from flows.phones import mask
from flows.redact import masked_body
from flows.segments import segments
from storage import Store
from storage.store import iso

DAYS = 7
SHOWN_AUDIT = 200


def add_routes(bp: Blueprint, get_store: Callable[[], Store], local: Callable[[str], str]) -> None:
    @bp.get("/outbox")
    @needs("operations")
    def outbox():
        store = get_store()
        rows = [(m, mask(m.phone), masked_body(m.body), local(m.updated_at)) for m in store.outbox.needing_attention()]
        return render_template("outbox.html", rows=rows, counts=store.outbox.counts())

    @bp.post("/outbox/<int:message_id>/retry")
    @needs("operations")
    def retry(message_id: int):
        store = get_store()
        with store.write():
            done = store.outbox.retry(message_id)
            if done:
                store.audit.record(f"staff:{current_user.staff_id}", "outbox.retry", f"message:{message_id}")
        flash("Queued to send again." if done else "That message is no longer failed: nothing to retry.")
        return redirect(url_for("console.outbox"))

    @bp.get("/staff")
    @needs("operations")
    def staff():
        store = get_store()
        signs_in = {row[0] for row in store.execute("SELECT staff_id FROM console_logins")}
        return render_template("staff.html", users=store.staff.all(), signs_in=signs_in)

    @bp.get("/audit")
    @needs("operations")
    def audit():
        store = get_store()
        names = {f"staff:{u.id}": f"{u.name} ({u.role.replace('_', ' ')})" for u in store.staff.all()}
        entries = list(reversed(store.audit.entries(SHOWN_AUDIT)))  # the newest, opened and no more
        return render_template("audit.html", entries=[(local(e.at), names.get(e.actor, e.actor), e)
                                                      for e in entries])

    @bp.get("/dashboard")
    @needs("operations")
    def dashboard():
        return render_template("dashboard.html", week=last_week(get_store()))


def last_week(store: Store) -> dict:
    """The clinic's last seven days: readings in, alerts and how fast they were
    acknowledged, messages and segments out (what the clinic pays for), failures."""
    since = iso(store.now() - timedelta(days=DAYS))
    readings = store.one("SELECT count(*) FROM readings WHERE taken_at >= ?", (since,))[0]
    alerts = store.execute("SELECT status, created_at, updated_at FROM alerts WHERE created_at >= ?",
                           (since,)).fetchall()
    waits = [(datetime.fromisoformat(done) - datetime.fromisoformat(made)).total_seconds() / 60
             for status, made, done in alerts if status == "acknowledged"]
    sent = store.outbox.created_since(since)
    by_status = Counter(m.status for m in sent)
    return {
        "readings": readings,
        "alerts": len(alerts),
        "acknowledged": len(waits),
        "median_minutes": round(median(waits)) if waits else None,
        "messages": len(sent),
        "segments": sum(segments(m.body) for m in sent if m.channel == "sms"),
        "calls": sum(1 for m in sent if m.channel == "call"),
        "failed": by_status["failed"] + by_status["undelivered"],
    }
