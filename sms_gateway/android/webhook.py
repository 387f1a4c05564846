"""POST /gateway/android: the SMS Gateway for Android app's webhooks.

The app signs each request: X-Signature is the hex HMAC-SHA256, under the signing key
it shows in Settings > Webhooks (LOWBAND_ANDROID_SIGNING_KEY), of the raw body followed
by X-Timestamp (Unix seconds). Anything unsigned, signed wrongly, signed more than
MAX_SKEW from now (a replay), or arriving when no key is set is refused (403) before the
body is read as JSON, and changes nothing.

`sms:received` is the same received text the dispatcher's poll finds in the phone's
inbox, under the same id: whichever comes first is answered, the other is a duplicate.
Its replies are queued in the outbox in the text's own transaction, and the dispatcher
is nudged to send them now. `sms:sent`, `sms:delivered` and `sms:failed` move the
outbox message forward (never back). Phone numbers and texts are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from flows.service import ConversationService
from sms_gateway.android.client import reason, received_text
from sms_gateway.gateway import StateReport, receive, report_states
from storage import Store
from storage.inbound import SidFromAnotherSender

log = logging.getLogger("lowband.android")

MAX_SKEW = 300  # seconds between the phone's timestamp and our clock
STATE_EVENTS = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}


def signature(key: str, body: bytes, timestamp: str) -> str:
    """What the app puts in X-Signature."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def verified(key: str | None, body: bytes, timestamp: str | None, signed: str | None, now: float) -> bool:
    if not key or not timestamp or not signed:
        return False
    timestamp = timestamp.strip()
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > MAX_SKEW:
        return False
    expected = signature(key, body, timestamp).encode()
    return hmac.compare_digest(expected, signed.strip().lower().encode("utf-8", "replace"))


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status, mimetype="text/plain")


def create_blueprint(get_store: Callable[[], Store], service: ConversationService, settings,
                     nudge: Callable[[], None] | None = None, *,
                     wall_clock: Callable[[], float] = time.time) -> Blueprint:
    """`settings`: Lowband's settings (android_signing_key, region). `nudge`: run the
    dispatcher's pass now (the reply waits in the outbox). `wall_clock`: the time the
    phone's timestamps are compared with."""
    bp = Blueprint("android_gateway", __name__)

    @bp.post("/gateway/android")
    def webhook() -> Response:
        body = request.get_data(cache=True)
        if not verified(settings.android_signing_key, body, request.headers.get("X-Timestamp"),
                        request.headers.get("X-Signature"), wall_clock()):
            log.warning("refused an Android gateway webhook: not signed with LOWBAND_ANDROID_SIGNING_KEY, "
                        "or its timestamp is more than %d seconds off", MAX_SKEW)
            return _plain("Signature missing, wrong or stale.", 403)
        try:
            envelope = json.loads(body)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("event"), str) \
                or not isinstance(envelope.get("payload"), dict):
            return _plain("Expected the SMS Gateway app's webhook: {event, payload, ...}.", 400)
        event, payload = envelope["event"], envelope["payload"]
        if event == "sms:received":
            return _received(payload)
        if event in STATE_EVENTS:
            ident = payload.get("messageId")
            if not isinstance(ident, str) or not ident:
                return _plain("Expected payload.messageId.", 400)
            error = (reason(payload.get("reason")) or "android: failed") if event == "sms:failed" else None
            report_states(get_store(), [StateReport(f"android:{ident}", STATE_EVENTS[event], error)])
            return _plain("ok", 200)
        # system:ping, data SMS, MMS: nothing for Lowband; 200 so the app does not retry.
        return _plain("ignored", 200)

    def _received(payload: dict) -> Response:
        text = received_text(payload)
        if text is None:
            return _plain("Expected payload.messageId, phoneNumber and message.", 400)
        store = get_store()
        try:
            outcome = receive(store, service, text, settings.region)
        except SidFromAnotherSender:
            # The app's ids are hashes: another phone's text under this id. Retrying
            # cannot help; the poll meets the same.
            log.error("an Android gateway text id was already used by another sender; not answered")
            return _plain("This message id belongs to another sender.", 200)
        if outcome == "answered" and nudge is not None:
            nudge()
        return _plain(outcome, 200)

    @bp.errorhandler(Exception)
    def failed(error: Exception) -> Response:
        if isinstance(error, HTTPException):  # 413 and the like: the protocol's answer
            return error.get_response()
        # The text's transaction rolled back: a non-2xx makes the app send it again later.
        log.error("Android gateway webhook failed: %s", type(error).__name__)
        return _plain("Could not handle it now; send it again.", 500)

    return bp
