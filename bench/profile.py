"""Where one reading's time goes: the real app in-process, cProfile, SQL counted.

    python -m bench.profile [--texts 1000] [--json]

Registered patients text `BP 1xx/8x` through the signed webhook (Flask's test client,
no sockets). It reports the time per text without the profiler, then under it the
share of the phases that matter (Twilio's signature, planning the step, the step,
the commit, the TwiML) and the SQL statements per text. The bench's RESULTS.md quotes
it as the verdict on whatever target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import pstats
import secrets
import tempfile
import time
from pathlib import Path

from twilio.request_validator import RequestValidator

from bench import installation, traffic

PUBLIC_URL = "http://bench.invalid"
# (label, file suffix, function name) of the phases reported.
PHASES = (
    ("whole request (Flask, in-process)", "flask/app.py", "wsgi_app"),
    ("Twilio signature check", "lowband/webhook_auth.py", "signature_ok"),
    ("conversation: plan (load, decrypt, guard)", "flows/service/__init__.py", "_plan"),
    ("conversation: the step", "flows/service/__init__.py", "_step"),
    ("conversation: commit (writes, seals)", "flows/service/__init__.py", "_commit"),
    ("TwiML", "sms_gateway/webhook.py", "twiml"),
)


def _requests(crowd: dict, count: int, token: str) -> list[tuple[dict, str]]:
    validator = RequestValidator(token)
    out = []
    patients = crowd["patients"]
    for n in range(count):
        p = patients[n % len(patients)]
        visit = n // len(patients)
        systolic, diastolic = traffic.bp_values(p["index"], visit)
        text = traffic.Text("bp", p["phone"], f"BP {systolic}/{diastolic}", f"{systolic}/{diastolic}")
        params = traffic.form(text, f"SM{secrets.token_hex(16)}")
        out.append((params, validator.compute_signature(f"{PUBLIC_URL}/sms", params)))
    return out


@contextlib.contextmanager
def _lock_timer():
    """How long the writers' lock is held, in all: while it is held no other process
    or thread can write, so it caps the texts a second of any number of processes."""
    from storage import writer_lock

    held = [0.0]
    real = writer_lock.held

    @contextlib.contextmanager
    def timed(database: str):
        with real(database):
            began = time.perf_counter()
            try:
                yield
            finally:
                held[0] += time.perf_counter() - began

    writer_lock.held = timed
    try:
        yield held
    finally:
        writer_lock.held = real


def run(texts: int = 1000) -> dict:
    from lowband import create_app

    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="lowband-profile-") as folder:
        inst, crowd = installation.create(Path(folder) / "clinic", max(200, texts // 2))
        crowd = crowd.to_json()
        app = create_app({**inst.config(PUBLIC_URL, token), "RATE_LIMIT": 1000})
        try:
            client = app.test_client()
            conn = app.extensions["lowband"].store().db.conn  # this thread's: the test client runs here
            statements = [0]
            conn.set_trace_callback(lambda sql: statements.__setitem__(0, statements[0] + 1))

            def post(batch):
                for params, signature in batch:
                    answer = client.post("/sms", data=params, base_url=PUBLIC_URL,
                                         headers={"X-Twilio-Signature": signature})
                    if answer.status_code != 200 or params["Body"][3:] not in answer.get_data(as_text=True):
                        raise RuntimeError(f"the reading was not saved: {answer.get_data(as_text=True)[:200]}")

            requests = _requests(crowd, 3 * texts + 200, token)
            post(requests[:200])  # warm-up
            timed = requests[200 : 200 + texts]
            statements[0] = 0
            began = time.perf_counter()
            with _lock_timer() as held:
                post(timed)
            plain_ms = (time.perf_counter() - began) * 1000 / texts
            sql = statements[0] / texts
            profiler = cProfile.Profile()
            profiler.enable()
            post(requests[200 + texts : 200 + 2 * texts])
            profiler.disable()
        finally:
            app.extensions["lowband"].close()
    stats = pstats.Stats(profiler)
    phases = []
    for label, suffix, name in PHASES:
        total = sum(row[3] for (path, _, func), row in stats.stats.items() if func == name and path.endswith(suffix))
        phases.append({"phase": label, "ms_per_text": round(total * 1000 / texts, 3)})
    return {"texts": texts, "ms_per_text": round(plain_ms, 3), "sql_per_text": round(sql, 1),
            "lock_ms_per_text": round(held[0] * 1000 / texts, 3), "phases": phases}


def as_markdown(result: dict) -> str:
    lines = [f"{result['texts']:,} readings in-process: {result['ms_per_text']:.2f} ms each without the profiler, "
             f"{result['sql_per_text']:.1f} SQL statements each, the write lock held {result['lock_ms_per_text']:.2f} "
             "ms each (which caps every process together at "
             f"{1000 / result['lock_ms_per_text']:,.0f} texts a second). Under cProfile (which slows everything, "
             "so read the shares):", "", "| phase | ms per text (profiled) |", "| --- | --- |"]
    lines += [f"| {p['phase']} | {p['ms_per_text']:.2f} |" for p in result["phases"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.texts)
    print(json.dumps(result) if args.json else as_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
