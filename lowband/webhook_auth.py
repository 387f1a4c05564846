"""Every Twilio route checks its size, then X-Twilio-Signature, before anything else runs.

The signature is an HMAC of the URL Twilio called and every posted parameter, so it is
checked against LOWBAND_PUBLIC_URL + path and query (what we told Twilio) and nothing a
client can steer: the Host header is never believed. Only a proxy listed in
LOWBAND_TRUSTED_PROXIES may add the URL it reports in X-Forwarded-Host/-Proto/-Port;
from anyone else those headers are dropped before the app sees them.
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
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger("lowband.webhooks")

# The largest request Twilio really sends: a 1600-character Body (12 bytes a character
# at worst, emoji percent-encoded) and the other fields (ten MediaUrls for MMS) fit in
# about 25 KB. Anything bigger is refused (413) before it is read or its signature checked.
MAX_WEBHOOK_BYTES = 64 * 1024

_FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
              "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")
VIA_TRUSTED_PROXY = "lowband.via_trusted_proxy"


def _listed(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class TrustedProxyFix:
    """WSGI middleware: X-Forwarded-* are applied (by werkzeug's ProxyFix, one hop) only
    when the socket's peer is a listed proxy; from anyone else they are removed."""

    def __init__(self, app, trusted: tuple[str, ...] = ()):
        self.app = app
        self.networks = tuple(ipaddress.ip_network(t, strict=False) for t in trusted)
        self.proxied = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1)

    def __call__(self, environ, start_response):
        if self.networks and _listed(environ.get("REMOTE_ADDR", ""), self.networks):
            environ[VIA_TRUSTED_PROXY] = "HTTP_X_FORWARDED_HOST" in environ
            return self.proxied(environ, start_response)
        for key in _FORWARDED:
            environ.pop(key, None)
        return self.app(environ, start_response)


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
    """The URLs Twilio may have signed, most likely first: ours as configured, then,
    only when a listed proxy said which host it was called on, the URL it reports;
    each with and without its port. The request's own Host header is never used."""
    path = request.full_path if request.query_string else request.path
    candidates = [public_base + path]
    if request.environ.get(VIA_TRUSTED_PROXY):
        candidates.append(request.url)
    for url in candidates:
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
        length = request.content_length
        if length is not None and length > MAX_WEBHOOK_BYTES:
            return too_large()
        try:
            # Twilio's signature glues names and values together, so the bytes of one
            # signed request can be regrouped into another (a second From, a field folded
            # into its neighbour). Twilio never repeats a name: a repeat is a forgery.
            repeated = any(len(values) > 1 for values in request.form.listvalues()) or any(
                len(values) > 1 for values in request.args.listvalues())
            signed = not repeated and signature_ok(token(), public_base)
        except RequestEntityTooLarge:  # a chunked body that outgrew the limit while read
            return too_large()
        if signed:
            return None
        if dev and not request.headers.get(SIGNATURE_HEADER) and is_loopback(_original_remote_addr()):
            return None
        log.warning("refused an unsigned or forged webhook to %s", request.path)
        return Response("Forbidden: this URL only accepts requests signed by Twilio.\n", 403, mimetype="text/plain")


def too_large() -> Response:
    log.warning("refused an oversized webhook to %s", request.path)
    return Response(f"Request too large: Twilio webhooks are under {MAX_WEBHOOK_BYTES // 1024} KB.\n", 413,
                    mimetype="text/plain")
