"""Every urgent alert reaches a person, and someone knows when it does not.

With the transport failing for good, an urgent alert goes to the clinician on call,
then to the other clinicians, then to the admin, and is recorded undelivered; no
message tells the patient a clinician was told. With a transport that works, the alert
is reached at the first try and goes no further."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from scheduler.dispatcher import dispatch_once
from sms_gateway.transports import SendResult, TransportError
from tests.helpers.conversation_script import ScriptRunner

ON_CALL, BACKUP, ADMIN = "+254700100101", "+254700100105", "+254700100107"
AMINA = "+254712345678"


@pytest.fixture
def store(sms_app):
    """The app's own store, on the test's clock (escalations queue at 'now')."""
    return sms_app.extensions["lowband"].store()


class FailingForGood:
    name = "failing"

    def __init__(self):
        self.tried: list[str] = []

    def send(self, phone, body, *, status_callback=None, **_):
        self.tried.append(phone)
        raise TransportError("number unreachable", retryable=False)


class Working:
    name = "working"

    def __init__(self):
        self.sent: list[str] = []

    def send(self, phone, body, *, status_callback=None, **_):
        self.sent.append(phone)
        return SendResult(f"SM{len(self.sent):032x}")


def clinic(store, run_cli):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=ON_CALL)
        store.staff.add(role="clinician", name="Kevin Mutua", phone=BACKUP)
        store.staff.add(role="admin", name="Faith Njeri", phone=ADMIN)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent"])
    # Wanjiru has the shift now; Kevin is the backup.
    assert run_cli("users", "oncall", "add", "--phone", ON_CALL, "--from", "2026-11-22T00:00+00:00",
                   "--until", "2026-11-23T00:00+00:00").exit_code == 0


def test_an_alert_nobody_can_receive_goes_up_the_line_and_is_recorded_undelivered(twilio, store, clock, run_cli):
    clinic(store, run_cli)
    replies = twilio.sms(AMINA, "BP 190/125").messages
    assert not any("told" in r.lower() for r in replies), replies
    transport = FailingForGood()
    for _ in range(4):
        dispatch_once(store, transport, now=clock.now)
        clock.now += timedelta(minutes=1)
    assert transport.tried == [ON_CALL, BACKUP, ADMIN]
    [alert] = store.alerts.list()
    assert (alert.delivery, alert.tier) == ("undelivered", 2)
    assert "alert.undelivered" in [e.action for e in store.audit.entries()]
    bodies = {m.body for m in store.outbox.list() if m.purpose == "alert"}
    assert len(bodies) == 1 and next(iter(bodies)).startswith(f"URGENT {alert.ref}:")


def test_an_alert_a_carrier_takes_goes_no_further(twilio, store, clock, run_cli):
    clinic(store, run_cli)
    twilio.sms(AMINA, "BP 190/125")
    transport = Working()
    for _ in range(3):
        dispatch_once(store, transport, now=clock.now)
        clock.now += timedelta(minutes=1)
    assert transport.sent == [ON_CALL]
    [alert] = store.alerts.list()
    assert (alert.delivery, alert.tier) == ("reached", 0)


def test_a_carrier_reporting_undelivered_later_passes_the_alert_on(twilio, store, clock, run_cli):
    clinic(store, run_cli)
    twilio.sms(AMINA, "BP 190/125")
    transport = Working()
    dispatch_once(store, transport, now=clock.now)
    assert twilio.status("SM" + f"{1:032x}", "undelivered", ErrorCode="30003").status == 204
    dispatch_once(store, transport, now=clock.now + timedelta(minutes=1))
    assert transport.sent == [ON_CALL, BACKUP]


def test_with_nobody_on_call_the_alert_goes_straight_to_the_admin(twilio, store, clock):
    with store.write():
        store.staff.add(role="admin", name="Faith Njeri", phone=ADMIN)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent"])
    twilio.sms(AMINA, "BP 190/125")
    assert [m.phone for m in store.outbox.list() if m.purpose == "alert"] == [ADMIN]


def test_lowband_alerts_shows_an_undelivered_alert(twilio, store, clock, run_cli):
    clinic(store, run_cli)
    twilio.sms(AMINA, "BP 190/125")
    for _ in range(4):
        dispatch_once(store, FailingForGood(), now=clock.now)
        clock.now += timedelta(minutes=1)
    result = run_cli("alerts", "--undelivered")
    assert result.exit_code == 0 and "UNDELIVERED" in result.stdout, result.output
    [row] = [json.loads(line) for line in run_cli("alerts", "--json").stdout.splitlines()]
    assert row["delivery"] == "UNDELIVERED"


def test_an_alert_queued_to_someone_deactivated_goes_on_to_the_next_people(twilio, store, clock, run_cli):
    """A clinician reported a lost phone: their queued alert must not be sent to it."""
    clinic(store, run_cli)
    twilio.sms(AMINA, "BP 190/125")
    assert run_cli("users", "deactivate", ON_CALL).exit_code == 0
    transport = Working()
    dispatch_once(store, transport, now=clock.now)
    assert transport.sent == [BACKUP]
    [alert] = store.alerts.list()
    assert alert.delivery == "reached"


def test_an_alert_handled_while_passed_on_wakes_nobody_else(twilio, store, clock, run_cli):
    clinic(store, run_cli)
    twilio.sms(AMINA, "BP 190/125")
    dispatch_once(store, FailingForGood(), now=clock.now)  # on call failed: the backup's SMS is queued
    [alert] = store.alerts.list()
    assert twilio.sms(ON_CALL, f"{alert.ref} OK").messages == [f"{alert.ref} marked as handled. Thank you."]
    transport = Working()
    dispatch_once(store, transport, now=clock.now + timedelta(minutes=1))
    assert transport.sent == []
    assert store.alerts.by_ref(alert.ref).delivery == "reached"


def test_with_every_pharmacist_stopped_a_refill_goes_to_the_admin(twilio, store, clock):
    with store.write():
        store.staff.add(role="pharmacist", name="Otieno Ouma", phone="+254700100102")
        store.staff.add(role="admin", name="Faith Njeri", phone=ADMIN)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent"])
        store.medications.add(store.patients.by_short_id("4376").id, name="Metformin", dose="500mg", quantity=60)
    twilio.sms("+254700100102", "STOP")
    for body in ("REFILL", "1111", "1", "YES"):
        twilio.sms(AMINA, body)
    assert [m.phone for m in store.outbox.list() if m.purpose == "refill"] == [ADMIN]


def test_a_closed_record_is_not_texted_and_staff_are_told(twilio, store, clock, run_cli):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=ON_CALL)
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent"])
    for body in ("NURSE", "1", "2", "no", "fever"):
        twilio.sms(AMINA, body)
    assert run_cli("patients", "close", "4376", "--reason", "moved away").exit_code == 0
    reply = twilio.sms(ON_CALL, "C1 Drink water.").messages
    assert reply and "cannot get SMS" in reply[0], reply
    assert not [m for m in store.outbox.list() if m.phone == AMINA]
