"""Times in alerts are the clinic's: a clinician comparing two alerts reads one clock,
whatever zone each patient lives in. The clinic's zone comes from its country unless
set; a country with several zones gets no guess."""

from __future__ import annotations

import pytest

from lowband.settings import load_settings
from tests.helpers.conversation_script import ScriptRunner

CLINICIAN = "+254700100101"


@pytest.mark.parametrize(("region", "zone"), [("KE", "Africa/Nairobi"), ("UG", "Africa/Kampala"), ("US", "UTC"),
                                              ("CD", "UTC")])
def test_the_clinics_zone_defaults_from_its_country(region, zone):
    assert load_settings({"LOWBAND_REGION": region}).time_zone == zone


def test_a_set_zone_wins():
    assert load_settings({"LOWBAND_REGION": "KE", "LOWBAND_TIME_ZONE": "Africa/Lagos"}).time_zone == "Africa/Lagos"


def test_an_alert_shows_the_clinics_time_not_the_patients(twilio, store, clock):
    with store.write():
        store.staff.add(role="clinician", name="Wanjiru Kamau", phone=CLINICIAN)
        # A patient in Lagos (UTC+1) texting a clinic in Nairobi (UTC+3) at 08:00 UTC.
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", "+254712345678", "pin=1111", "consent",
                                         "tz=Africa/Lagos"])

    twilio.sms("+254712345678", "BP 190/125")
    [alert] = [m.body for m in store.outbox.list() if m.phone == CLINICIAN]
    assert " at 11:00." in alert, alert
