"""Every Twilio route checks X-Twilio-Signature before anything else runs.

The signature is an HMAC of the URL Twilio called and every posted parameter, so it is
checked against LOWBAND_PUBLIC_URL + path (what we told Twilio) and, behind a proxy,
against the URL the request itself reports (ProxyFix rebuilds it from X-Forwarded-*).
LOWBAND_DEV=1 alone lets unsigned requests in, and only from this machine.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from flask import Blueprint, Response, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

log = logging.getLogger("lowband.webhooks")


def _original_remote_addr() -> str:
    # ProxyFix rewrites REMOTE_ADDR from X-Forwarded-For, which a client can forge;
    # the loopback check must use the address the socket really came from.
    original = request.environ.get("werkzeug.proxy_fix.orig", {})
    return original.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or ""


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def signature_ok(token: str, public_base: str) -> bool:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return False
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    validator = RequestValidator(token)
    path = request.full_path if request.query_string else request.path
    candidates = [public_base + path, request.url]
    return any(validator.validate(url, request.form, signature, algorithm) for url in candidates)


def protect(blueprint: Blueprint, token: Callable[[], str], public_base: str, dev: bool) -> None:
    """Refuse (403, nothing stored) any request to `blueprint` that Twilio did not sign."""

    @blueprint.before_request
    def check_signature() -> Response | None:
        if signature_ok(token(), public_base):
            return None
        if dev and not request.headers.get(SIGNATURE_HEADER) and is_loopback(_original_remote_addr()):
            return None
        log.warning("refused an unsigned or forged webhook to %s", request.path)
        return Response("Forbidden: this URL only accepts requests signed by Twilio.\n", 403, mimetype="text/plain")
