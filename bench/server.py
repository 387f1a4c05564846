"""One server under test, in its own process (and session):

    python -m bench.server bare PORT PROCESSES THREADS
    python -m bench.server lowband PORT PROCESSES THREADS   (settings from LOWBAND_* variables)

`lowband` is the real `lowband serve` command. `bare` is a Flask app answering fixed
TwiML, served by gunicorn with the very options `lowband serve` uses, so the two differ
in the app alone. Both listen on 127.0.0.1 only and stop when the bench closes our
stdin (or the bench dies), or at a hard time limit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

HOST = "127.0.0.1"  # loopback only, always
FIXED_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>hi</Message></Response>'
TIME_LIMIT = 3 * 3600


def bare_app():
    """The yardstick: Flask answering fixed TwiML, and nothing else."""
    from flask import Flask, Response

    app = Flask("bare")

    @app.post("/sms")
    def sms():
        return Response(FIXED_TWIML, mimetype="text/xml")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def _stop_when_stdin_closes(limit: float) -> None:
    """A SIGTERM to ourselves (gunicorn's master stops its workers gracefully on it)."""
    master = os.getpid()

    def watch() -> None:
        sys.stdin.read()  # returns at EOF: the bench closed the pipe or is gone
        os.kill(master, signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()
    timer = threading.Timer(limit, lambda: os.kill(master, signal.SIGTERM))
    timer.daemon = True
    timer.start()


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in ("bare", "lowband") or not all(a.isdigit() for a in argv[1:]):
        print("usage: python -m bench.server bare|lowband PORT PROCESSES THREADS", file=sys.stderr)
        return 2
    kind, port, processes, threads = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    _stop_when_stdin_closes(TIME_LIMIT)
    if kind == "lowband":
        from lowband.cli import cli

        cli(["serve", "--host", HOST, "--port", str(port), "--processes", str(processes), "--workers", str(threads)],
            prog_name="lowband")
        return 0
    from lowband import serving

    if processes > 1 and serving.gunicorn_available():
        serving.run_gunicorn_app(bare_app, serving.gunicorn_options(HOST, port, processes, threads))
    else:  # as `lowband serve` does with one process: waitress
        from waitress import serve

        serve(bare_app(), host=HOST, port=port, threads=threads, ident="lowband", clear_untrusted_proxy_headers=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
