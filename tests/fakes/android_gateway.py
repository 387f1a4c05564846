"""A fake of the SMS Gateway for Android app's Local Server, served on 127.0.0.1 so the
gateway talks real HTTP to it (timeouts, refused connections and all), never to a phone.

It speaks the part of the app's API Lowband uses, as the app does:
- Basic auth on everything but GET /health (401 otherwise);
- POST /message {id, textMessage: {text}, phoneNumbers, withDeliveryReport, ttl}: 202,
  state Pending; 409 when the id is known;
- GET /message/{id}: the message with its state and its recipient's state and error; 404;
- GET /inbox?type=SMS&from=ISO&limit&offset: received texts, X-Total-Count;
- GET /health (no auth) and GET /device.
Received texts are named as the app names them: "text:<signed 32-bit hash>" in the inbox,
the same hash as unsigned hex in the sms:received webhook.

The test moves messages on (`set_state`), puts texts in the inbox (`receive`), makes the
phone fail (`failing = 500`), answer too late (`delay_next_response`), or go away
(`stop()`), and posts the app's signed webhooks to Lowband (`post_webhook`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

DEVICE_ID = "ffffffffceb0b1db0000018e937c815b"


@dataclass
class PhoneMessage:
    id: str
    text: str
    phone_numbers: list[str]
    ttl: int | None
    with_delivery_report: bool
    state: str = "Pending"
    error: str | None = None

    def as_json(self) -> dict:
        return {"id": self.id, "deviceId": DEVICE_ID, "state": self.state, "isHashed": False, "isEncrypted": False,
                "recipients": [{"phoneNumber": n, "state": self.state, "error": self.error}
                               for n in self.phone_numbers],
                "states": {self.state: "2026-11-22T08:00:00.000+00:00"}}


@dataclass
class InboxEntry:
    hash: int  # signed 32 bits, as Java's hashCode
    sender: str
    text: str
    created_at: datetime

    @property
    def inbox_id(self) -> str:
        return f"text:{self.hash}"

    @property
    def webhook_id(self) -> str:
        return format(self.hash & 0xFFFFFFFF, "x")

    def as_json(self) -> dict:
        return {"id": self.inbox_id, "type": "SMS", "sender": self.sender, "recipient": None, "simNumber": 1,
                "contentPreview": self.text,
                "createdAt": self.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")}


@dataclass
class FakeAndroidPhone:
    user: str = "sms"
    password: str = "Fake-Pass-123"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    messages: dict[str, PhoneMessage] = field(default_factory=dict)  # what the phone will send, by id
    posts: list[dict] = field(default_factory=list)  # every POST /message body, 409s too
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of each request
    inbox: list[InboxEntry] = field(default_factory=list)
    failing: int | None = None  # answer everything with this status (500)
    delay_next_response: float = 0.0  # the next POST /message is stored, then answered this late
    _server: object = None
    _thread: threading.Thread | None = None
    _hashes: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- serving -------------------------------------------------------------------------

    def start(self) -> FakeAndroidPhone:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """The phone leaves the Wi-Fi: connections to it are refused from now on."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    # -- what the test does ---------------------------------------------------------------

    def receive(self, sender: str, text: str, *, at: datetime | None = None) -> InboxEntry:
        """A text arrives on the phone's SIM and goes into the app's inbox."""
        at = at or self.clock()
        digest = zlib.crc32(f"{sender}|{text}|{at.isoformat()}|{next(self._hashes)}".encode("utf-8", "surrogatepass"))
        entry = InboxEntry(digest - (1 << 32) if digest >= 1 << 31 else digest, sender, text, at)
        self.inbox.append(entry)
        return entry

    def set_state(self, message_id: str | int, state: str, error: str | None = None) -> None:
        message = self.messages[str(message_id)]
        message.state, message.error = state, error

    def sent_to(self, number: str) -> list[str]:
        """The texts the phone was asked to send to `number`, in order."""
        return [m.text for m in self.messages.values() if number in m.phone_numbers]

    # -- the app's webhooks ---------------------------------------------------------------

    @staticmethod
    def received_payload(entry: InboxEntry, *, sender: str | None = None) -> dict:
        return {"messageId": entry.webhook_id, "message": entry.text, "phoneNumber": sender or entry.sender,
                "simNumber": 1, "receivedAt": entry.created_at.astimezone(UTC).isoformat(timespec="milliseconds")}

    @staticmethod
    def state_payload(event: str, message_id: str | int, number: str, reason: str | None = None) -> dict:
        payload = {"messageId": str(message_id), "phoneNumber": number, "simNumber": 1}
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        if event == "sms:sent":
            payload.update(partsCount=1, sentAt=at)
        elif event == "sms:delivered":
            payload["deliveredAt"] = at
        else:
            payload.update(failedAt=at, reason=reason or "RESULT_ERROR_GENERIC_FAILURE")
        return payload

    def post_webhook(self, client, event: str, payload: dict, *, key: str | None, timestamp: int | None = None,
                     signature: str | None = None, path: str = "/gateway/android"):
        """POST the app's envelope to Lowband as the app does: the raw JSON body, signed
        with `key` (none: no signature headers at all). Returns the test client's response."""
        body = json.dumps({"deviceId": DEVICE_ID, "event": event, "id": f"evt{next(self._hashes)}",
                           "payload": payload, "webhookId": "lowband-hook"}).encode()
        headers = {"Content-Type": "application/json"}
        if key is not None or signature is not None:
            stamp = str(int(time.time()) if timestamp is None else timestamp)
            headers["X-Timestamp"] = stamp
            headers["X-Signature"] = signature or hmac.new(key.encode(), body + stamp.encode(),
                                                           hashlib.sha256).hexdigest()
        return client.post(path, data=body, headers=headers)

    # -- the app's Local Server -------------------------------------------------------------

    @Request.application
    def wsgi(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        if self.failing:
            return _json({"message": "fake failure"}, self.failing)
        if request.method == "GET" and request.path == "/health":
            return _json({"status": "pass", "version": "1.59.0", "releaseId": 159, "checks": {
                "battery:level": {"description": "Battery level in percent", "observedUnit": "percent",
                                  "observedValue": 94, "status": "pass"},
                "battery:charging": {"description": "Is the phone charging?", "observedUnit": "flags",
                                     "observedValue": 5, "status": "pass"},
                "messages:failed": {"description": "Failed messages for last hour", "observedUnit": "messages",
                                    "observedValue": 0, "status": "pass"}}})
        auth = request.authorization
        if auth is None or auth.type != "basic" or (auth.username, auth.password) != (self.user, self.password):
            return Response("Unauthorized", 401, headers={"WWW-Authenticate": 'Basic realm="Access to SMS Gateway"'})
        if request.method == "POST" and request.path in ("/message", "/messages"):
            return self._post_message(request)
        if request.method == "GET" and request.path.startswith(("/message/", "/messages/")):
            message = self.messages.get(request.path.split("/", 2)[2])
            return _json(message.as_json()) if message else _json({"message": "not found"}, 404)
        if request.method == "GET" and request.path == "/inbox":
            return self._inbox(request)
        if request.method == "GET" and request.path == "/device":
            return _json([{"id": DEVICE_ID, "name": "Fake/phone"}])
        return _json({"message": "not found"}, 404)

    def _post_message(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _json({"message": "Invalid request body"}, 400)
        self.posts.append(body)
        text = (body.get("textMessage") or {}).get("text")
        if not text:
            return _json({"message": "Must specify exactly one of: textMessage, dataMessage, or message"}, 400)
        if not body.get("phoneNumbers"):
            return _json({"message": "phoneNumbers is empty"}, 400)
        ident = str(body.get("id") or f"gen{next(self._hashes)}")
        if ident in self.messages:
            return _json({"message": "Message with the same ID already exists"}, 409)
        message = PhoneMessage(ident, text, list(body["phoneNumbers"]), body.get("ttl"),
                               bool(body.get("withDeliveryReport", True)))
        self.messages[ident] = message
        if self.delay_next_response:
            delay, self.delay_next_response = self.delay_next_response, 0.0
            time.sleep(delay)
        return _json(message.as_json(), 202)

    def _inbox(self, request: Request) -> Response:
        args = request.args
        if args.get("type") not in (None, "SMS"):
            return _json([])
        try:
            since = datetime.fromisoformat(args["from"]) if "from" in args else None
            limit, offset = int(args.get("limit", 50)), int(args.get("offset", 0))
        except ValueError:
            return _json({"message": "Invalid from datetime"}, 400)
        if not 1 <= limit <= 500 or offset < 0:
            return _json({"message": "limit must be between 1 and 500"}, 400)
        found = [e for e in self.inbox if since is None or e.created_at >= since]
        found.sort(key=lambda e: e.created_at, reverse=True)  # newest first: Lowband must not rely on order
        page = found[offset:offset + limit]
        return _json([e.as_json() for e in page], headers={"X-Total-Count": str(len(found))})


def _json(value, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(value), status, mimetype="application/json", headers=headers)
