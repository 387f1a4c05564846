"""A dispatcher pass in tests: the reminders due are queued, then go out through the
console transport (a reminder answers only once it reached the phone)."""

from __future__ import annotations

import io

from scheduler.reminders import send_due as queue_due
from sms_gateway.sender import drain
from sms_gateway.transports import ConsoleTransport


def send_due(store, service, now):
    report = queue_due(store, service, now)
    drain(store, ConsoleTransport(io.StringIO()), now=now, limit=1000)
    return report
