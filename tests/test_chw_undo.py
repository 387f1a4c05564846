"""A CHW's UNDO takes back the latest of a REG and a relay, even within one second."""

from __future__ import annotations

import re

CHW = "+254700100103"


def test_undo_takes_back_a_relay_sent_the_same_second_as_a_reg(twilio, store):
    with store.write():
        store.staff.add(role="chw", name="Grace Achieng", phone=CHW)

    [registered] = twilio.sms(CHW, "REG Juma Ali M 1950").messages
    short_id = re.search(r"as (\d+)\.", registered).group(1)
    twilio.sms(CHW, f"BP {short_id} 190/125")  # the clock has not moved: the same second
    assert twilio.sms(CHW, "UNDO").messages == [f"Removed BP 190/125 for {short_id}."]
    patient = store.patients.by_short_id(short_id)
    assert patient is not None and patient.active
