"""The webhook benchmark: `python -m bench` (or `make bench`).

Lowband's inbound SMS webhook is measured against a bare Flask app answering fixed
TwiML on the same server (waitress, same threads), on 127.0.0.1 only, with requests
signed exactly as Twilio signs them. The target: Lowband at no less than 45% of the
bare app's throughput. See bench/README.md.
"""

from bench.runner import Options, Run, run_bench

__all__ = ["Options", "Run", "run_bench"]
