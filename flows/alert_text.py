"""What an alert tells the clinician: one place, for the service and the golden tests."""

from __future__ import annotations

from datetime import datetime

from flows import effects as fx
from flows.care import local_time
from flows.care_rules import CareRules
from flows.engine import Message, msg


def alert_message(effect: fx.RaiseAlert, *, ref: str, patient: tuple[str, str] | None, sender: str, now: datetime,
                  zone: str, rules: CareRules, blocked: bool) -> Message:
    """`patient`: (display name, short ID), None when nobody on the phone could be told
    apart; `blocked`: the sender's own phone is blocked by the carrier, so no advice
    reached them and the clinician must call."""
    params = {"ref": ref, "summary": effect.summary, "time": local_time(now, zone), "phone": sender,
              "count": rules.trend_count, "days": f"{rules.trend_days:g}"}
    if patient is None:
        if effect.relayed:
            who = msg("alert.who_relay", patient_id=effect.candidates[0] if effect.candidates else "?")
        else:
            who = msg("alert.who_shared") if effect.candidates else msg("alert.who_new")
        advice = msg("alert.advice_given" if effect.reachable else "alert.no_sms")
        return msg("alert.clinician_unknown", who=who, action=advice, **params)
    key = "alert.clinician" if effect.reachable and not blocked else "alert.clinician_no_sms"
    name, short_id = patient
    return msg(key if effect.urgent else "alert.trend_clinician", name=name, patient_id=short_id, **params)
