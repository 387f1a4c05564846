"""The texts on the SIM, joined from their parts, until Lowband has stored them.

Parts of one long text arrive one by one, in any order, between other people's texts;
they are joined by sender and concatenation reference. A text is offered once all its
parts are here, or, when one never comes, with what arrived after INCOMPLETE_AFTER.

Each text's id is made from what the network put in it (sender, time stamp, reference),
never the SIM's storage index, which the SIM reuses once a message is deleted: the same
text read again (after a restart, a dropped line) has the same id, so Lowband takes it
once. The id is a digest: it carries no phone number.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sms_gateway.gateway import ReceivedText
from sms_gateway.modem.pdu import Deliver

INCOMPLETE_AFTER = 3600.0  # seconds a long text waits for a missing part


@dataclass(frozen=True)
class _Part:
    index: int
    message: Deliver
    seen_at: float


@dataclass(frozen=True)
class Offer:
    text: ReceivedText
    parts: tuple[tuple[int, str], ...]  # (SIM index, PDU) of each part, to delete once stored


def _digest(*fields: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, fields)).encode()).hexdigest()[:24]


def _joined(parts: list[Deliver]) -> str:
    """Parts in order; UCS-2 parts joined as bytes first, so a surrogate pair a phone cut
    in two reads whole."""
    out: list[str] = []
    raw = b""
    for part in parts:
        if part.ucs2 is not None:
            raw += part.ucs2
            continue
        if raw:
            out.append(raw.decode("utf-16-be", errors="replace"))
            raw = b""
        out.append(part.text)
    if raw:
        out.append(raw.decode("utf-16-be", errors="replace"))
    return "".join(out)


class Inbox:
    def __init__(self, incomplete_after: float = INCOMPLETE_AFTER):
        self.incomplete_after = incomplete_after
        self._parts: dict[int, _Part] = {}

    def __len__(self) -> int:
        return len(self._parts)

    def add(self, index: int, message: Deliver, now: float) -> None:
        known = self._parts.get(index)
        if known is not None and known.message.pdu == message.pdu:
            return  # seen before: it keeps the time it was first seen
        self._parts[index] = _Part(index, message, now)

    def keep_only(self, indexes: set[int]) -> None:
        """What the SIM lists now: anything else was deleted meanwhile."""
        for index in set(self._parts) - indexes:
            del self._parts[index]

    def holds(self, index: int, pdu: str) -> bool:
        part = self._parts.get(index)
        return part is not None and part.message.pdu == pdu

    def remove(self, index: int) -> None:
        self._parts.pop(index, None)

    def ready(self, now: float) -> list[Offer]:
        """Every text ready to hand over (again, until it is removed)."""
        groups: dict[tuple, list[_Part]] = {}
        for part in sorted(self._parts.values(), key=lambda p: p.index):
            concat = part.message.concat
            if concat is None or concat.total < 2:
                key: tuple = ("single", part.index)
            else:
                key = ("long", part.message.sender, concat.reference, concat.total)
            groups.setdefault(key, []).append(part)
        offers = []
        for key, parts in groups.items():
            if key[0] == "single":
                message = parts[0].message
                gateway_id = _digest(message.sender, message.stamp, message.pdu)
                text = message.text
            else:
                total = key[3]
                by_sequence: dict[int, _Part] = {}
                for part in parts:
                    by_sequence.setdefault(part.message.concat.sequence, part)
                complete = set(range(1, total + 1)) <= set(by_sequence)
                if not complete and now - min(p.seen_at for p in parts) < self.incomplete_after:
                    continue
                in_order = [by_sequence[s].message for s in sorted(by_sequence)]
                gateway_id = _digest(key[1], key[2], total, min(p.message.stamp for p in parts))
                text = _joined(in_order)
                message = in_order[0]
            stamps = [p.message.timestamp for p in parts if p.message.timestamp is not None]
            received = ReceivedText(gateway="modem", gateway_id=gateway_id, sender=message.sender, body=text,
                                    received_at=min(stamps) if stamps else None)
            offers.append(Offer(received, tuple((p.index, p.message.pdu) for p in parts)))
        return offers
