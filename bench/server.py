"""One server under test, in its own process: `python -m bench.server bare|lowband`.

Reads a JSON job on stdin ({"threads": 8, "config": {...}}), serves with waitress on
127.0.0.1 and the job's port (0: any free one), prints "PORT <n>" and serves until stdin closes
(the bench closes it to stop us, and so does the bench dying), or a hard time limit.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading

HOST = "127.0.0.1"  # loopback only, always
FIXED_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>hi</Message></Response>'


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


def lowband_app(config: dict):
    from lowband import create_app

    return create_app(config)


def waitress_options(threads: int, port: int) -> dict:
    # The same options `lowband serve` passes, for both apps alike.
    return {"host": HOST, "port": port, "threads": threads, "ident": "lowband", "clear_untrusted_proxy_headers": True}


def _stop_when_stdin_closes(limit: float) -> None:
    def watch() -> None:
        sys.stdin.read()  # returns at EOF: the bench closed the pipe or is gone
        os._exit(0)

    def deadline() -> None:
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()
    timer = threading.Timer(limit, deadline)
    timer.daemon = True
    timer.start()


def main(argv: list[str]) -> int:
    kind = argv[0] if argv else ""
    if kind not in ("bare", "lowband"):
        print("usage: python -m bench.server bare|lowband  (job JSON on stdin)", file=sys.stderr)
        return 2
    job = json.loads(sys.stdin.readline())
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = bare_app() if kind == "bare" else lowband_app(job["config"])

    from waitress import create_server

    server = create_server(app, **waitress_options(int(job["threads"]), int(job.get("port", 0))))
    _stop_when_stdin_closes(float(job.get("max_seconds", 600)))
    print(f"PORT {server.effective_port}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
