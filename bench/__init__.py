"""Lowband's benchmark: `make bench` (or `make bench QUICK=1`), see bench/README.md.

Throughput of the inbound SMS webhook under wrk against a bare Flask app on the same
server, the same reading at growing clinic sizes, reminders at scale and the SMS cost
of each task; `python -m bench` writes bench/RESULTS.md and bench/results.svg.
"""
