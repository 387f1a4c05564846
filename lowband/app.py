"""The application factory, in the Flask tutorial's style: nothing is created at import."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Flask, g, jsonify

from console import init_console
from ivr.routes import create_blueprints as voice_blueprints
from lowband.runtime import Runtime
from lowband.settings import Settings, load_settings
from lowband.webhook_auth import MAX_WEBHOOK_BYTES, TrustedProxyFix, protect
from lowband.wiring import conversation_service
from scheduler.dispatcher import TRANSPORTS_SEEN
from sms_gateway.android import create_blueprint as android_blueprint
from sms_gateway.webhook import create_blueprint as sms_blueprint

log = logging.getLogger("lowband")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `test_config` overrides settings by name ({"DB": path, ...});
    a "CLOCK" entry injects the time for tests."""
    test_config = dict(test_config or {})
    clock = test_config.pop("CLOCK", None)
    testing = bool(test_config.pop("TESTING", False))
    settings = load_settings(overrides=test_config)
    app = Flask(__name__)
    # X-Forwarded-* count only from the proxies listed in LOWBAND_TRUSTED_PROXIES;
    # from anyone else they are dropped, so nobody can steer the URL a signature is
    # checked against.
    app.wsgi_app = TrustedProxyFix(app.wsgi_app, settings.trusted_proxies)
    # Werkzeug refuses (413) to read a bigger form; the signature check refuses it first.
    app.config.update(TESTING=testing, LOWBAND=settings, MAX_CONTENT_LENGTH=MAX_WEBHOOK_BYTES)
    runtime = Runtime(settings, clock=clock) if clock else Runtime(settings)
    app.extensions["lowband"] = runtime
    if settings.dev:
        log.warning(
            "LOWBAND_DEV=1: unsigned webhooks are accepted from this machine. "
            "Never use it on a server that Twilio reaches."
        )
    _register(app)
    service = conversation_service(settings)
    sms = sms_blueprint(get_store, service, settings.region)
    voice, prompts = voice_blueprints(get_store, service, settings.region, settings.prompts_dir,
                                      connect=settings.voice_connect)
    for signed in (sms, voice):
        protect(signed, runtime.webhook_token, settings.public_base, settings.dev)
        app.register_blueprint(signed)
    # Recorded prompts are fetched by Twilio without a signature; they hold no patient data.
    app.register_blueprint(prompts)
    # The clinic's Android phone posts what it received; the blueprint checks the app's
    # own signature (X-Signature), not Twilio's.
    android = android_blueprint(get_store, service, settings, lambda: runtime.nudge and runtime.nudge())
    app.register_blueprint(android)
    # Twilio's and the phone's routes are signed, not CSRF-protected: neither can hold a
    # console token.
    init_console(app, get_store, service, secret=runtime.console_secret(),
                 https=settings.public_base.startswith("https://"), exempt=[sms, voice, prompts, android])
    return app


def runtime() -> Runtime:
    from flask import current_app

    return current_app.extensions["lowband"]


def settings() -> Settings:
    return runtime().settings


def get_store():
    """The request's Store, made once per request and kept on `g`."""
    if "store" not in g:
        g.store = runtime().store()
    return g.store


def transports_seen(store) -> dict | str:
    """Up or down per transport, as the dispatcher last found it, and how long ago. Not
    why: a public page must not show the phone's address or battery (`lowband gateway
    status` does, on the laptop)."""
    seen = store.meta_get(TRANSPORTS_SEEN)
    if not seen:
        return "not yet seen by the dispatcher"
    found = json.loads(seen)
    age = (store.now() - datetime.fromisoformat(found["at"])).total_seconds()
    return {"seen_seconds_ago": int(age), "stale": age > STALE_AFTER,
            "up": {item["name"]: item["up"] for item in found["transports"]}}


STALE_AFTER = 300  # seconds: the dispatcher looks every 30 s; this long means it stopped


def _register(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        try:
            store = get_store()
            store.one("SELECT 1")
            schema = store.schema_version()
        except Exception:  # any database failure is "unreachable" to a monitor
            log.exception("health check failed")
            return jsonify(status="error", database="unreachable"), 503
        return jsonify(status="ok", database="ok", schema=schema, transports=transports_seen(store))
