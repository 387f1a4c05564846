"""POST /voice/reminder/<message id>[/answer|/status]: a reminder said on a call placed
to a patient who prefers calls, answered 1 (taken) or 2 (skipped), retried when nobody
answered. The routes are on the voice blueprint, so every request is signed.

A machine that answers (Twilio's machine detection) hears only a neutral message: a
voicemail box on a shared phone must not say which medicine whose it is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import Gather, VoiceResponse

from flows.engine import Message
from flows.quiet_hours import in_quiet_hours, quiet_hours_end
from flows.service import ConversationService
from flows.service.reminder_answers import answer_for, record_answer
from ivr import speech
from storage import Store
from storage.errors import NotFound

TRIES = 3  # calls placed for one reminder when nobody answers
RETRY_AFTER = timedelta(minutes=10)
NOBODY = frozenset({"busy", "no-answer", "failed", "canceled"})


def add_routes(bp: Blueprint, get_store: Callable[[], Store], service: ConversationService) -> None:
    def _xml(twiml: str) -> Response:
        return Response(twiml, mimetype="text/xml")

    def _message(store: Store, message_id: int):
        """The reminder's outbox row, if this request is about it (the call went to its number)."""
        try:
            message = store.outbox.get(message_id)
        except (NotFound, TypeError):
            return None
        called = request.form.get("To", "")
        return message if message.channel == "call" and called == message.phone else None

    def _language(store: Store, message) -> str:
        """The language of the patient the reminder is for (a shared phone may hold two)."""
        row = store.one("SELECT r.patient_id FROM reminder_sends s JOIN reminders r ON r.id = s.reminder_id "
                        "WHERE s.outbox_id = ?", (message.id,))
        if row is not None:
            return store.patients.get(row[0]).language
        people = store.patients.briefs_on_phone(store.phone_index(message.phone))
        return people[0].language if people else service.config.default_language

    def _say(language: str, key: str) -> speech.Spoken:
        return speech.Spoken(service.render(language, Message(key, {"clinic": service.config.clinic_name}), "voice"))

    @bp.post("/voice/reminder/<int:message_id>")
    def reminder_call(message_id: int) -> Response:
        store = get_store()
        message = _message(store, message_id)
        if message is None:
            return Response("No such reminder call.\n", 404, mimetype="text/plain")
        language = _language(store, message)
        if request.form.get("AnsweredBy", "").startswith(("machine", "fax")):
            return _xml(speech.goodbye([_say(language, "voice.reminder_machine")], language))
        response = VoiceResponse()
        ask = Gather(input="dtmf", num_digits=1, action=f"/voice/reminder/{message_id}/answer", method="POST",
                     timeout=speech.SECONDS_TO_ANSWER)
        locale, voice = speech.VOICES.get(language, speech.VOICES["en"])
        ask.say(message.body, language=locale, voice=voice)
        response.append(ask)
        response.say(service.render(language, Message("voice.reminder_no_answer", {}), "voice"), language=locale,
                     voice=voice)
        response.hangup()
        return _xml(str(response))

    @bp.post("/voice/reminder/<int:message_id>/answer")
    def reminder_answer(message_id: int) -> Response:
        store = get_store()
        message = _message(store, message_id)
        if message is None:
            return Response("No such reminder call.\n", 404, mimetype="text/plain")
        language = _language(store, message)
        found = store.reminders.by_outbox(message.id)
        answer = answer_for(store.reminders.of_send(found[0])[1].get("kind", ""),
                            request.form.get("Digits", "")) if found else None
        if answer is None:
            return _xml(speech.goodbye([_say(language, "voice.reminder_no_answer")], language))
        send_id, answered = found
        if not answered:  # Twilio may send the same answer twice: kept once
            with store.write():
                record_answer(store, service, send_id, answer, "system", by="call")
        return _xml(speech.goodbye([_say(language, "voice.reminder_noted")], language))

    @bp.post("/voice/reminder/<int:message_id>/status")
    def reminder_status(message_id: int) -> Response:
        """The call ended: answered (delivered), or nobody came (tried again later,
        never in quiet hours, TRIES calls at most)."""
        store = get_store()
        message = _message(store, message_id)
        state = request.form.get("CallStatus", "")
        if message is None or message.status in ("delivered", "failed"):
            return Response(status=204)
        with store.write():
            if state == "completed":
                store.outbox.report(message.provider_sid, "delivered")
            elif state in NOBODY:
                patient = store.patients.briefs_on_phone(store.phone_index(message.phone))
                zone = patient[0].time_zone if patient else service.config.time_zone
                retry_at = store.now() + RETRY_AFTER
                if in_quiet_hours(retry_at, zone):
                    retry_at = quiet_hours_end(retry_at, zone)
                give_up = message.attempts >= TRIES
                store.outbox.mark_failed(message.id, f"call {state}", retry_at=None if give_up else retry_at)
        return Response(status=204)
