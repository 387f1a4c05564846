"""The clinic's own SIM in an Android phone: the SMS Gateway for Android app (capcom6,
Local Server mode) as a transport, a gateway that reads what the phone received, and the
blueprint for the app's signed webhooks. docs/android-gateway.md sets it up."""

from sms_gateway.android.gateway import AndroidGateway
from sms_gateway.android.webhook import create_blueprint

__all__ = ["AndroidGateway", "create_blueprint"]
