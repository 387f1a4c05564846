"""Every Twilio route checks X-Twilio-Signature before anything else runs.

The signature is an HMAC of the URL Twilio called and every posted parameter, so it is
checked against LOWBAND_PUBLIC_URL + path (what we told Twilio) and, behind a proxy,
against the URL the request itself reports (ProxyFix rebuilds it from X-Forwarded-*).
LOWBAND_DEV=1 alone lets unsigned requests in, and only from this machine.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

from flask import Blueprint, Response, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    add_port,
    compare,
    get_signature_algorithm,
    remove_port,
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


def _urls(public_base: str) -> Iterator[str]:
    """The URLs Twilio may have signed, most likely first: ours as configured, then
    the request's own (rebuilt behind a proxy), each with and without its port."""
    path = request.full_path if request.query_string else request.path
    for url in (public_base + path, request.url):
        parsed = urlparse(url)
        yield url
        yield remove_port(parsed) if parsed.port else add_port(parsed)


def signature_ok(token: str, public_base: str) -> bool:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return False
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if algorithm.upper() not in ("HMAC_SHA1", "HMAC_SHA256"):
        return False
    validator = RequestValidator(token)
    # Candidates are tried one at a time (validate() would compute two signatures for
    # each): the first usually matches, so a genuine webhook costs one HMAC.
    return any(
        compare(validator.compute_signature(url, request.form, algorithm), signature) for url in _urls(public_base)
    )


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
