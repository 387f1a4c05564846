"""Wiring the console into the app: sign-in, CSRF, cookie flags and the page headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask, Response, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect

from console import auth, views
from flows.service import ConversationService
from storage import Store

IDLE = timedelta(minutes=60)  # a console left alone signs itself out
# Nothing runs but our own style sheet: no script at all, no framing, forms post only here.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def init_console(app: Flask, get_store: Callable[[], Store], service: ConversationService, *, secret: bytes,
                 https: bool, exempt: list) -> None:
    """`secret` signs the session cookies; `https`: the console is served over HTTPS (its
    cookies are then Secure); `exempt`: the blueprints Twilio posts to, which carry
    Twilio's signature, not a CSRF token."""
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Over plain http (a laptop on localhost) a Secure cookie would never come back.
        SESSION_COOKIE_SECURE=https,
        REMEMBER_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=IDLE,
        SESSION_REFRESH_EACH_REQUEST=True,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which expires when idle
    )
    csrf = CSRFProtect(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)
    login = LoginManager(app)
    login.login_view = "console.sign_in"
    login.login_message = None
    login.session_protection = "strong"
    login.user_loader(lambda user_id: auth.load_user(get_store(), user_id))
    app.register_blueprint(views.create_blueprint(get_store, service))

    @app.errorhandler(CSRFError)
    def form_expired(error: CSRFError):
        return render_template("message.html", title="This form has expired",
                               text="Nothing was done. Go back, reload the page and try again."), 400

    @app.after_request
    def headers(response: Response) -> Response:
        if request.path.startswith("/console"):
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            # Patient data must not stay in a shared browser's cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response
