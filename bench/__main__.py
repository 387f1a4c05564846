"""`python -m bench [--quick]`: every figure of the benchmark, into bench/RESULTS.md.

    make bench           # the full run (about 15 minutes on 2 cores)
    make bench QUICK=1   # the same figures, smaller and shorter (about 2 minutes)

Parts (`--parts`, default all): throughput (wrk against `lowband serve` and a bare
Flask app on the same server), profile (where one reading's time goes), scale (the
same reading as the clinic grows), reminders (due reminders into the outbox) and cost
(SMS segments per task and language). Exits 1 when the bench itself broke (no request
answered, a wrong answer, a figure missing); a missed target is a measurement, exit 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

from bench.processes import ROOT, ChildError
from bench.results import as_markdown, as_svg
from bench.runner import PASSES, Options, machine_facts, run_bench

PARTS = ("throughput", "profile", "scale", "reminders", "cost")
QUICK = {"seconds": 4.0, "warmup": 1.0, "patients": 12_000, "reminders": 10_000, "profile_texts": 500}
FULL = {"seconds": 10.0, "warmup": 2.0, "patients": 20_000, "reminders": 100_000, "profile_texts": 2_000}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller and shorter (make bench QUICK=1)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"some of {','.join(PARTS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md",
                        help="where to write the report (the chart goes beside it as results.svg)")
    parser.add_argument("--json", action="store_true", help="also print every figure as one JSON object")
    parser.add_argument("--seconds", type=float, help="measured seconds per throughput run")
    parser.add_argument("--warmup", type=float, help="warm-up seconds before each throughput run")
    parser.add_argument("--repetitions", type=int, default=3, help="rounds of bare and Lowband (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--processes", type=int, help="server processes, both apps (default: one per CPU)")
    parser.add_argument("--threads", type=int, default=4, help="threads per server process (default 4)")
    parser.add_argument("--patients", type=int, help="patients in the throughput clinic")
    parser.add_argument("--passes", default=",".join(PASSES), help=f"throughput passes, some of {','.join(PASSES)}")
    parser.add_argument("--reminders", type=int, help="reminders due at 08:00 in the reminders part")
    parser.add_argument("--scale-sizes", help="patients:readings,... instead of the standard sizes")
    parser.add_argument("--scale-samples", type=int, help="texts measured per clinic size")
    parser.add_argument("--profile-texts", type=int, help="readings profiled in-process")
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    if not parts or set(parts) - set(PARTS):
        parser.error(f"--parts takes some of {', '.join(PARTS)}")
    args.parts = parts
    defaults = QUICK if args.quick else FULL
    for key in ("seconds", "warmup", "patients", "reminders", "profile_texts"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    args.options = Options(seconds=args.seconds, warmup=args.warmup, connections=args.connections,
                           processes=args.processes, threads=args.threads, patients=args.patients,
                           repetitions=args.repetitions,
                           passes=tuple(p.strip() for p in args.passes.split(",") if p.strip()))
    try:
        args.options.check()
    except ValueError as error:
        parser.error(str(error))
    return args


def _child_json(module: str, *argv: str) -> dict:
    """A part run in its own process, so its peak memory is its own."""
    done = subprocess.run([sys.executable, "-m", module, *argv, "--json"], capture_output=True, text=True,
                          cwd=ROOT, check=False, timeout=3 * 3600)
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not line.startswith("{"):
        raise ChildError(f"{module} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
    return json.loads(line)


def _commit() -> str | None:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    return done.stdout.strip() or None


def collect(args: argparse.Namespace, say) -> dict:
    data: dict = {"quick": args.quick, "machine": machine_facts(), "commit": _commit(), "problems": []}
    if "throughput" in args.parts:
        say("throughput: wrk against lowband serve and bare Flask, interleaved ...")
        run = run_bench(args.options).to_json()
        data["throughput"] = run
        data["problems"] += run["checks"]
    if "profile" in args.parts:
        say("profile: where one reading's time goes ...")
        from bench import profile

        data["profile"] = profile.run(args.profile_texts)
        data["profile_markdown"] = profile.as_markdown(data["profile"])
    if "scale" in args.parts:
        say("scale: the same reading as the clinic grows (seeding takes a while) ...")
        extra = ["--quick"] if args.quick else []
        if args.scale_sizes:
            extra += ["--sizes", args.scale_sizes]
        if args.scale_samples:
            extra += ["--samples", str(args.scale_samples)]
        data["scale"] = _child_json("bench.scale", *extra)
        data["problems"] += [f"scale: {s['errors']} wrong answers with {s['patients']:,} patients"
                             for s in data["scale"]["sizes"] if s["errors"] or not s["samples"]]
    if "reminders" in args.parts:
        say(f"reminders: {args.reminders:,} due at 08:00 into the outbox ...")
        data["reminders"] = _child_json("bench.reminders", "--rules", str(args.reminders))
    if "cost" in args.parts:
        say("cost: SMS segments per task and language ...")
        from bench import cost

        data["cost"] = cost.measure()
        data["cost_markdown"] = cost.as_markdown(data["cost"])
    return data


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt()))

    def say(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    try:
        data = collect(args, say)
    except KeyboardInterrupt:
        say("interrupted; servers stopped and temporary files removed")
        return 130
    except ChildError as error:
        say(str(error))
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(as_markdown(data), encoding="utf-8")
    args.out.with_name("results.svg").write_text(as_svg(data), encoding="utf-8")
    say(f"wrote {args.out} and {args.out.with_name('results.svg')}")
    if args.json:
        print(json.dumps(data, sort_keys=True))
    else:
        print(args.out.read_text(encoding="utf-8"))
    for problem in data["problems"]:
        say(f"PROBLEM: {problem}")
    return 1 if data["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
