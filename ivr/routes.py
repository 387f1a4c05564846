"""POST /voice and /voice/...: the voice line's Twilio webhooks, one small route per
kind of request. Signatures are checked before these run (lowband wires the check onto
the blueprint); the recorded prompts Twilio fetches are served by a second blueprint.

State lives in the path (the turn a Gather answers), never in a query string, and in
the call's sealed line (ivr/line.py). Every request is idempotent: a turn Twilio sends
again gets the TwiML it got the first time, and nothing is applied twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Response, abort, request, send_file
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from flows.engine import Message
from flows.phones import InvalidPhoneNumber, to_e164
from flows.service import ConversationService
from ivr import line as lines
from ivr import speech
from ivr.call import CallTurn, prompt_urls
from ivr.line import Line
from ivr.reminder_calls import add_routes as add_reminder_routes
from storage import Store
from storage.inbound import SidFromAnotherSender

log = logging.getLogger("lowband.voice")

_CALL_SID = re.compile(r"CA[0-9a-f]{32}")
_RECORDING_SID = re.compile(r"RE[0-9a-f]{32}")
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# Where Twilio keeps a call's recordings; a URL elsewhere is not Twilio's.
TWILIO_RECORDINGS = "https://api.twilio.com/"
MAX_RUNG = 5  # nurses rung at once for one caller


def _xml(twiml: str) -> Response:
    return Response(twiml, mimetype="text/xml")


def create_blueprints(get_store: Callable[[], Store], service: ConversationService, region: str | None,
                      prompts_dir: Path | None, *, connect: bool = False) -> tuple[Blueprint, Blueprint]:
    """(the signed webhooks, the recorded prompts). `connect`: a caller who asks for the
    nurse may be put through to the clinicians on call."""
    bp = Blueprint("voice", __name__)
    prompt_url = prompt_urls(prompts_dir, "/voice")

    def nurses_for(store: Store) -> Callable[[], list[str]]:
        def nurses() -> list[str]:
            if not connect:
                return []
            return [user.phone for user in store.rota.on_call("clinician", store.now_iso())][:MAX_RUNG]

        return nurses

    def _call() -> tuple[str, str] | Response:
        sid, sender = request.form.get("CallSid", ""), request.form.get("From", "")
        if not _CALL_SID.fullmatch(sid):
            return Response("Expected a Twilio voice webhook: CallSid is required.\n", 400, mimetype="text/plain")
        try:
            return sid, to_e164(sender, region)
        except InvalidPhoneNumber:
            return sid, ""

    def _turn(turn: int | None, work: Callable[[CallTurn, Line], str]) -> Response:
        who = _call()
        if isinstance(who, Response):
            return who
        sid, caller = who
        language = service.config.default_language
        if not caller:
            # A withheld or impossible number: nothing can be looked up or stored.
            return _xml(speech.goodbye([speech.Spoken(service.render(language, Message(
                "voice.not_enrolled", {"clinic": service.config.clinic_name}), "voice"))], language))
        store = get_store()
        line = lines.load(store, sid)
        caller_index = store.phone_index(caller).hex()
        if line is not None and line.caller != caller_index:
            log.warning("refused a CallSid replayed from another number")
            return Response("This CallSid belongs to another caller.\n", 400, mimetype="text/plain")
        if line is not None and line.phase == lines.ENDED:
            return _xml(speech.goodbye([], line.language))  # a CallSid used again after its call ended
        if turn is None:  # /voice: a new call, or Twilio asking again for its start
            line = line or Line(caller=caller_index)
            turn = 0
        elif line is None:
            return _xml(speech.goodbye([], language))  # a call we never answered: nothing to go on
        if turn == line.done and line.last:
            return _xml(line.last)  # Twilio sent this turn again: the same answer
        if turn != line.next:
            return _xml(line.last or speech.goodbye([], line.language))
        call = CallTurn(store, service, sid, caller, prompt_url=prompt_url, nurses=nurses_for(store),
                        clinic_number=request.form.get("To", ""))
        try:
            twiml = work(call, line)
        except SidFromAnotherSender:
            log.warning("refused a CallSid replayed from another caller")
            return Response("This CallSid belongs to another caller.\n", 400, mimetype="text/plain")
        line.done, line.next, line.last = turn, turn + 1, twiml
        with store.write():
            now = lines.load(store, sid)
            if now is not None and (now.phase == lines.ENDED or now.next != turn):
                # The call ended (or another request took this turn) while this one
                # worked: its state must not bring the call back to life.
                if now.phase == lines.ENDED:
                    store.sessions.delete(lines.keys_of(store, sid)[1])
                return _xml(now.last or speech.goodbye([], now.language))
            lines.save(store, sid, line)
        return _xml(twiml)

    @bp.post("/voice")
    def answer() -> Response:
        def start(call: CallTurn, line: Line) -> str:
            index = call.store.phone_index(call.caller)
            if call.store.staff.brief_by_phone_index(index) is not None:
                return call.staff_caller(line)
            if call.store.contacts.is_opted_out(index):
                return call.opted_out(line)
            return call.start(line, call.store.patients.count_on_phone(index) > 0)

        return _turn(None, start)

    @bp.post("/voice/t/<int:turn>")
    def keys(turn: int) -> Response:
        digits = request.form.get("Digits", "")
        finished = request.form.get("FinishedOnKey", "")
        return _turn(turn, lambda call, line: call.keys(line, digits, finished))

    @bp.post("/voice/t/<int:turn>/silence")
    def silence(turn: int) -> Response:
        return _turn(turn, lambda call, line: call.silence(line))

    @bp.post("/voice/t/<int:turn>/recorded")
    def recorded(turn: int) -> Response:
        recording_sid = request.form.get("RecordingSid", "")
        url = request.form.get("RecordingUrl", "")
        store = get_store()
        if (not _RECORDING_SID.fullmatch(recording_sid) or not url.startswith(TWILIO_RECORDINGS)
                or store.consults.has_recording(recording_sid)):
            # Nothing usable was recorded (or it already belongs to a consult): the
            # question still goes to the nurse, who is asked to call back.
            return _turn(turn, lambda call, line: call.no_message(line))
        return _turn(turn, lambda call, line: call.recorded(line, recording_sid, url))

    @bp.post("/voice/t/<int:turn>/dialed")
    def dialed(turn: int) -> Response:
        status = request.form.get("DialCallStatus", "")
        return _turn(turn, lambda call, line: call.dialed(line, status))

    @bp.post("/voice/whisper")
    def whisper() -> Response:
        """Said to a nurse who picks up: press 1 to take the call (no patient data in it)."""
        language = service.config.default_language
        text = service.render(language, Message("voice.whisper", {"clinic": service.config.clinic_name}), "voice")
        return _xml(speech.whisper(text, language, action="/voice/whisper/answer"))

    @bp.post("/voice/whisper/answer")
    def whisper_answer() -> Response:
        if request.form.get("Digits") == "1":
            return _xml(str(VoiceResponse()))  # an empty answer puts the caller through
        return _xml(speech.goodbye([], service.config.default_language))

    @bp.post("/voice/recording")
    def recording_status() -> Response:
        """Twilio's recording callback: a voice message that failed is said to the nurse."""
        sid, state = request.form.get("RecordingSid", ""), request.form.get("RecordingStatus", "")
        if not _RECORDING_SID.fullmatch(sid) or state not in ("completed", "failed", "absent"):
            return Response(status=204)
        store = get_store()
        with store.write():
            consult = store.consults.recording_done(sid, state)
            if consult is not None and state != "completed":
                text = service.render(service.config.default_language,
                                      Message("consult.recording_failed", {"ref": consult.ref}))
                for user in store.rota.on_call("clinician", store.now_iso()):
                    store.outbox.enqueue(user.phone, text, "consult")
                store.audit.record("system", "consult.recording_failed", f"consult:{consult.ref}")
        return Response(status=204)

    add_reminder_routes(bp, get_store, service)

    @bp.post("/voice/status")
    def status() -> Response:
        """Call status callback: once a call has ended, its line and conversation go."""
        sid = request.form.get("CallSid", "")
        if _CALL_SID.fullmatch(sid) and request.form.get("CallStatus", "") in ENDED:
            store = get_store()
            line = lines.load(store, sid)
            who = _call()
            if line is not None and not isinstance(who, Response) and who[1] and line.phase == lines.ENGINE:
                # Hung up half-way through a triage: the clinician hears of it, as when
                # a texter leaves it (the engine's own rule for leaving a safety question).
                CallTurn(store, service, sid, who[1], prompt_url=prompt_url).left(line)
            with store.write():
                lines.end(store, sid)
        return Response(status=204)

    @bp.errorhandler(Exception)
    def failed(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return error.get_response()
        # Never a 5xx on a call: a caller would hear Twilio's own error. Say sorry.
        log.error("voice request failed: %s", type(error).__name__, exc_info=error)
        language = service.config.default_language
        return _xml(speech.goodbye([speech.Spoken(service.render(language, Message("voice.error", {}), "voice"))],
                                   language))

    prompts = Blueprint("voice_prompts", __name__)

    @prompts.get("/voice/prompts/<language>/<key>.mp3")
    def prompt(language: str, key: str) -> Response:
        """A clinic's recording of one message (no patient data: a menu, a question)."""
        path = speech.prompt_file(prompts_dir, language, key)
        if path is None:
            abort(404)
        return send_file(path, mimetype="audio/mpeg", max_age=3600)

    return bp, prompts
