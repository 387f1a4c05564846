"""An urgent alert that reached the clinician on call but that nobody acknowledges is
not left there: after the set time (15 minutes) the backup clinicians are told, then
the admins, each step audited. `A1 OK` stops it. Driven with a given clock."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from scheduler.dispatcher import dispatch_once
from sms_gateway.transports import ConsoleTransport
from storage.store import iso
from tests.helpers.conversation_script import ScriptRunner

ON_CALL, BACKUP, ADMIN, AMINA = "+254700100101", "+254700100109", "+254700100199", "+254712345678"


@pytest.fixture
def clinic(sms_app, clock):
    store = sms_app.extensions["lowband"].store()
    with store.write():
        on_call = store.staff.add(role="clinician", name="Wanjiru Kamau", phone=ON_CALL)
        store.staff.add(role="clinician", name="Peter Otieno", phone=BACKUP)
        store.staff.add(role="admin", name="Mary Admin", phone=ADMIN)
        store.rota.add(on_call.id, iso(clock() - timedelta(hours=1)), iso(clock() + timedelta(hours=8)))
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968"])
    return store


def pass_at(store, clock, minutes: float) -> None:
    """A dispatcher pass `minutes` after the urgent text (the clock moves there)."""
    clock.now = clock.start + timedelta(minutes=minutes)
    dispatch_once(store, ConsoleTransport(io.StringIO()), now=clock.now)


def alerted(store) -> list[str]:
    return [m.phone for m in store.outbox.list() if m.purpose == "alert"]


def test_an_alert_nobody_acknowledges_goes_to_the_backup_then_the_admin(twilio, clinic, clock):
    clock.start = clock.now
    assert "DANGER" in twilio.sms(AMINA, "BP 190/125").messages[0]
    pass_at(clinic, clock, 1)
    assert alerted(clinic) == [ON_CALL]
    pass_at(clinic, clock, 14)
    assert alerted(clinic) == [ON_CALL]  # not yet
    pass_at(clinic, clock, 16)
    assert alerted(clinic) == [ON_CALL, BACKUP]
    pass_at(clinic, clock, 17)
    assert alerted(clinic) == [ON_CALL, BACKUP]  # each step waits its own 15 minutes
    pass_at(clinic, clock, 32)
    assert alerted(clinic) == [ON_CALL, BACKUP, ADMIN]
    pass_at(clinic, clock, 60)
    assert alerted(clinic) == [ON_CALL, BACKUP, ADMIN]  # nobody left: no loop
    assert [e.action for e in clinic.audit.entries()].count("alert.escalated") == 2


def test_an_acknowledged_alert_goes_no_further(twilio, clinic, clock):
    clock.start = clock.now
    twilio.sms(AMINA, "BP 190/125")
    pass_at(clinic, clock, 1)
    clock.now = clock.start + timedelta(minutes=5)
    assert "A1" in twilio.sms(ON_CALL, "A1 OK").messages[0]
    pass_at(clinic, clock, 30)
    assert alerted(clinic) == [ON_CALL]
