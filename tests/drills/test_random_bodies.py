"""Drill: 10,000 random bodies through the signed webhook, from numbers known and
unknown, at whatever step each conversation has reached: never a 5xx, always TwiML that
parses. (tests/test_inbound_fuzz.py checks each step's answers in depth; this one is
about volume and never failing.)"""

from __future__ import annotations

from xml.etree import ElementTree

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.conversation_script import ScriptRunner

SENDERS = ["+254712345678", "+254722300301", "+254733400401", "+254700100101"]


@settings(max_examples=10_000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sender=st.sampled_from(SENDERS), body=st.text(max_size=200))
def test_ten_thousand_random_bodies_never_get_a_5xx(twilio, sms_app, sender, body):
    store = sms_app.extensions["lowband"].store()
    if store.patients.count() == 0:
        with store.write():
            store.staff.add(role="clinician", name="Wanjiru Kamau", phone="+254700100101")
            ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", "+254712345678", "pin=1111", "consent"])
            ScriptRunner.add_patient(store, ["5021", "Joseph Mwangi", "+254722300301", "pin=2222", "consent"])
    reply = twilio.sms(sender, body)
    assert reply.status == 200 or reply.status in (400, 413), reply.raw[:200]
    if reply.status == 200:
        ElementTree.fromstring(reply.raw)  # noqa: S314 (our own TwiML)
        assert "something went wrong" not in reply.raw
