"""Inbound messages, by Twilio's id: the record that makes webhooks idempotent."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.store import Store


class InboundRepository:
    def __init__(self, store: Store):
        self.store = store

    def replies_for(self, message_sid: str) -> list[str] | None:
        """The replies already given to this message, or None if it is new."""
        row = self.store.one("SELECT id, replies FROM inbound_messages WHERE message_sid = ?", (message_sid,))
        if row is None:
            return None
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
