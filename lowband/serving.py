"""How `lowband serve` runs: the app and its dispatcher, in one process (waitress, the
one-laptop default and the fallback where gunicorn cannot run, such as Windows) or in
several (gunicorn's pre-fork workers, one per core, on POSIX).

Every process runs the dispatcher's job; the lease lets exactly one act at a time, and
another takes over within a minute if that one dies. Only the lease holder talks to a
gateway device, so a modem's port is opened by one process."""

from __future__ import annotations

import socket
from datetime import timedelta

from flask import Flask

from lowband.settings import Settings


def start_dispatcher(app: Flask, settings: Settings):
    """The background dispatcher for this process; a gateway webhook nudges it."""
    from lowband.wiring import conversation_service, status_callback_url, transport
    from scheduler import dispatcher

    background = dispatcher.start(
        app.extensions["lowband"].store, transport(settings), status_callback=status_callback_url(settings),
        service=conversation_service(settings), refill_wait_hours=settings.refill_wait_hours,
        ack_wait=timedelta(minutes=settings.alert_ack_minutes), voice_base=settings.public_base,
    )
    app.extensions["lowband"].nudge = lambda: dispatcher.nudge(background)
    start_checkpointer(app, settings)
    return background


def start_checkpointer(app: Flask, settings: Settings) -> None:
    """WAL checkpoints on a thread of their own, not inside a text's commit."""
    from storage.checkpointer import Checkpointer

    runtime = app.extensions["lowband"]
    runtime.checkpointer = Checkpointer(settings.db).start()
    runtime.checkpoints_elsewhere = True


def stop_dispatcher(app: Flask, background) -> None:
    from scheduler import dispatcher

    background.shutdown(wait=False)
    checkpointer = getattr(app.extensions["lowband"], "checkpointer", None)
    if checkpointer is not None:
        checkpointer.stop()
    dispatcher.give_up(app.extensions["lowband"].store())


def check_bind(host: str, port: int) -> None:
    """Raise OSError now if the address cannot be listened on (in use, not an address),
    before anything says "serving"."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def gunicorn_available() -> bool:
    try:
        import fcntl  # noqa: F401  (gunicorn is POSIX-only)

        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return True


def gunicorn_options(host: str, port: int, processes: int, threads: int, trusted_proxies=()) -> dict:
    """gunicorn's settings for `lowband serve`; the bench serves its bare yardstick app
    with the same ones, so the two differ only in the app."""
    from lowband.webhook_auth import MAX_WEBHOOK_BYTES

    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": processes, "worker_class": "gthread", "threads": threads,
        # Webhooks are small: a long header line or a huge form is refused early.
        "limit_request_line": 8190, "limit_request_field_size": MAX_WEBHOOK_BYTES,
        "graceful_timeout": 10, "timeout": 60, "accesslog": None, "proc_name": "lowband",
        # The app alone decides whom to believe about X-Forwarded-* (LOWBAND_TRUSTED_
        # PROXIES); gunicorn must not turn a request into https on its own say-so.
        "secure_scheme_headers": {}, "forwarded_allow_ips": ",".join(trusted_proxies) or "127.0.0.1",
        # No control socket in the home folder: two servers on one laptop (a test
        # and a demo) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
    }


def run_gunicorn_app(load, options: dict) -> None:
    """Serve the app `load()` builds, in each worker after the fork, with gunicorn."""
    from gunicorn.app.base import BaseApplication

    class Served(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return load()

    Served().run()


def run_gunicorn(host: str, port: int, processes: int, threads: int, settings: Settings) -> None:
    """gunicorn with `processes` workers of `threads` threads each. Each worker builds its
    own app after the fork (no connection crosses a fork) and starts its dispatcher."""
    from lowband.app import create_app

    started: dict = {}

    def load():
        app = create_app()
        background = start_dispatcher(app, settings)
        started["stop"] = lambda: stop_dispatcher(app, background)
        return app

    options = gunicorn_options(host, port, processes, threads, settings.trusted_proxies)
    options["worker_exit"] = lambda server, worker: started.get("stop", lambda: None)()
    run_gunicorn_app(load, options)
