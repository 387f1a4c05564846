"""`python -m bench [--seconds S] [--clients N] [--threads N] [--patients N] [--json]`"""

from __future__ import annotations

import argparse
import signal
import sys

from bench.processes import ChildError
from bench.report import as_json, as_text
from bench.runner import PASSES, Options, run_bench


def parse(argv: list[str]) -> tuple[Options, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Lowband's inbound SMS webhook against bare Flask on the same waitress server "
        "(127.0.0.1 only). Exits 0 whatever the ratio: it is a measurement.",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per pass (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each pass (default 2)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--threads", type=int, default=4, help="waitress threads, both apps (default 4)")
    parser.add_argument("--patients", type=int, default=2000, help="enrolled patients (default 2000)")
    parser.add_argument("--procs", type=int, default=None, help="load-generating processes (default: one per CPU)")
    parser.add_argument("--passes", default=",".join(PASSES),
                        help=f"comma-separated passes to run (default {','.join(PASSES)})")
    parser.add_argument("--seed", type=int, default=1, help="seed for the order numbers text in")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    options = Options(
        seconds=args.seconds, warmup=args.warmup, clients=args.clients, threads=args.threads,
        patients=args.patients, procs=args.procs, seed=args.seed,
        passes=tuple(p.strip() for p in args.passes.split(",") if p.strip()),
    )
    try:
        options.check()
    except ValueError as error:
        parser.error(str(error))
    return options, args.json


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    options, as_one_json = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)  # clean up on `kill` as on Ctrl-C
    try:
        run = run_bench(options)
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped and temporary files removed", file=sys.stderr)
        return 130
    except ChildError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    print(as_json(run) if as_one_json else as_text(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
