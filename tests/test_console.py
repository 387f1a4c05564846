"""The clinic console as staff use it (Flask's test client; the browser test drives the
same pages in Chromium): signed in, each role sees only what its work needs, every
action is the staff member's own SMS command with its effect and audit entry, and the
pages stay small enough for a phone on a slow link."""

from __future__ import annotations

import pytest

from tests.helpers.console import Console, load_demo_clinic, text_of

CLINICIAN, PHARMACIST, ADMIN = "wanjiru@clinic.example", "otieno@clinic.example", "faith@clinic.example"


@pytest.fixture
def console(installation, app):
    load_demo_clinic(installation)
    return Console(app.test_client())


@pytest.fixture
def store(installation):
    s = installation.store()
    yield s
    s.db.close()


def test_every_page_needs_a_sign_in(console):
    for path in ("/console/", "/console/patients", "/console/patients/7715", "/console/consults/C1"):
        response = console.get(path)
        assert response.status_code == 302 and "/console/sign-in" in response.headers["Location"]


def test_a_wrong_password_is_refused_and_five_lock_the_account(console, store):
    for _ in range(5):
        page = console.post("/console/sign-in", email=CLINICIAN, password="not-the-password")
        assert "Wrong email or password." in text_of(page.get_data(as_text=True))
    # Even the right password waits out the lock, and the answer does not say it is locked
    # (that would tell an attacker the email has an account).
    again = console.post("/console/sign-in", email=CLINICIAN, password="lowband-demo")
    assert again.status_code == 401 and "Wrong email or password." in text_of(again.get_data(as_text=True))
    assert console.get("/console/").status_code == 302
    actions = [r[0] for r in store.execute("SELECT action FROM audit_log WHERE action LIKE 'console.%'")]
    assert actions.count("console.sign_in_failed") == 5 and "console.sign_in" not in actions


def test_a_signed_out_cookie_no_longer_opens_the_console(console):
    console.sign_in(CLINICIAN)
    copied = console.client.get_cookie("session").value
    console.post("/console/sign-out")
    thief = console.client.application.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/console/").status_code == 302


def test_an_action_never_returns_anywhere_but_the_console(console):
    console.sign_in(CLINICIAN)
    for back in ("https://evil.example/", "//evil.example", "/console/\r\nX-Injected: 1", "/console/../x"):
        response = console.client.post("/console/alert/A9/acknowledge", data={"csrf_token": console.token,
                                                                              "back": back})
        assert response.status_code == 302 and response.headers["Location"] == "/console/", back


def test_repeated_clicks_are_never_muted_like_a_texting_robot(console, store):
    console.sign_in(CLINICIAN)
    for _ in range(8):
        console.post("/console/alert/A1/acknowledge")
    page = text_of(console.post("/console/consult/C1/reply", words="Rest and drink water.").get_data(as_text=True))
    assert "your advice is on its way" in page
    assert any(m.purpose == "consult" for m in store.outbox.list())


def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(console):
    page = console.post("/console/sign-in", email="nobody@clinic.example", password="whatever-it-is")
    assert page.status_code == 401 and "Wrong email or password." in text_of(page.get_data(as_text=True))


def test_a_form_without_a_valid_csrf_token_is_refused(console, store):
    console.sign_in(CLINICIAN)
    forged = console.client.post("/console/alert/A1/acknowledge", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and "This form has expired" in text_of(forged.get_data(as_text=True))
    missing = console.client.post("/console/alert/A1/acknowledge")
    assert missing.status_code == 400
    assert store.alerts.by_ref("A1").status == "open"


def test_acknowledging_an_alert_is_the_same_as_texting_it(console, store):
    console.sign_in(CLINICIAN)
    page = text_of(console.post("/console/alert/A1/acknowledge").get_data(as_text=True))
    assert "A1 marked as handled" in page and "No urgent alert open." in page
    alert = store.alerts.by_ref("A1")
    assert alert.status == "acknowledged" and alert.handled_by == store.staff.by_phone("+254700100101").id


def test_a_reply_to_a_consultation_goes_to_the_patient_by_sms(console, store):
    console.sign_in(CLINICIAN)
    page = console.get("/console/consults/C1")
    assert "Fever at night and a headache" in text_of(page.get_data(as_text=True))
    done = console.post("/console/consult/C1/reply", words="Drink water and come in tomorrow.",
                        back="/console/consults/C1")
    assert "your advice is on its way to patient" in text_of(done.get_data(as_text=True))
    [sms] = [m for m in store.outbox.list() if m.purpose == "consult"]
    assert sms.phone == "+254712345678" and "Drink water and come in tomorrow." in sms.body
    asked = console.post("/console/consult/C1/call", back="/console/consults/C1")
    assert "is asked to call the clinic" in text_of(asked.get_data(as_text=True))
    assert any("piga simu" in m.body for m in store.outbox.list() if m.purpose == "consult")  # Amina reads Swahili
    closed = console.post("/console/consult/C1/close", back="/console/consults/C1")
    assert store.consults.by_ref("C1").status == "closed" and closed.status_code == 200


def test_approving_a_refill_texts_the_patient_where_to_collect_it(console, store):
    console.sign_in(PHARMACIST)
    console.post("/console/refill/RF1/approve", words="Main pharmacy")
    assert store.refills.by_ref("RF1").status != "requested"
    [sms] = [m for m in store.outbox.list() if m.purpose == "refill"]
    assert "Main pharmacy" in sms.body


def test_an_empty_decline_is_asked_for_words_and_changes_nothing(console, store):
    console.sign_in(PHARMACIST)
    page = console.post("/console/refill/RF1/decline", words="   ")
    assert "write the words to send first" in text_of(page.get_data(as_text=True))
    assert store.refills.by_ref("RF1").status == "requested"


def test_a_pharmacist_sees_refills_but_not_consultations_or_readings(console, store):
    console.sign_in(PHARMACIST)
    home = text_of(console.get("/console/").get_data(as_text=True))
    assert "Refill requests" in home and "Urgent alerts" not in home and "Consultations" not in home
    assert console.get("/console/consults/C1").status_code == 403
    assert console.get("/console/patients/7715").status_code == 403
    assert console.post("/console/alert/A1/acknowledge").status_code == 403
    assert store.alerts.by_ref("A1").status == "open"


def test_the_patient_page_charts_bp_and_is_audited_with_the_user_and_patient(console, store):
    console.sign_in(CLINICIAN)
    joseph = store.patients.with_phone("+254722300301")[0]
    page = console.get(f"/console/patients/{joseph.short_id}").get_data(as_text=True)
    assert page.count('<circle class="point"') + page.count('<circle class="urgent"') == 16  # 8 readings, 2 lines
    assert page.count('<circle class="urgent"') == 2  # today's 186/122, on both lines
    assert 'class="band"' in page and "BP 186/122" in text_of(page)
    clinician = store.staff.by_phone("+254700100101")
    [entry] = [e for e in store.audit.entries() if e.action == "console.patient_viewed"]
    assert (entry.actor, entry.subject) == (f"staff:{clinician.id}", f"patient:{joseph.short_id}")


def test_the_needs_me_page_audits_each_patient_it_shows(console, store):
    console.sign_in(CLINICIAN)
    clinician = store.staff.by_phone("+254700100101")
    shown = {e.subject for e in store.audit.entries() if e.action == "console.needs_me_viewed"}
    assert {e.actor for e in store.audit.entries() if e.action == "console.needs_me_viewed"} == {
        f"staff:{clinician.id}"}
    joseph, amina = (store.patients.with_phone(p)[0] for p in ("+254722300301", "+254712345678"))
    assert {f"patient:{joseph.short_id}", f"patient:{amina.short_id}"} <= shown


def test_patients_are_found_by_id_phone_or_part_of_a_name(console, store):
    console.sign_in(CLINICIAN)
    joseph = store.patients.with_phone("+254722300301")[0]
    for query in (joseph.short_id, "0722 300 301", "mwangi"):
        page = text_of(console.get(f"/console/patients?q={query}").get_data(as_text=True))
        assert "Joseph Mwangi" in page, query
    assert "Nobody found" in text_of(console.get("/console/patients?q=zzzz").get_data(as_text=True))


def test_every_page_is_small_enough_for_a_slow_link(console, store):
    console.sign_in(ADMIN)
    sheet = len(console.get("/console/static/console.css").data)
    joseph = store.patients.with_phone("+254722300301")[0]
    for path in ("/console/", "/console/patients?q=a", f"/console/patients/{joseph.short_id}", "/console/consults/C1"):
        response = console.get(path)
        assert response.status_code == 200, path
        assert len(response.data) + sheet < 50_000, path


def test_pages_forbid_scripts_framing_and_caching(console):
    response = console.get("/console/sign-in")
    assert "script-src" not in response.headers["Content-Security-Policy"]  # nothing runs but nothing
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    console.sign_in(CLINICIAN)
    cookie = console.client.get_cookie("session")
    assert cookie is not None and cookie.http_only


def test_a_new_password_signs_the_user_out(console, run_cli):
    console.sign_in(CLINICIAN)
    assert console.get("/console/").status_code == 200
    result = run_cli("users", "password", CLINICIAN, input="a-brand-new-password\na-brand-new-password\n")
    assert result.exit_code == 0, result.output
    assert console.get("/console/").status_code == 302
    console.sign_in(CLINICIAN, "a-brand-new-password")
    assert console.get("/console/").status_code == 200


def test_a_deactivated_user_is_signed_out(console, run_cli):
    console.sign_in(CLINICIAN)
    assert run_cli("users", "add", "--role", "clinician", "--name", "Dr Peter Oduya", "--phone",
                   "+254700100109").exit_code == 0  # alerts still reach a clinician
    result = run_cli("users", "deactivate", "+254700100101")
    assert result.exit_code == 0, result.output
    assert console.get("/console/").status_code == 302


def test_the_admin_sees_the_week_and_sends_a_failed_message_again(console, store):
    with store.write():
        message = store.outbox.enqueue("+254712345678", "RF1: your refill is ready.", "refill")
        store.outbox.mark_failed(message.id, "twilio error 30003", retry_at=None)
    console.sign_in(ADMIN)
    week = text_of(console.get("/console/dashboard").get_data(as_text=True))
    assert "Readings in 8" in week and "Urgent alerts 1, 0 acknowledged" in week  # 4 BP and 4 glucose
    assert "Delivery failures 1" in week
    page = text_of(console.get("/console/outbox").get_data(as_text=True))
    assert "twilio error 30003" in page and "your refill" not in page  # the body is masked
    again = text_of(console.post(f"/console/outbox/{message.id}/retry").get_data(as_text=True))
    assert "Queued to send again." in again and store.outbox.get(message.id).status == "queued"
    twice = text_of(console.post(f"/console/outbox/{message.id}/retry").get_data(as_text=True))
    assert "nothing to retry" in twice
    assert [e.action for e in store.audit.entries()].count("outbox.retry") == 1


def test_operations_are_the_admins_alone(console):
    console.sign_in(CLINICIAN)
    for path in ("/console/outbox", "/console/staff", "/console/audit", "/console/dashboard"):
        assert console.get(path).status_code == 403, path
    assert console.post("/console/outbox/1/retry").status_code == 403


def test_the_patient_page_lists_the_messages_sent_to_their_phone(console, store):
    console.sign_in(CLINICIAN)
    console.post("/console/consult/C1/reply", words="Rest and drink water.")
    amina = store.patients.with_phone("+254712345678")[0]
    page = text_of(console.get(f"/console/patients/{amina.short_id}").get_data(as_text=True))
    assert "Rest and drink water." in page and "queued" in page
    assert "This phone is shared by 2 people" in page


def test_a_chw_supervisor_sees_their_chws_patients_only(console, store, run_cli):
    password = "supervisor-password\nsupervisor-password\n"
    assert run_cli("users", "add", "--role", "chw_supervisor", "--name", "Mary Wambui", "--phone", "+254700100105",
                   "--email", "mary@clinic.example", input=password).exit_code == 0
    joseph = store.patients.with_phone("+254722300301")[0]
    console.sign_in("mary@clinic.example", "supervisor-password")
    assert console.get(f"/console/patients/{joseph.short_id}").status_code == 403  # not her CHW's (yet)
    assert "Nobody found" in text_of(console.get("/console/patients?q=Joseph").get_data(as_text=True))
    result = run_cli("users", "set", "+254700100103", "--supervisor", "mary@clinic.example")
    assert result.exit_code == 0, result.output
    assert "Joseph Mwangi" in text_of(console.get("/console/patients?q=Joseph").get_data(as_text=True))
    page = console.get(f"/console/patients/{joseph.short_id}")
    assert page.status_code == 200 and "BP 186/122" in text_of(page.get_data(as_text=True))
    assert console.get("/console/consults/C1").status_code == 403
    assert console.post("/console/alert/A1/acknowledge").status_code == 403


def test_only_a_chw_has_a_supervisor(run_cli, cli_error, console):
    cli_error(run_cli("users", "set", "+254700100101", "--supervisor", "faith@clinic.example"), "only a CHW")
    cli_error(run_cli("users", "set", "+254700100103", "--supervisor", "faith@clinic.example"),
              "not an active CHW supervisor")


def test_two_clinicians_answering_at_the_same_moment_only_one_reaches_the_patient(console, store, app,
                                                                                  run_cli):
    """Clinician B answers C1 while clinician A's answer is being decided: A's is decided
    again, and A is told someone answered first. The patient gets one set of advice."""
    from console.actions import run_command
    from console.auth import load_user
    from lowband.wiring import conversation_service

    assert run_cli("users", "add", "--role", "clinician", "--name", "Dr Peter Oduya", "--phone", "+254700100109",
                   "--email", "peter@clinic.example", input="peter-password\npeter-password\n").exit_code == 0

    def user(phone: str):
        staff_id = store.staff.by_phone(phone).id
        return load_user(store, f"{staff_id}:{store.console_logins.get(staff_id).session_stamp}")

    a, b = user("+254700100101"), user("+254700100109")
    service = conversation_service(app.config["LOWBAND"])
    plan, raced = service._plan, []

    def plan_while_b_answers(*args, **kwargs):
        decided = plan(*args, **kwargs)
        if not raced:
            raced.append("B goes first")
            raced.append(run_command(store, service, b, "C1 Come to the clinic today."))
        return decided

    service._plan = plan_while_b_answers
    told_a = run_command(store, service, a, "C1 Drink water and rest.")
    assert "on its way" in raced[1][0]
    assert told_a[0].startswith("C1 is already answered by")
    advice = [m.body for m in store.outbox.list() if m.purpose == "consult"]
    assert len(advice) == 1 and "Come to the clinic today." in advice[0]
