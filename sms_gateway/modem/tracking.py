"""Status reports matched to the messages we sent.

The modem numbers each SMS it sends (the message reference, `+CMGS: <mr>`, 0-255 and
then round again); a status report names that number and the recipient. A message of
several parts is delivered when every part is, and failed as soon as one part fails.
A reference seen again belongs to the newer message. Kept in memory for KEPT seconds:
a report for a message sent before the gateway restarted is not matched (the message
stays "sent"), never matched to the wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sms_gateway.gateway import StateReport
from sms_gateway.modem.pdu import StatusReport

KEPT = 3 * 86400.0

# 23.040 §9.2.3.15, in words an admin can act on.
_FAILURES = {
    0x40: "remote procedure error", 0x41: "incompatible destination", 0x42: "connection rejected by the phone",
    0x43: "not obtainable", 0x44: "quality of service not available", 0x45: "no interworking available",
    0x46: "validity period expired", 0x47: "deleted by the sender", 0x48: "deleted by the network",
    0x49: "the message does not exist", 0x60: "network congestion", 0x61: "the phone was busy",
    0x62: "no response from the phone", 0x63: "service rejected", 0x65: "error in the phone",
}


def _same_number(a: str, b: str) -> bool:
    """National and international forms of one number agree on their last digits."""
    a_digits, b_digits = "".join(filter(str.isdigit, a)), "".join(filter(str.isdigit, b))
    tail = min(9, len(a_digits), len(b_digits))
    return tail > 0 and a_digits[-tail:] == b_digits[-tail:]


@dataclass
class _Sent:
    provider_sid: str
    recipient: str
    at: float
    parts: dict[int, bool | None] = field(default_factory=dict)  # reference -> delivered?


class Outstanding:
    def __init__(self, kept: float = KEPT):
        self.kept = kept
        self._by_reference: dict[int, _Sent] = {}

    def sent(self, provider_sid: str, recipient: str, references: list[int], now: float) -> None:
        sent = _Sent(provider_sid, recipient, now, {ref: None for ref in references})
        for reference in references:
            self._by_reference[reference] = sent
        self._prune(now)

    def report(self, report: StatusReport, now: float) -> StateReport | None:
        """The state this report moves its message to, if it is the last word on it."""
        sent = self._by_reference.get(report.reference)
        if sent is None or not _same_number(sent.recipient, report.recipient) or not report.final:
            return None
        sent.parts[report.reference] = report.delivered
        if not report.delivered:
            self._forget(sent)
            why = _FAILURES.get(report.status, f"status 0x{report.status:02X}")
            return StateReport(sent.provider_sid, "failed", f"status report: {why}")
        if all(sent.parts.values()):
            self._forget(sent)
            return StateReport(sent.provider_sid, "delivered")
        return None

    def _forget(self, sent: _Sent) -> None:
        for reference in sent.parts:
            if self._by_reference.get(reference) is sent:
                del self._by_reference[reference]

    def _prune(self, now: float) -> None:
        for reference, sent in list(self._by_reference.items()):
            if now - sent.at > self.kept:
                del self._by_reference[reference]
