"""An in-memory fake of the part of the Twilio REST API we use (Messages.create),
plugged in through twilio's `http_client` seam, so tests never reach the internet."""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass, field

from twilio.http import HttpClient
from twilio.http.response import Response

_MESSAGES = re.compile(r"^https://api\.twilio\.com/2010-04-01/Accounts/(AC\w+)/Messages\.json$")
_CALLS = re.compile(r"^https://api\.twilio\.com/2010-04-01/Accounts/(AC\w+)/Calls\.json$")


@dataclass
class PlacedCall:
    sid: str
    to: str
    sender: str
    url: str
    status_callback: str | None
    machine_detection: str | None


@dataclass
class SentMessage:
    sid: str
    account: str
    to: str
    body: str
    sender: str | None
    messaging_service: str | None
    status_callback: str | None
    validity_period: str | None
    timeout: float | None
    auth: tuple[str, str] | None


@dataclass
class Failure:
    status: int
    code: int
    message: str = "fake failure"


@dataclass
class FakeTwilioApi(HttpClient):
    sent: list[SentMessage] = field(default_factory=list)
    calls: list[PlacedCall] = field(default_factory=list)
    failures: list[Failure | Exception] = field(default_factory=list)  # consumed one per request
    _sids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        HttpClient.__init__(self, logging.getLogger("fake-twilio"), False, None)

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False) -> Response:
        calling = _CALLS.match(uri)
        if method.upper() == "POST" and calling:
            return self._call(calling.group(1), data or {})
        listing = _MESSAGES.match(uri)
        if method.upper() == "GET" and listing:
            return self._list(listing.group(1), params or {})
        match = _MESSAGES.match(uri)
        if method.upper() != "POST" or not match:
            return Response(404, json.dumps({"code": 20404, "message": "not found", "status": 404}))
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            body = {"code": failure.code, "message": failure.message, "status": failure.status}
            return Response(failure.status, json.dumps(body))
        data = data or {}
        if "To" not in data or "Body" not in data or not (data.get("From") or data.get("MessagingServiceSid")):
            return Response(400, json.dumps({"code": 21604, "message": "missing parameter", "status": 400}))
        sid = f"SM{next(self._sids):032x}"
        self.sent.append(SentMessage(
            sid=sid, account=match.group(1), to=data["To"], body=data["Body"], sender=data.get("From"),
            messaging_service=data.get("MessagingServiceSid"), status_callback=data.get("StatusCallback"),
            validity_period=data.get("ValidityPeriod"), timeout=timeout, auth=auth,
        ))
        resource = {"sid": sid, "status": "queued", "to": data["To"], "body": data["Body"],
                    "from": data.get("From"), "account_sid": match.group(1)}
        return Response(201, json.dumps(resource))

    def _call(self, account: str, data: dict) -> Response:
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return Response(failure.status, json.dumps({"code": failure.code, "message": failure.message,
                                                        "status": failure.status}))
        if "To" not in data or "From" not in data or "Url" not in data:
            return Response(400, json.dumps({"code": 21205, "message": "missing parameter", "status": 400}))
        sid = f"CA{next(self._sids):032x}"
        self.calls.append(PlacedCall(sid, data["To"], data["From"], data["Url"], data.get("StatusCallback"),
                                     data.get("MachineDetection")))
        return Response(201, json.dumps({"sid": sid, "status": "queued", "to": data["To"], "from": data["From"],
                                         "account_sid": account}))

    def _list(self, account: str, params: dict) -> Response:
        """GET Messages.json?To=...: what was sent to a number, newest first."""
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return Response(failure.status, json.dumps({"code": failure.code, "message": failure.message,
                                                        "status": failure.status}))
        found = [m for m in reversed(self.sent) if not params.get("To") or m.to == params["To"]]
        page = [{"sid": m.sid, "to": m.to, "body": m.body, "status": "sent", "account_sid": account,
                 "date_created": "Sun, 29 Nov 2026 08:00:00 +0000"} for m in found]
        uri = f"/2010-04-01/Accounts/{account}/Messages.json"
        return Response(200, json.dumps({"messages": page, "first_page_uri": uri, "next_page_uri": None,
                                         "previous_page_uri": None, "page": 0, "page_size": 50, "uri": uri}))

