"""A console action is the staff member's own SMS command, run through the same
conversation engine as a text from their phone: acknowledging A12 on the console is
"A12 OK" from their number, with the same checks (role, ownership, words that fit one
SMS), the same effects and the same audit entry. What the engine would have texted
back to them is shown on the page instead."""

from __future__ import annotations

import uuid

from flows.service import ConversationService, Inbound
from storage import Store


def run_command(store: Store, service: ConversationService, user, command: str) -> list[str]:
    """The replies the engine gives `user` for `command` (their confirmation, or why not)."""
    store.inbound.bind_sender(store.phone_index(user.phone))
    handled = service.handle(store, Inbound(sid=f"console-{uuid.uuid4().hex}", sender=user.phone, body=command,
                                            from_console=True))
    return handled.replies


COMMANDS = {
    "acknowledge": lambda ref, words: f"{ref} OK",
    "reply": lambda ref, words: f"{ref} {words}",
    "close": lambda ref, words: f"{ref} CLOSE",
    "call": lambda ref, words: f"{ref} CALL",
    "approve": lambda ref, words: f"{ref} OK {words}".strip(),
    "decline": lambda ref, words: f"{ref} NO {words}",
}
