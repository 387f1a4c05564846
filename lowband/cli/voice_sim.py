"""`lowband simulate --voice`: a pretend call, keypresses in, what the caller hears out.

Each stdin line is what the caller does next: keys ("1", "140#": ending with # as on
the phone), an empty line for silence (no key before the line stops waiting), or
`hangup`. Requests go to /voice signed exactly as Twilio signs them, following the
URLs the TwiML names, so this is the webhook path a real call takes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit
from xml.etree import ElementTree

import click
from twilio.request_validator import RequestValidator

from flows.phones import mask

WAITS = {"1": "one key", "4": "4 keys"}


def _waits_for(gather: ElementTree.Element | None, hung_up: bool) -> str:
    if hung_up:
        return "the call has ended"
    if gather is None:
        return "nothing"
    return WAITS.get(gather.get("numDigits", ""), "keys, then #")


def call(app, base_url: str, caller: str, clinic: str, lines: Iterator[str], echo: Callable[[str], None]) -> None:
    client = app.test_client()
    validator = RequestValidator(app.extensions["lowband"].webhook_token())
    sid = "CA" + secrets.token_hex(16)
    store = app.extensions["lowband"].store()
    started, shown = store.now_iso(), set()

    def post(path: str, **extra: str) -> ElementTree.Element | None:
        params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": caller, "To": clinic,
                  "CallStatus": "in-progress", "Direction": "inbound", **extra}
        response = client.post(path, data=params, base_url=base_url,
                               headers={"X-Twilio-Signature": validator.compute_signature(base_url + path, params)})
        if response.mimetype != "text/xml":
            if response.status_code != 204:  # 204: a status callback, taken
                echo(f"! HTTP {response.status_code}: {response.get_data(as_text=True).strip()}")
            return None
        return ElementTree.fromstring(response.data)  # noqa: S314 (our own app's TwiML)

    echo(f"(calling the clinic from {mask(caller)})")
    twiml = post("/voice")
    while twiml is not None:
        gather = twiml.find("Gather")
        for verb in twiml:
            if verb.tag == "Say":
                echo(f"~ {verb.text or ''}")
            elif verb.tag == "Play":
                echo(f"~ [recording {verb.text}]")
            elif verb.tag == "Dial":
                echo(f"~ (ringing {', '.join(mask(n.text or '') for n in verb)})")
            elif verb.tag == "Record":
                echo("~ (beep: recording)")
        if gather is not None:
            for verb in gather:
                echo(f"? {verb.text or ''}")
        for queued in store.outbox.created_since(started):
            if queued.id not in shown:
                shown.add(queued.id)
                echo(f"  (SMS queued for {mask(queued.phone)}: {queued.body})")
        hung_up = twiml.find("Hangup") is not None
        if hung_up or (gather is None and twiml.find("Record") is None and twiml.find("Dial") is None):
            echo("(call ended)")
            return
        echo(f"  [waits for {_waits_for(gather, hung_up)}]" if gather is not None else "  [say your message]")
        keys = next(lines, None)
        if keys is None or keys.strip().lower() == "hangup":
            post("/voice/status", CallStatus="completed")
            echo("(you hung up)")
            return
        keys = keys.strip()
        echo(f"> {keys or '(silence)'}")
        if twiml.find("Record") is not None:
            action = urlsplit(twiml.find("Record").get("action")).path
            rec = "RE" + secrets.token_hex(16)
            twiml = post(action, RecordingSid=rec, RecordingDuration="5",
                         RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/{rec}")
        elif twiml.find("Dial") is not None:
            # Nobody rings in a simulation: the nurse does not answer, as a voicemail would.
            twiml = post(urlsplit(twiml.find("Dial").get("action")).path, DialCallStatus="no-answer")
        elif keys:
            twiml = post(urlsplit(gather.get("action")).path, Digits=keys.rstrip("#"),
                         FinishedOnKey="#" if keys.endswith("#") else "")
        else:
            twiml = post(urlsplit(twiml.find("Redirect").text).path)
    click.echo("(the line did not answer)")
