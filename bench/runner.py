"""Running the passes: a server process, load processes, a timed window, the tallies."""

from __future__ import annotations

import json
import math
import os
import random
import secrets
import socket
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import installation, traffic
from bench.processes import ChildError, Children, cpu_seconds, peak_rss_bytes, read_line, send
from bench.server import HOST

TARGET = 0.45  # the project brief: Lowband at no less than 45% of bare Flask's throughput
PASSES = ("bare", "mix", "new", "pin")
# pass name -> (server app, traffic)
PLAN = {"bare": ("bare", "mix"), "mix": ("lowband", "mix"), "new": ("lowband", "new"), "pin": ("lowband", "pin")}
REQUEST_TIMEOUT = 10.0


@dataclass
class Options:
    seconds: float = 10.0
    warmup: float = 2.0
    clients: int = 8
    threads: int = 4
    patients: int = 2000
    procs: int | None = None  # load processes; default: one per CPU, at most one per client
    passes: tuple[str, ...] = PASSES
    seed: int = 1

    def load_procs(self) -> int:
        return max(1, min(self.clients, self.procs or os.cpu_count() or 1))

    def check(self) -> None:
        if not 0 < self.seconds <= 600 or not 0 <= self.warmup <= 120:
            raise ValueError("--seconds must be in (0, 600] and --warmup in [0, 120]")
        if not 1 <= self.clients <= 64 or not 1 <= self.threads <= 64:
            raise ValueError("--clients and --threads must be 1 to 64")
        if not 1 <= self.patients <= 1_000_000:
            raise ValueError("--patients must be 1 to 1,000,000")
        unknown = set(self.passes) - set(PASSES)
        if unknown or not self.passes:
            raise ValueError(f"--passes takes some of {', '.join(PASSES)}")


@dataclass
class Run:
    """Everything measured; `report` turns it into text or JSON."""

    options: dict
    machine: dict
    setup: dict = field(default_factory=dict)
    passes: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = asdict(self)
        bare, mix = self.passes.get("bare"), self.passes.get("mix")
        if bare and mix and bare["rps"] > 0:
            ratio = mix["rps"] / bare["rps"]
            out["ratio"] = round(ratio, 4)
            out["target"] = TARGET
            out["verdict"] = "PASS" if ratio >= TARGET else "FAIL"
            costs = bare["server_cpu_ms_per_request"], mix["server_cpu_ms_per_request"]
            out["cpu_ratio"] = round(costs[0] / costs[1], 4) if all(costs) else None
        return out


def percentile(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else None,
        "mean": round(sum(ordered) / len(ordered), 3) if ordered else None,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, options: Options, children: Children, workdir: Path):
        self.options = options
        self.children = children
        self.workdir = workdir
        self.token = secrets.token_hex(16)
        self.inst: installation.Installation | None = None
        self.crowd: dict = {}
        self.catalog = traffic.catalog_texts()

    def prepare(self) -> dict:
        began = time.perf_counter()
        inst, crowd = installation.create(self.workdir / "clinic", self.options.patients)
        self.inst, self.crowd = inst, crowd.to_json()
        from lowband.settings import Settings
        from storage.pins import hash_pin

        clock = time.process_time()
        hash_pin(os.urandom(32), installation.PIN, Settings().pin_work)  # LOWBAND_PIN_WORK's default
        return {
            "seconds": round(time.perf_counter() - began, 2),
            "patients": len(crowd.patients),
            "chws": len(crowd.chws),
            "pin_check_cpu_ms": round((time.process_time() - clock) * 1000, 1),
            "db": installation.snapshot(inst.db),
        }

    # -- one pass ------------------------------------------------------------------

    def run_pass(self, name: str, index: int) -> dict:
        app, script = PLAN[name]
        opts = self.options
        port = free_port()
        sign_url = f"http://{HOST}:{port}/sms"
        log = self.workdir / f"server-{name}.log"
        window = opts.warmup + opts.seconds
        job = {"threads": opts.threads, "port": port, "max_seconds": window + 120}
        if app == "lowband":
            job["config"] = self.inst.config(f"http://{HOST}:{port}", self.token)
        server = self.children.spawn("bench.server", app, stderr=log)
        try:
            send(server, json.dumps(job))
            line = read_line(server, 60, f"the {app} server", log)
            if line != f"PORT {port}":
                raise ChildError(f"the {app} server said {line!r}")
            workers = self._start_workers(name, index, script, port, sign_url, check=(app == "lowband"))
            start = time.time() + 0.2
            measure_from, stop_at = start + opts.warmup, start + window
            for w in workers:
                send(w, f"GO {start} {measure_from} {stop_at}")
            _sleep_until(measure_from)
            cpu_before = cpu_seconds(server.pid)
            _sleep_until(stop_at)
            cpu_after = cpu_seconds(server.pid)
            results = []
            for w in workers:
                left = stop_at - time.time() + REQUEST_TIMEOUT + 15
                results.append(json.loads(read_line(w, max(left, 5), "a load worker", self.workdir / "load.log")))
                self.children.stop(w)
            peak = peak_rss_bytes(server.pid)
        finally:
            self.children.stop(server)
        return self._summary(name, app, results, cpu_before, cpu_after, peak, log)

    def _start_workers(self, name: str, index: int, script: str, port: int, sign_url: str, check: bool):
        opts = self.options
        senders = {"mix": traffic.mix_rotation(self.crowd), "pin": list(self.crowd["patients"]), "new": []}[script]
        random.Random(opts.seed).shuffle(senders)
        per_thread = [senders[t :: opts.clients] for t in range(opts.clients)]
        prefixes = [f"{index:02x}{t:02x}{secrets.token_hex(2)}" for t in range(opts.clients)]
        procs = opts.load_procs()
        workers = []
        for w in range(procs):
            mine = list(range(w, opts.clients, procs))
            job = {
                "script": script, "port": port, "path": "/sms", "sign_url": sign_url, "token": self.token,
                "senders": [per_thread[t] for t in mine], "new_blocks": mine,
                "sid_prefixes": [prefixes[t] for t in mine], "words": self.catalog["words"],
                "apology": self.catalog["apology"], "slow_down": self.catalog["slow_down"],
                "check_replies": check, "timeout": REQUEST_TIMEOUT,
            }
            worker = self.children.spawn("bench.load", stderr=self.workdir / "load.log")
            send(worker, json.dumps(job))
            workers.append(worker)
        for worker in workers:
            if read_line(worker, 60, "a load worker", self.workdir / "load.log") != "READY":
                raise ChildError("a load worker did not get ready")
        return workers

    def _summary(self, name, app, results, cpu_before, cpu_after, peak, log: Path) -> dict:
        seconds = self.options.seconds
        by_kind: dict[str, list[float]] = {}
        verdicts: Counter = Counter()
        kind_verdicts: dict[str, Counter] = {}
        sent, samples, exhausted = 0, [], False
        for result in results:
            for t in result["threads"]:
                sent += t["sent"]
                exhausted = exhausted or t["exhausted"]
                samples += t["samples"]
                for kind, values in t["latencies_ms"].items():
                    by_kind.setdefault(kind, []).extend(values)
                for kind, counts in t["verdicts"].items():
                    verdicts.update(counts)
                    kind_verdicts.setdefault(kind, Counter()).update(counts)
        everything = [x for values in by_kind.values() for x in values]
        requests = len(everything)
        server_cpu = (cpu_after - cpu_before) if cpu_before is not None and cpu_after is not None else None
        log_text = log.read_text(errors="replace") if log.exists() else ""
        return {
            "app": app,
            "requests": requests,
            "seconds": seconds,
            "rps": round(requests / seconds, 1),
            "latency_ms": latency_summary(everything),
            "by_kind": {k: {**latency_summary(v), "verdicts": dict(kind_verdicts.get(k, {}))}
                        for k, v in sorted(by_kind.items())},
            "verdicts": dict(verdicts),
            "errors": verdicts.get(traffic.ERROR, 0),
            "sent_total": sent,
            "ran_out_of_senders": exhausted,
            "server_cpu_s": round(server_cpu, 2) if server_cpu is not None else None,
            "server_cpu_pct": round(100 * server_cpu / seconds, 1) if server_cpu is not None else None,
            "server_cpu_ms_per_request": round(1000 * server_cpu / requests, 3) if server_cpu and requests else None,
            "client_cpu_s": round(sum(r["cpu_s"] for r in results), 2),
            # All load processes, from their start (warm-up included), per CPU-second of the pass.
            "client_cpu_pct": round(100 * sum(r["cpu_s"] for r in results) / (self.options.warmup + seconds), 1),
            "peak_rss_bytes": peak,
            "server_log_errors": sum(1 for line in log_text.splitlines() if line.startswith(("ERROR", "CRITICAL"))),
            "server_log_excerpt": _log_excerpt(log_text),
            "samples": samples[:5],
        }

    def run(self) -> Run:
        opts = self.options
        run = Run(options=asdict(opts), machine={"cpus": os.cpu_count(), "load_procs": opts.load_procs()})
        run.setup = self.prepare()
        before = run.setup["db"]
        for index, name in enumerate(opts.passes):
            result = self.run_pass(name, index)
            if result["app"] == "lowband":
                after = installation.snapshot(self.inst.db)
                grew = installation.growth(before, after)
                sent = max(result["sent_total"], 1)
                grew["bytes_per_request"] = round(grew["bytes"] / sent, 1)
                grew["rows_per_request"] = round(grew["rows_total"] / sent, 2)
                result["db_growth"] = grew
                before = after
            run.passes[name] = result
        run.setup["db_after"] = {"bytes": before["bytes"], "rows_total": sum(before["rows"].values())}
        return run


def _log_excerpt(text: str, most: int = 6) -> list[str]:
    """The server's error lines and the exceptions named in its tracebacks."""
    picked = []
    for line in text.splitlines():
        named = line[:1].isalpha() and ("Error: " in line or "Exception: " in line)
        if named or line.startswith(("ERROR", "CRITICAL")):
            picked.append(line[:200])
    return picked[:most]


def _sleep_until(moment: float) -> None:
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 0.5))


def run_bench(options: Options) -> Run:
    """Set up a throwaway clinic, run the passes, clean everything up (even on Ctrl-C)."""
    options.check()
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix="lowband-bench-") as tmp:
            try:
                return Bench(options, children, Path(tmp)).run()
            finally:
                children.stop_all()
    finally:
        children.stop_all()
