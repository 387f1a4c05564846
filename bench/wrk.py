"""Load from wrk: pre-signed requests written to files, wrk run with bench/wrk.lua.

wrk is C with an event loop: it keeps a server busy with a fraction of one CPU, where
a Python load generator took as much CPU as the server it measured. Each wrk thread
holds one connection (`-t N -c N`), so each connection's texts go out in order.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from twilio.request_validator import RequestValidator

from bench import traffic
from bench.processes import ChildError

SCRIPT = Path(__file__).with_name("wrk.lua")


def find_wrk() -> str:
    """wrk's path; Debian's package is installed when it is missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": False}
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, **quiet)
        found = shutil.which("wrk")
        if found:
            return found
    raise ChildError("wrk is not installed: `sudo apt-get install wrk` (Debian, Ubuntu) or `brew install wrk`")


@dataclass
class Stream:
    """One connection's texts, from one generator, handed out run after run so no two
    runs send the same MessageSid or the same reading."""

    texts: Iterator[traffic.Text]
    prefix: str
    serial: int = 0

    def take(self, count: int) -> list[tuple[traffic.Text, str]]:
        out = []
        for text in self.texts:
            self.serial += 1
            out.append((text, f"SM{self.prefix}{self.serial:024x}"))
            if len(out) == count:
                break
        return out


def streams(script: str, senders: list[dict], words: dict, connections: int, tag: int) -> list[Stream]:
    """`connections` streams, each with its own senders (a number texts on one connection
    only, so its conversation is never answered out of order)."""
    out = []
    for c in range(connections):
        mine = senders[c::connections]
        conversations = traffic.conversations(script, mine, words, new_block=tag * connections + c)
        texts = (text for conversation in conversations for text in conversation)
        out.append(Stream(texts, f"{tag:04x}{c:04x}"))  # SM + 32 hex digits, as Twilio
    return out


def as_in_twiml(texts: list[str]) -> list[str]:
    """Each text as it appears inside the app's TwiML (escaped, non-ASCII as character
    references), so wrk.lua can look for it byte for byte."""
    from sms_gateway.webhook import twiml

    pieces = []
    for text in texts:
        body = twiml([text]).get_data(as_text=True)
        pieces.append(body.split("<Message>", 1)[1].rsplit("</Message>", 1)[0])
    return pieces


def write_requests(folder: Path, batches: list[list[tuple[traffic.Text, str]]], sign_url: str, token: str,
                   bad: list[str], check: bool = True) -> int:
    """conn-<i>.req for each connection and bad.txt (`bad` as `as_in_twiml` gives it);
    returns the number of requests. Without `check` only the status and TwiML count."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("conn-*.req"):
        stale.unlink()
    validator = RequestValidator(token)
    total = 0
    for c, batch in enumerate(batches):
        with (folder / f"conn-{c}.req").open("w", encoding="utf-8") as out:
            for text, sid in batch:
                params = traffic.form(text, sid)
                expect = (escape(text.expect) if text.expect else "<Message>") if check else ""
                out.write(f"{expect}\t{validator.compute_signature(sign_url, params)}\t{urlencode(params)}\n")
                total += 1
    (folder / "bad.txt").write_text("".join(b + "\n" for b in bad if b and "\n" not in b), "utf-8")
    return total


def run(url: str, folder: Path, connections: int, seconds: float, timeout: float = 10.0) -> dict:
    """One wrk run; its counts and latencies (ms), with the wall-clock window it ran in."""
    command = [find_wrk(), "-t", str(connections), "-c", str(connections), "-d", f"{max(seconds, 1):.0f}s",
               "--timeout", f"{timeout:.0f}s", "-s", str(SCRIPT), url, "--", str(folder)]
    began = time.time()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout + 60, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise ChildError(f"wrk failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds_run = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "seconds": round(seconds_run, 3),
        "rps": round(raw["requests"] / seconds_run, 1) if seconds_run else 0.0,
        "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000, "mean_ms": round(raw["mean_us"] / 1000, 3),
        "ok": raw["ok"], "wrong": raw["wrong"], "not_200": raw["not_ok_status"],
        "socket_errors": raw["socket_errors"], "reused": raw["wrapped"],
        "samples": raw["samples"], "began": began,
    }
