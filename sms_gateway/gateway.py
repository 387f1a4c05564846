"""Gateways: the clinic's own SIM (an Android phone, a USB GSM modem) as an SMS line.

A gateway is a transport (it sends outbox messages) that also receives. What it received
becomes the same inbound message the Twilio webhook makes and goes to the same
conversation service; the replies go out through the outbox (there is no TwiML to carry
them), written in the same transaction as the text itself, so a crash never stores a
text without its replies or sends a reply twice. The gateway's own id for the text
makes a second sight of it (polling and a webhook, or a restart) a duplicate.

The dispatcher holds the one lease that talks to the devices: each pass it asks every
gateway what arrived and what changed (`poll`), hands the texts over, tells the gateway
they are safely stored (`stored`: a modem deletes them from the SIM only then), applies
the state reports, and drains the outbox, replies first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flows.phones import InvalidPhoneNumber, to_e164
from flows.service import ConversationService, Inbound
from sms_gateway.transports import Transport
from storage import Store
from storage.inbound import SidFromAnotherSender

log = logging.getLogger("lowband.gateway")


@dataclass(frozen=True)
class ReceivedText:
    gateway: str  # "android", "modem"
    gateway_id: str  # the gateway's own id for this text: a second sight of it is a duplicate
    sender: str  # as the gateway gave it (E.164 or national)
    body: str
    received_at: datetime | None = None


@dataclass(frozen=True)
class StateReport:
    provider_sid: str  # what the gateway's send() returned for the message
    state: str  # in our words: "sent", "delivered", "failed"
    error: str | None = None


class Gateway(Transport, Protocol):
    def poll(self) -> tuple[list[ReceivedText], list[StateReport]]:
        """What arrived, and what happened to sent messages, since the last poll. Quick:
        it runs on each dispatcher pass. Raises TransportError when the device cannot be
        reached (the pass goes on with the other gateways)."""
        ...

    def stored(self, texts: list[ReceivedText]) -> None:
        """These texts are committed: the device may forget them now."""
        ...

    def status(self) -> tuple[bool, str]:
        """(up, what to tell the clinic's admin), for /healthz and `lowband gateway status`."""
        ...


def receive(store: Store, service: ConversationService, text: ReceivedText, region: str | None) -> str:
    """Hand one received text to the conversation service. Returns "answered",
    "duplicate" (seen before: nothing is done again) or "ignored" (a sender that cannot
    be a phone, like a network's named sender: never answered, a robot may answer back)."""
    try:
        sender = to_e164(text.sender, region)
    except InvalidPhoneNumber:
        return "ignored"
    if not sender.isascii():
        return "ignored"
    # A phone may cut an emoji in two (a lone surrogate): it cannot be stored as UTF-8.
    body = text.body.encode("utf-8", "replace").decode("utf-8")
    store.inbound.bind_sender(store.phone_index(sender))
    try:
        handled = service.handle(store, Inbound(sid=f"{text.gateway}:{text.gateway_id}", sender=sender,
                                                body=body, replies_by_outbox=True))
    except SidFromAnotherSender:
        # The gateway gave one id to texts from two numbers (the Android app's ids are
        # short hashes): the second is not answered with the first's reply, and the pass
        # goes on (an alert behind it must still go).
        log.warning("a gateway id was seen from two senders; the second text was set aside")
        return "ignored"
    return "duplicate" if handled.status == "duplicate" else "answered"


def report_states(store: Store, reports: list[StateReport]) -> None:
    """A state only moves a message forward (storage.outbox.RANK)."""
    if not reports:
        return
    with store.write():
        for report in reports:
            store.outbox.report(report.provider_sid, report.state, report.error)


def take_in(store: Store, service: ConversationService, gateway: Gateway, region: str | None,
            nudge: Callable[[], None] | None = None) -> int:
    """One poll of one gateway: texts handed over, then acknowledged; reports applied.
    Returns how many texts were new."""
    texts, reports = gateway.poll()
    new, taken = 0, []
    for text in texts:
        try:
            new += receive(store, service, text, region) == "answered"
        except Exception as error:  # one text we cannot handle must not stop the line  # noqa: BLE001
            # It stays on the device (offered again next pass) and the pass goes on to send
            # what waits, alerts first. Only its kind is logged: never a number or words.
            log.error("a text from the %s gateway could not be handled: %s", gateway.name, type(error).__name__)
            continue
        taken.append(text)
    gateway.stored(taken)
    report_states(store, reports)
    if new and nudge is not None:
        nudge()
    return new
