"""POST /sms and POST /sms/status.

Signatures are checked before these run (lowband wires the check onto the blueprint).
Each inbound text is handled in one transaction by flows.service, and the reply goes
back inline as TwiML: no second round trip, and it works even when our route to the
Twilio API is down.
"""

from __future__ import annotations

import errno
import logging
import re
import sqlite3
from collections.abc import Callable

from flask import Blueprint, Response, request
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.exceptions import HTTPException

from flows.engine import Message
from flows.phones import InvalidPhoneNumber, is_short_code_or_alphanumeric, to_e164
from flows.service import ConversationService, Inbound
from sms_gateway.transports import TWILIO_UNSUBSCRIBED
from storage import Store
from storage.inbound import SidFromAnotherSender

log = logging.getLogger("lowband.sms")

# Twilio's longest SMS body (10 segments); a longer one is not a real text.
MAX_BODY_CHARS = 1600
# A Twilio message id: SM (or MM with media) and 32 hex digits.
_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
# The states of a message we sent; an inbound text reports "received".
OUTBOUND_STATES = frozenset({"accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "read",
                             "canceled", "scheduled"})

# The TwiML for "no reply": Twilio sends nothing.
EMPTY = str(MessagingResponse())


# Characters XML 1.0 cannot carry at all; TwiML with one of them would not parse.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def twiml(replies: list[str]) -> Response:
    response = MessagingResponse()
    for text in replies:
        response.message(_NOT_XML.sub("", text))
    return Response(str(response), mimetype="text/xml")


def create_blueprint(get_store: Callable[[], Store], service: ConversationService, region: str | None) -> Blueprint:
    bp = Blueprint("sms", __name__)

    @bp.post("/sms")
    def inbound() -> Response:
        form = request.form
        sid = form.get("MessageSid", "")
        sender = form.get("From", "")
        if not _SID.fullmatch(sid) or form.get("SmsSid", sid) != sid or not sender:
            # Twilio always sends its own MessageSid (SM/MM and 32 hex digits), equal to
            # SmsSid: anything else was regrouped from another signed request.
            return Response("Expected a Twilio SMS webhook: MessageSid and From are required.\n", 400,
                            mimetype="text/plain")
        if (form.get("MessageStatus") or form.get("SmsStatus") or "received").lower() in OUTBOUND_STATES:
            # A delivery report sent to the wrong URL is not a text from a patient.
            return Response("This is the inbound route; delivery reports go to /sms/status.\n", 400,
                            mimetype="text/plain")
        if is_short_code_or_alphanumeric(sender):
            # Never auto-reply to short codes or named senders: a robot may answer back.
            return Response(EMPTY, mimetype="text/xml")
        body = form.get("Body", "")
        if len(body) > MAX_BODY_CHARS:
            return Response(f"Body longer than an SMS can be ({MAX_BODY_CHARS} characters).\n", 413,
                            mimetype="text/plain")
        try:
            # Parsed and checked every time, even when it looks like E.164: digits in
            # other scripts (full-width, Arabic-Indic) become ASCII, and a number that
            # cannot exist (too short for its country) is refused, never a new phone.
            e164 = to_e164(sender, region)
        except InvalidPhoneNumber:
            log.info("ignored a text from an unparseable or impossible sender")
            return Response(EMPTY, mimetype="text/xml")
        if not e164.isascii():  # belt and braces: one number, one spelling
            return Response(EMPTY, mimetype="text/xml")
        try:
            media = max(int(form.get("NumMedia") or 0), 0)
        except ValueError:
            media = 0
        store = get_store()
        # A stored answer goes back only to the number it was given to: a MessageSid
        # replayed from another sender is refused (checked again inside the transaction).
        store.inbound.bind_sender(store.phone_index(e164))
        try:
            handled = service.handle(store, Inbound(sid=sid, sender=e164, body=body, media=media))
        except SidFromAnotherSender:
            log.warning("refused a MessageSid replayed from another sender")
            return Response("This MessageSid belongs to another sender.\n", 400, mimetype="text/plain")
        return twiml(handled.replies)

    @bp.post("/sms/status")
    def status() -> Response:
        sid = request.form.get("MessageSid") or request.form.get("SmsSid")
        state = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").lower()
        if not sid or not state:
            return Response("Expected a Twilio status callback: MessageSid and MessageStatus.\n", 400,
                            mimetype="text/plain")
        error = request.form.get("ErrorCode")
        store = get_store()
        with store.write():
            store.outbox.report(sid, state, f"twilio error {error}" if error else None)
            if error == str(TWILIO_UNSUBSCRIBED):
                # The recipient had texted STOP to the carrier: nothing more will reach them.
                message = store.outbox.by_provider_sid(sid)
                if message is not None:
                    store.contacts.set_opt_out(store.phone_index(message.phone), True, carrier_blocked=True)
        return Response(status=204)

    @bp.errorhandler(Exception)
    def failed(error: Exception) -> Response:
        if isinstance(error, HTTPException):  # 413 and the like: the protocol's answer, not a patient's text
            return error.get_response()
        unavailable = storage_unavailable(error)
        if unavailable:
            # Nothing was stored (the transaction rolled back) and a 200 apology would lose
            # the text (an urgent reading too): 503 asks Twilio to send it again later
            # (with a connection-override retry on the webhook URL), once space is back or
            # the writer holding the database (a stuck or suspended command) has let go.
            log.error("inbound SMS refused, for Twilio to retry: %s", unavailable)
            return Response(f"The clinic's {unavailable}; try again later.\n", 503, {"Retry-After": "60"},
                            mimetype="text/plain")
        # Otherwise never a 5xx to a patient's text: apologise in one SMS. The message id
        # was not stored (the transaction rolled back), so a retry will be handled afresh.
        log.error("inbound SMS failed: %s", type(error).__name__, exc_info=error)
        return twiml([service.render(service.config.default_language, Message("error.retry", {}))])

    return bp


def storage_unavailable(error: BaseException) -> str | None:
    """Why the database could not take the text for now, if that is what went wrong
    (anywhere in the chain): SQLite's SQLITE_FULL or the file system's ENOSPC; or the
    writers' lock or SQLite's still held by another writer after the busy timeout."""
    while error is not None:
        if isinstance(error, sqlite3.OperationalError) and "full" in str(error):
            return "disk is full"
        if isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error)):
            return "database is busy"
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return "disk is full"
        error = error.__cause__ or error.__context__
    return None
