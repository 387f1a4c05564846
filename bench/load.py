"""One load-generating process: `python -m bench.load` (job JSON on stdin).

Runs one thread per keep-alive connection, each posting Twilio-signed texts to the
server on 127.0.0.1 one after the other. Protocol with the bench, a line each:
job JSON in, "READY" out, "GO <start> <measure_from> <stop_at>" (epoch seconds) in,
result JSON out. Nothing is sent after stop_at, so it always ends by itself.
"""

from __future__ import annotations

import http.client
import json
import resource
import sys
import threading
import time
from collections import defaultdict
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench import traffic

HOST = "127.0.0.1"


class Tally:
    """What one thread saw inside the measured window."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.verdicts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.sent = 0
        self.exhausted = False
        self.samples: list[str] = []  # a few bad answers, to show what went wrong

    def to_json(self) -> dict:
        return {
            "latencies_ms": {k: [round(x, 3) for x in v] for k, v in self.latencies.items()},
            "verdicts": {k: dict(v) for k, v in self.verdicts.items()},
            "sent": self.sent,
            "exhausted": self.exhausted,
            "samples": self.samples,
        }


def run_thread(job: dict, number: int, times: tuple[float, float, float], tally: Tally) -> None:
    start, measure_from, stop_at = times
    validator = RequestValidator(job["token"])
    sign_url, path = job["sign_url"], job["path"]
    apology, slow_down = set(job["apology"]), set(job["slow_down"])
    check = job["check_replies"]
    prefix = job["sid_prefixes"][number]
    texts = traffic.conversations(job["script"], job["senders"][number], job["words"], job["new_blocks"][number])
    timeout = float(job.get("timeout", 10))
    conn = http.client.HTTPConnection(HOST, job["port"], timeout=timeout)
    serial = 0
    while time.time() < start:
        time.sleep(0.001)
    try:
        for conversation in texts:
            for text in conversation:
                if time.time() >= stop_at:
                    return
                serial += 1
                sid = f"SM{prefix}{serial:024x}"
                params = traffic.form(text, sid)
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": validator.compute_signature(sign_url, params),
                    "User-Agent": "TwilioProxy/1.1",
                }
                body = urlencode(params)
                began = time.perf_counter()
                try:
                    conn.request("POST", path, body, headers)
                    response = conn.getresponse()
                    raw = response.read()
                    verdict = traffic.judge(response.status, response.getheader("Content-Type", ""), raw,
                                            text if check else None, apology, slow_down)
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                except (OSError, http.client.HTTPException) as error:
                    conn.close()
                    verdict, raw = traffic.ERROR, repr(error).encode()
                    time.sleep(0.01)  # do not spin on a dead server
                elapsed = time.perf_counter() - began
                tally.sent += 1
                ended = time.time()
                if measure_from <= ended <= stop_at:
                    tally.latencies[text.kind].append(elapsed * 1000)
                    tally.verdicts[text.kind][verdict] += 1
                if verdict != traffic.OK and len(tally.samples) < 5:
                    tally.samples.append(f"{text.kind} {text.body!r} -> {verdict}: {raw[:300]!r}")
        tally.exhausted = True
    finally:
        conn.close()


def main() -> int:
    job = json.loads(sys.stdin.readline())
    print("READY", flush=True)
    line = sys.stdin.readline().split()
    if not line or line[0] != "GO":
        return 1  # the bench went away before the start
    times = (float(line[1]), float(line[2]), float(line[3]))
    tallies = [Tally() for _ in job["senders"]]
    threads = [
        threading.Thread(target=run_thread, args=(job, n, times, tallies[n]), daemon=True)
        for n in range(len(job["senders"]))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, times[2] - time.time()) + float(job.get("timeout", 10)) + 5)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"threads": [t.to_json() for t in tallies], "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
