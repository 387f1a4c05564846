"""The console's pages. Every route checks the signed-in user's role (console/permissions.py);
every page showing a patient's data leaves an audit entry naming the user and the patient."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from console import auth, operations
from console.actions import COMMANDS, run_command
from console.charts import PLOTTED, trend_chart
from console.guard import needs
from flows.enrolment import EnrolmentError, clean_phone
from flows.readings import Reading, format_reading
from flows.service import ConversationService
from storage import Store
from storage.errors import NotFound

SHOWN_READINGS = 60
SAFE_BACK = re.compile(r"/console/[A-Za-z0-9/_-]*")  # where an action may return: our own pages only
# Which part of the console each kind of reference belongs to.
PART_OF = {"alert": "alerts", "consult": "consults", "refill": "refills"}


def create_blueprint(get_store: Callable[[], Store], service: ConversationService) -> Blueprint:
    bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                   static_folder="static", static_url_path="/static")

    def local(moment: str, zone: str | None = None) -> str:
        """A time with its zone: the clinic's on lists, the patient's on their own page."""
        tz = ZoneInfo(zone or service.config.time_zone)
        return datetime.fromisoformat(moment).astimezone(tz).strftime("%d/%m %H:%M %Z")

    def patient_label(store: Store, patient_id: int | None) -> tuple[str, str]:
        if patient_id is None:
            return "", "not yet known"
        patient = store.patients.get(patient_id)
        return patient.short_id, patient.name

    @bp.route("/sign-in", methods=["GET", "POST"])
    def sign_in():
        problem = None
        if request.method == "POST":
            store = get_store()
            with store.write():
                user, problem = auth.sign_in(store, request.form.get("email", ""), request.form.get("password", ""))
            if user is not None:
                session.clear()
                session.permanent = True  # ends after an idle hour (console.app.IDLE)
                login_user(user)
                return redirect(url_for("console.home"))
        return render_template("sign_in.html", problem=problem), (401 if problem else 200)

    @bp.post("/sign-out")
    @login_required
    def sign_out():
        # A new stamp ends this session wherever a copy of its cookie is (a cookie is
        # signed, not stored: deleting the browser's copy alone would not end it). It
        # signs the user out of their other browsers too.
        store = get_store()
        with store.write():
            store.console_logins.new_stamp(current_user.staff_id)
        logout_user()
        session.clear()
        return redirect(url_for("console.sign_in"))

    @bp.get("/")
    @login_required
    def home():
        store = get_store()
        alerts = consults = refills = []
        if current_user.may("alerts"):
            alerts = [(a, *patient_label(store, a.patient_id), local(a.created_at)) for a in store.alerts.list("open")]
        if current_user.may("consults"):
            consults = [(c, *patient_label(store, c.patient_id), local(c.created_at))
                        for c in store.consults.list("open")]
        if current_user.may("refills"):
            refills = [(r, *patient_label(store, r.patient_id), local(r.created_at),
                        store.medications.get(r.medication_id).label) for r in store.refills.list("requested")]
        shown = {row[1] for rows in (alerts, consults, refills) for row in rows if row[1]}
        audit_shown(store, "console.needs_me_viewed", shown)
        return render_template("home.html", alerts=alerts, consults=consults, refills=refills)

    @bp.post("/<kind>/<ref>/<action>")
    @login_required
    def act(kind: str, ref: str, action: str):
        if kind not in PART_OF or action not in COMMANDS:
            abort(404)
        if not current_user.may(PART_OF[kind]):
            abort(403)
        words = " ".join(request.form.get("words", "").split())
        if action in ("reply", "decline") and not words:
            flash(f"{ref}: write the words to send first.")
        else:
            replies = run_command(get_store(), service, current_user, COMMANDS[action](ref, words))
            for reply in replies:
                flash(reply)
            if not replies:  # never the impression that advice went out when it did not
                flash(f"{ref}: nothing was done. Try again, or text the command from your phone.")
        back = request.form.get("back", "")
        return redirect(back if SAFE_BACK.fullmatch(back) else url_for("console.home"))

    @bp.get("/consults/<ref>")
    @needs("consults")
    def consult(ref: str):
        store = get_store()
        found = store.consults.by_ref(ref)
        if found is None:
            abort(404)
        short_id, name = patient_label(store, found.patient_id)
        with store.write():
            store.audit.record(f"staff:{current_user.staff_id}", "console.consult_viewed", f"patient:{short_id}",
                               f"consult={found.ref}")
        return render_template("consult.html", consult=found, short_id=short_id, name=name,
                               opened=local(found.created_at),
                               replies=[(local(r["at"]), r["words"]) for r in found.summary.get("replies", [])])

    @bp.get("/patients")
    @needs("patients")
    def patients():
        store = get_store()
        query = request.args.get("q", "").strip()
        found = [p for p in (find_patients(store, query, service.config.region) if query else [])
                 if in_panel(store, p)]
        audit_shown(store, "console.patients_found", {p.short_id for p in found})
        return render_template("patients.html", query=query, found=found)

    @bp.get("/patients/<short_id>")
    @needs("readings")
    def patient(short_id: str):
        store = get_store()
        found = store.patients.by_short_id(short_id, include_closed=True)
        if found is None:
            abort(404)
        if not in_panel(store, found):
            abort(403)
        readings = store.readings.newest_for(found.id, SHOWN_READINGS)
        charts = {kind: trend_chart(kind, readings, service.rules, found.time_zone) for kind in PLOTTED}
        medicines = store.medications.for_patient(found.id)
        adherence = store.reminders.adherence(found.id, "")
        reminders = store.reminders.for_patient(found.id)
        requests = patient_requests(store, found.id)
        # What the phone was sent is clinical (advice, refills): for those who read consults.
        messages = store.outbox.to_phone(found.phone) if found.phone and current_user.may("consults") else []
        on_phone = store.patients.with_phone(found.phone) if found.phone else []
        sharing = len(on_phone)
        with store.write():
            store.audit.record(f"staff:{current_user.staff_id}", "console.patient_viewed", f"patient:{found.short_id}")
        if messages:  # a shared phone's messages are everyone's on it: each is named
            audit_shown(store, "console.phone_messages_viewed", {p.short_id for p in on_phone} - {found.short_id})
        return render_template(
            "patient.html", patient=found, charts=charts, medicines=medicines, adherence=adherence,
            reminders=reminders, requests=requests, local=lambda m: local(m, found.time_zone),
            messages=messages, sharing=sharing,
            readings=[(local(r.taken_at, found.time_zone), r) for r in readings])

    operations.add_routes(bp, get_store, local)

    @bp.app_template_filter("sender")
    def sender(submitted_by: str) -> str:
        """Who sent a reading: the patient, or the CHW (by name) who relayed it."""
        kind, _, key = submitted_by.partition(":")
        if kind == "staff" and key.isdigit():
            try:
                return f"CHW {get_store().staff.get(int(key)).name}"
            except NotFound:
                return "staff"
        return "patient" if kind == "patient" else kind

    @bp.app_template_filter("reading")
    def reading_text(reading) -> str:
        """As replies echo it: "BP 150/95 P72", "GLU 7.2"."""
        try:
            return format_reading(Reading(reading.kind, reading.measured))
        except (KeyError, TypeError, ValueError):
            return reading.kind  # a kind this version does not know: never a failed page

    @bp.errorhandler(403)
    def forbidden(error):
        return render_template("message.html", title="Not for your role",
                               text="Your role does not give access to this page."), 403

    return bp


def in_panel(store: Store, patient) -> bool:
    """A CHW supervisor sees the patients of the CHWs they supervise, and no others."""
    if current_user.role != "chw_supervisor":
        return True
    return patient.chw_id is not None and patient.chw_id in store.staff.supervised_by(current_user.staff_id)


def audit_shown(store: Store, action: str, short_ids: set[str]) -> None:
    """One entry per patient whose data a page showed, naming the user and the patient."""
    if not short_ids:
        return
    with store.write():
        for short_id in sorted(short_ids):
            store.audit.record(f"staff:{current_user.staff_id}", action, f"patient:{short_id}")


def find_patients(store: Store, query: str, region: str | None) -> list:
    """By short ID, by phone (its keyed index: no table scan), or by part of a name (names
    are sealed: the name column alone is opened, once per search, never per keystroke)."""
    by_id = store.patients.by_short_id(query, include_closed=True)
    if by_id is not None:
        return [by_id]
    if sum(ch.isdigit() for ch in query) >= 6:
        try:
            return store.patients.with_phone(clean_phone(query, region))
        except EnrolmentError:
            return []
    wanted = query.casefold()
    if len(wanted) < 2:
        return []
    ids = [pid for pid, name in store.patients.names() if wanted in name.casefold()]
    return [store.patients.get(pid) for pid in ids[:50]]


def patient_requests(store: Store, patient_id: int) -> list[tuple[str, str, str, str]]:
    """(kind, ref, status, created) of the patient's consults and refills, newest first."""
    rows = store.execute(
        "SELECT 'consult', ref, status, created_at FROM consults WHERE patient_id = ? UNION ALL "
        "SELECT 'refill', ref, status, created_at FROM refills WHERE patient_id = ? ORDER BY 4 DESC",
        (patient_id, patient_id)).fetchall()
    return [tuple(r) for r in rows]
