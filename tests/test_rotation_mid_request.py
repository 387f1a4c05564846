"""A request that started before `keys rotate` switched keys, and waited for the write
lock while the rotation re-sealed its sender's conversation, still reads it: it takes
the ring as it is once the lock is held. Before, such a text got an apology instead of
an answer, an urgent reading included."""

from __future__ import annotations

from storage.connection import connect
from storage.keyfile import KeyFileWatcher, load_key_file, with_new_field_key, write_key_file
from storage.store import Store

PHONE = b"\x01" * 32


def test_a_request_reads_what_a_rotation_sealed_while_it_waited(installation):
    watcher = KeyFileWatcher(installation.key_file)
    request = Store(connect(installation.db), watcher.ring(), keys_source=watcher.ring)  # keys as the text came in

    # Meanwhile `keys rotate` adds a key and re-seals the sender's conversation under it.
    rotated = with_new_field_key(load_key_file(installation.key_file))
    write_key_file(installation.key_file, rotated, replace=True)
    rotation = Store(connect(installation.db), rotated)
    with rotation.write():
        rotation.sessions.save(PHONE, {"flow": "nurse", "step": "danger"})
    assert request.keys.current != rotated.current  # the request still holds the old ring

    with request.write():
        assert request.sessions.load(PHONE) == {"flow": "nurse", "step": "danger"}
