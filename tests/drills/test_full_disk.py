"""Drill: the disk fills up. SQLite refuses to grow the file (SQLITE_FULL, made real here
with PRAGMA max_page_count on the server's own connection: the same error a full disk
gives). The text is refused with 503, so Twilio sends it again later; nothing half-written
is left; when there is room again, the same text (Twilio's retry, same MessageSid) is
answered once and stored once, and the database checks out whole."""

from __future__ import annotations

from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.twilio_client import new_sid

AMINA = "+254712345678"


def test_a_full_disk_refuses_the_text_cleanly_and_its_retry_is_answered_once(twilio, sms_app):
    runtime = sms_app.extensions["lowband"]
    store = runtime.store()
    with store.write():
        ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", AMINA, "pin=1111", "consent", "born=1968"])
    assert "saved" in twilio.sms(AMINA, "BP 132/84").messages[0]
    pages = store.one("PRAGMA page_count")[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # not one page more: the disk is full
    for n in range(200):  # the free room left in the last pages goes first
        sid, body = new_sid(), f"BP {110 + n}/80"  # each a new reading (a repeat is stored once)
        full = twilio.sms(AMINA, body, sid=sid)
        if full.status != 200:
            break
        readings = store.one("SELECT count(*) FROM readings")[0]
    assert full.status == 503 and full.messages == []
    assert store.one("SELECT count(*) FROM readings")[0] == readings  # nothing half-written
    store.db.execute("PRAGMA max_page_count = 1073741823")  # space again
    retried = twilio.sms(AMINA, body, sid=sid)
    assert retried.status == 200 and "saved" in retried.messages[0]
    again = twilio.sms(AMINA, body, sid=sid)  # Twilio's retry of the retry
    assert again.messages == retried.messages
    assert store.one("SELECT count(*) FROM readings")[0] == readings + 1
    assert store.one("PRAGMA integrity_check")[0] == "ok"
