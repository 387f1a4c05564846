"""The throughput passes: both servers up side by side, wrk against each in turn.

Bare and Lowband are interleaved (bare, Lowband; then Lowband, bare; ...) for
`repetitions` rounds, so a slow minute on the machine hits both; medians and ranges
are reported. Then the `new` and `pin` passes run once each against Lowband.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import secrets
import statistics
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import installation, traffic, wrk
from bench.processes import ChildError, Children, load_average, tree_cpu_seconds, tree_peak_rss_bytes
from bench.server import HOST

TARGET = 0.45  # Lowband at no less than 45% of bare Flask's throughput on the same server
P99_TARGET_MS = 30.0
PASSES = ("bare", "mix", "new", "pin")
# Requests pre-signed per Lowband run: enough for this many a second, so no run replays
# a MessageSid (a replay is answered from the record, cheaply, and would flatter us).
CEILING_RPS = {"mix": 2500, "new": 2500, "pin": 300}  # a PIN check is a full-cost scrypt
BARE_PER_CONNECTION = 400  # the bare app ignores what it is sent: a few, used round and round


@dataclass
class Options:
    seconds: float = 10.0
    warmup: float = 2.0
    connections: int = 16
    processes: int | None = None  # server processes, both apps; default one per CPU
    threads: int = 4  # per process, both apps (`lowband serve`'s default)
    patients: int = 20_000
    repetitions: int = 3
    passes: tuple[str, ...] = PASSES
    seed: int = 1

    def server_processes(self) -> int:
        return self.processes or os.cpu_count() or 1

    def check(self) -> None:
        if not 1 <= self.seconds <= 600 or not 0 <= self.warmup <= 120:
            raise ValueError("--seconds must be 1 to 600 and --warmup 0 to 120")
        if not 1 <= self.connections <= 64 or not 1 <= self.threads <= 64:
            raise ValueError("--connections and --threads must be 1 to 64")
        if self.processes is not None and not 1 <= self.processes <= 64:
            raise ValueError("--processes must be 1 to 64")
        if not 1 <= self.patients <= 1_000_000 or not 1 <= self.repetitions <= 20:
            raise ValueError("--patients must be 1 to 1,000,000 and --repetitions 1 to 20")
        unknown = set(self.passes) - set(PASSES)
        if unknown or not self.passes:
            raise ValueError(f"--passes takes some of {', '.join(PASSES)}")


@dataclass
class Run:
    """Everything measured, as plain data (bench.results turns it into RESULTS.md)."""

    options: dict
    machine: dict
    setup: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)  # every wrk run, in the order run
    summary: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)  # what went wrong, in words; empty when all is well

    def to_json(self) -> dict:
        return asdict(self)


def machine_facts() -> dict:
    memory = None
    # Not Linux: the report says "-".
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as handle:
        memory = int(handle.readline().split()[1]) * 1024
    return {"cpus": os.cpu_count(), "memory_bytes": memory, "load_before": load_average(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)} if values else {}


class Bench:
    def __init__(self, options: Options, children: Children, workdir: Path):
        self.options = options
        self.children = children
        self.workdir = workdir
        self.token = secrets.token_hex(16)
        self.catalog = traffic.catalog_texts()
        self.bad = wrk.as_in_twiml(self.catalog["apology"] + self.catalog["slow_down"])
        self.servers: dict[str, tuple] = {}

    # -- set-up --------------------------------------------------------------------

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

    def start(self, app: str) -> None:
        port = free_port()
        env = {}
        if app == "lowband":
            env = {f"LOWBAND_{k}": str(v) for k, v in self.inst.config(f"http://{HOST}:{port}", self.token).items()
                   if k != "TWILIO_AUTH_TOKEN"}
            env["TWILIO_AUTH_TOKEN"] = self.token
        log = self.workdir / f"server-{app}.log"
        child = self.children.spawn("bench.server", app, str(port), str(self.options.server_processes()),
                                    str(self.options.threads), stderr=log, env=env)
        deadline = time.monotonic() + 90
        while True:
            if child.poll() is not None:
                raise ChildError(f"the {app} server exited (code {child.returncode}): see {log.read_text()[-800:]}")
            # Not listening yet: try again.
            with contextlib.suppress(OSError), urllib.request.urlopen(  # noqa: S310
                    f"http://{HOST}:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise ChildError(f"the {app} server did not answer /healthz in 90 s")
            time.sleep(0.2)
        self.servers[app] = (child, port, log)

    # -- runs ----------------------------------------------------------------------

    def requests_for(self, name: str, streams: list[wrk.Stream], seconds: float) -> Path:
        folder = self.workdir / "requests" / name
        app, _ = PLAN[name]
        _, port, _ = self.servers[app]
        if app == "bare":
            count = BARE_PER_CONNECTION
        else:
            count = math.ceil(CEILING_RPS[name] * (seconds + 1) / self.options.connections)
        batches = [s.take(count) for s in streams]
        if not all(batches):
            raise ChildError(f"the {name} pass ran out of people to text as: use more --patients")
        wrk.write_requests(folder, batches, f"http://{HOST}:{port}/sms", self.token, self.bad, check=app != "bare")
        return folder

    def one_run(self, name: str, streams: list[wrk.Stream], round_no: int) -> dict:
        opts = self.options
        app, _ = PLAN[name]
        child, port, _ = self.servers[app]
        url = f"http://{HOST}:{port}"
        if opts.warmup:
            wrk.run(url, self.requests_for(name, streams, opts.warmup), opts.connections, opts.warmup)
        folder = self.requests_for(name, streams, opts.seconds)
        load = load_average()
        cpu_before = tree_cpu_seconds(child.pid)
        result = wrk.run(url, folder, opts.connections, opts.seconds)
        cpu_after = tree_cpu_seconds(child.pid)
        cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        result.update({
            "name": name, "app": app, "round": round_no, "load_1min": load,
            "server_cpu_s": round(cpu, 2) if cpu is not None else None,
            "server_cpu_ms_per_request": round(1000 * cpu / result["requests"], 3)
            if cpu and result["requests"] else None,
            "server_peak_rss_bytes": tree_peak_rss_bytes(child.pid),
        })
        return result

    def run(self) -> Run:
        opts = self.options
        run = Run(options=asdict(opts), machine=machine_facts())
        run.machine["server_processes"] = opts.server_processes()
        run.setup = self.prepare()
        apps = {PLAN[p][0] for p in opts.passes}
        for app in sorted(apps):
            self.start(app)
        rng = random.Random(opts.seed)
        patients = list(self.crowd["patients"])
        rng.shuffle(patients)
        # A quarter of the patients only ever do the PIN conversation: texts of theirs in
        # the mix as well would bring them to the loop guard's 10 a minute.
        reserved = len(patients) // 4
        mix_crowd = {**self.crowd, "patients": patients[reserved:]}
        senders = {"mix": traffic.mix_rotation(mix_crowd), "pin": patients[:reserved], "new": []}
        rng.shuffle(senders["mix"])
        streams = {name: wrk.streams(PLAN[name][1], senders[PLAN[name][1]], self.catalog["words"],
                                     opts.connections, tag=i + 1) for i, name in enumerate(PASSES)}
        paired = [p for p in ("bare", "mix") if p in opts.passes]
        for round_no in range(opts.repetitions):
            order = paired if round_no % 2 == 0 else paired[::-1]
            for name in order:
                run.runs.append(self.one_run(name, streams[name], round_no))
        for name in ("new", "pin"):
            if name in opts.passes:
                run.runs.append(self.one_run(name, streams[name], 0))
        for app in sorted(apps):
            child, _, log = self.servers[app]
            self.children.stop(child, grace=15)
            run.setup[f"{app}_log_errors"] = _log_errors(log)
        if "lowband" in apps:
            after = installation.snapshot(self.inst.db)
            run.setup["db_growth"] = installation.growth(run.setup["db"], after)
        run.summary = summarise(run.runs)
        run.checks = checks(run)
        return run


# pass name -> (server app, traffic)
PLAN = {"bare": ("bare", "mix"), "mix": ("lowband", "mix"), "new": ("lowband", "new"), "pin": ("lowband", "pin")}


def summarise(runs: list[dict]) -> dict:
    out: dict = {}
    for name in PASSES:
        mine = [r for r in runs if r["name"] == name]
        if not mine:
            continue
        cpu = [r["server_cpu_ms_per_request"] for r in mine if r["server_cpu_ms_per_request"]]
        out[name] = {
            "rps": spread([r["rps"] for r in mine]), "p50_ms": spread([r["p50_ms"] for r in mine]),
            "p99_ms": spread([r["p99_ms"] for r in mine]), "cpu_ms_per_request": spread(cpu),
            "requests": sum(r["requests"] for r in mine), "ok": sum(r["ok"] for r in mine),
            "wrong": sum(r["wrong"] for r in mine), "reused": sum(r["reused"] for r in mine),
            "socket_errors": sum(r["socket_errors"] for r in mine),
        }
    bare = [r for r in runs if r["name"] == "bare"]
    mix = [r for r in runs if r["name"] == "mix"]
    if bare and mix:
        ratios = [m["rps"] / b["rps"] for b, m in zip(bare, mix, strict=False) if b["rps"]]
        of_medians = out["mix"]["rps"]["median"] / out["bare"]["rps"]["median"]
        out["ratio"] = {**spread(ratios), "of_medians": round(of_medians, 4), "target": TARGET}
        out["ratio"]["met"] = out["ratio"]["of_medians"] >= TARGET
        out["mix"]["p99_target_ms"] = P99_TARGET_MS
        out["mix"]["p99_met"] = out["mix"]["p99_ms"]["median"] <= P99_TARGET_MS
    return out


def checks(run: Run) -> list[str]:
    """Whatever makes the figures untrustworthy, in words."""
    problems = []
    for r in run.runs:
        label = f"{r['name']} round {r['round'] + 1}"
        if r["requests"] == 0:
            problems.append(f"{label}: no request was answered")
        if r["socket_errors"]:
            problems.append(f"{label}: {r['socket_errors']} connection errors or timeouts")
        if (r["wrong"] and r["app"] == "lowband") or r["not_200"]:
            problems.append(f"{label}: {r['wrong']} wrong answers, e.g. {r['samples'][:1]}")
        if r["reused"] and r["app"] == "lowband":
            problems.append(f"{label}: ran out of pre-signed requests ({r['reused']} replays)")
    for key in ("bare_log_errors", "lowband_log_errors"):
        if run.setup.get(key):
            problems.append(f"{key.split('_')[0]} server logged {run.setup[key]} errors")
    growth = run.setup.get("db_growth")
    answered = sum(r["ok"] for r in run.runs if r["app"] == "lowband")
    if growth is not None and growth["rows"].get("inbound_messages", 0) < answered:
        problems.append(f"{answered} texts answered but {growth['rows'].get('inbound_messages', 0)} stored")
    return problems


def _log_errors(log: Path) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text(errors="replace").splitlines()
               if " ERROR " in line or line.startswith(("ERROR", "CRITICAL", "Traceback")))


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
