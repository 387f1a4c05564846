"""Building the pieces from settings: flow config, conversation service, transport."""

from __future__ import annotations

from flows.care_rules import CareRulesError, load_rules
from flows.catalog import default_catalog
from flows.context import FlowConfig
from flows.loop_guard import LoopPolicy
from flows.service import ConversationService
from lowband.settings import Settings, SettingsError
from sms_gateway.failover import Failover
from sms_gateway.transports import ConsoleTransport, Transport, TwilioTransport


def flow_config(settings: Settings) -> FlowConfig:
    return FlowConfig(
        clinic_name=settings.clinic_name,
        emergency_number=settings.emergency_number,
        session_timeout_minutes=settings.session_minutes,
        default_language=settings.language,
        region=settings.region,
        time_zone=settings.time_zone,
        chw_any_patient=settings.chw_any_patient,
        reading_due_days=settings.reading_due_days,
    )


def care_rules(settings: Settings):
    try:
        return load_rules(settings.care_rules)
    except CareRulesError as error:
        raise SettingsError(f"LOWBAND_CARE_RULES: {error}") from None


def conversation_service(settings: Settings) -> ConversationService:
    return ConversationService(
        default_catalog(), flow_config(settings), LoopPolicy(limit=settings.rate_limit), rules=care_rules(settings)
    )


def transport(settings: Settings, *, http_client=None, android_session=None) -> Transport:
    """The transport LOWBAND_TRANSPORT names, or the failover list of them in its order."""
    built = [_one_transport(name, settings, http_client=http_client, android_session=android_session)
             for name in settings.transports]
    return built[0] if len(built) == 1 else Failover(built)


def _one_transport(name: str, settings: Settings, *, http_client=None, android_session=None) -> Transport:
    if name == "twilio":
        return TwilioTransport(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
            http_client=http_client,
            validity_seconds=settings.sms_validity_seconds,
            segments_per_minute=settings.send_rate,
        )
    if name == "android":
        from sms_gateway.android import AndroidGateway

        return AndroidGateway(settings.android_url, settings.android_user, settings.android_password,
                              session=android_session, segments_per_minute=settings.send_rate)
    if name == "modem":
        from sms_gateway.modem import ModemGateway

        return ModemGateway(settings.modem_port, baud=settings.modem_baud, pin=settings.modem_pin,
                            segments_per_minute=settings.send_rate,
                            pin_memory=settings.db.with_name("modem-pin-refused"))
    return ConsoleTransport(full=settings.console_full)


def status_callback_url(settings: Settings) -> str | None:
    # Twilio can only call back a public URL; a laptop demo has none, so skip it there.
    if "twilio" not in settings.transports:
        return None
    return settings.public_base + "/sms/status"
