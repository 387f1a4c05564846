"""Texting the clinic through the real webhook from tests, a few seconds apart (as
people type), and seeing what each text queued for other people."""

from __future__ import annotations

from datetime import timedelta

TYPING = timedelta(seconds=10)


class Line:
    def __init__(self, twilio, clock, store=None):
        self.twilio, self.clock, self.store = twilio, clock, store

    def send(self, sender: str, body: str):
        reply = self.twilio.sms(sender, body)
        assert reply.status == 200 and reply.content_type == "text/xml", reply.raw
        self.clock.now += TYPING
        return reply

    def text(self, sender: str, body: str) -> list[str]:
        return self.send(sender, body).messages

    def queued(self, sender: str, *bodies: str) -> list:
        """Send the texts; return the outbox messages they queued."""
        before = {m.id for m in self.store.outbox.list()}
        for body in bodies:
            self.text(sender, body)
        return [m for m in self.store.outbox.list() if m.id not in before]

    def to(self, phone: str) -> list[str]:
        return [m.body for m in self.store.outbox.list() if m.phone == phone]
