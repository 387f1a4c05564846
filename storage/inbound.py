"""Inbound messages, by Twilio's id: the record that makes webhooks idempotent."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from storage.errors import StorageError

if TYPE_CHECKING:
    from storage.store import Store


class SidFromAnotherSender(StorageError):
    """A known MessageSid arrived from a phone other than the one that first sent it."""


class InboundRepository:
    def __init__(self, store: Store):
        self.store = store
        # The phone index of the request being handled (set by the webhook): a stored
        # answer is only ever given back to the phone it was first given to.
        self.sender: bytes | None = None

    def bind_sender(self, phone_index: bytes) -> None:
        self.sender = phone_index

    def replies_for(self, message_sid: str, phone_index: bytes | None = None) -> list[str] | None:
        """The replies already given to this message, or None if it is new. Raises
        SidFromAnotherSender when the message was stored for another phone."""
        expected = phone_index if phone_index is not None else self.sender
        row = self.store.one(
            "SELECT id, replies, phone_index FROM inbound_messages WHERE message_sid = ?", (message_sid,)
        )
        if row is None:
            return None
        if expected is not None and not hmac.compare_digest(bytes(row[2]), bytes(expected)):
            raise SidFromAnotherSender("this message id was stored for another phone")
        return self.store.open("inbound_messages", "replies", row[0], row[1]) or []

    def add(self, *, message_sid: str, channel: str, phone_index: bytes, body: str, replies: list[str]) -> int:
        store = self.store
        row_id = store.new_id()
        store.execute(
            "INSERT INTO inbound_messages (id, message_sid, channel, phone_index, body, replies, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                row_id, message_sid, channel, phone_index,
                store.seal("inbound_messages", "body", row_id, body),
                store.seal("inbound_messages", "replies", row_id, replies),
                store.now_iso(),
            ),
        )
        return row_id

    def count(self) -> int:
        return self.store.one("SELECT count(*) FROM inbound_messages")[0]
