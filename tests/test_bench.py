"""The benchmark (`make bench`) run tiny: it must produce every figure of RESULTS.md from
real servers under real wrk, and it must notice when it breaks (no request answered,
a wrong answer counted as right, pre-signed requests replayed). Nothing here depends
on how fast this machine is."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from xml.etree import ElementTree

import pytest

from bench import traffic, wrk
from bench.__main__ import main as bench_main
from bench.__main__ import parse
from bench.processes import ChildError
from bench.runner import PASSES, Run, checks

try:
    wrk.find_wrk()  # installs Debian's package when run as root (CI); .ci/run installs it too
except ChildError as missing:
    pytest.skip(str(missing), allow_module_level=True)

TINY = ["--quick", "--seconds", "1", "--warmup", "0", "--repetitions", "2", "--patients", "1500",
        "--reminders", "300", "--scale-sizes", "60:0,300:3000", "--scale-samples", "40",
        "--profile-texts", "100"]


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "RESULTS.md"
    code = bench_main([*TINY, "--out", str(out), "--json"])
    return code, out


def test_the_tiny_bench_writes_every_figure(tiny_bench):
    code, out = tiny_bench
    assert code == 0, "the bench reported problems (see its stderr)"
    report = out.read_text()
    for heading in ("## Targets", "## Webhook throughput", "## Where one reading's time goes",
                    "## The same reading as the clinic grows", "## Reminders at scale", "## SMS cost per task"):
        assert heading in report, heading
    for title in ("bare Flask, fixed TwiML", "patients and CHWs", "new numbers say hi", "PIN conversations"):
        assert f"| Lowband: {title} |" in report or f"| {title} |" in report, title
    targets = report.split("## Targets", 1)[1].split("##", 1)[0]
    for target in ("Throughput, Lowband / bare", "p99 at 16 connections", "Write lock held per text",
                   "p50 at 300 patients", "300 due reminders into the outbox"):
        assert target in targets, target
    # Every target row says met or not, with a figure.
    rows = [line for line in targets.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 5 and all("| yes |" in r or "| no |" in r for r in rows)
    assert "| Registration |" in report and "| Voice reading |" in report
    svg = ElementTree.parse(out.with_name("results.svg")).getroot()  # noqa: S314 (our own file)
    assert svg.tag.endswith("svg") and len(svg.findall("{http://www.w3.org/2000/svg}rect")) >= 9


def test_every_run_was_answered_and_judged(tiny_bench):
    _, out = tiny_bench
    report = out.read_text()
    runs = report.split("Runs in order:", 1)[1].split("\n\n", 2)[1]
    order = [line.split("|")[2].strip() for line in runs.splitlines()[2:]]
    # Interleaved: bare then Lowband, then Lowband then bare; then the two other passes.
    assert order == ["bare Flask, fixed TwiML", "Lowband: patients and CHWs", "Lowband: patients and CHWs",
                     "bare Flask, fixed TwiML", "Lowband: new numbers say hi", "Lowband: PIN conversations"]
    for line in runs.splitlines()[2:]:
        assert float(line.split("|")[3].replace(",", "")) > 0, line  # texts/s


# -- the judging, against a server that answers wrongly on purpose ------------------------


class _Answers(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())["Body"][0]
        status, text = {
            "BP 120/80": (200, "saved BP 120/80"),  # right
            "BP 121/81": (200, "Sorry, something went wrong. Please try again."),  # the apology
            "BP 122/82": (200, "saved BP 999/99"),  # a reading not echoed
            "BP 123/83": (500, "boom"),
        }[body]
        raw = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{text}</Message></Response>'.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


def test_wrong_answers_are_counted_wrong_and_replays_are_flagged(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        texts = [traffic.Text("bp", "+254710000001", f"BP {s}/{d}", f"{s}/{d}")
                 for s, d in ((120, 80), (121, 81), (122, 82), (123, 83))]
        batches = [[(t, f"SM{c:08x}{i:024x}") for i, t in enumerate(texts)] for c in range(2)]
        wrk.write_requests(tmp_path, batches, "http://127.0.0.1/sms", "token",
                           bad=wrk.as_in_twiml(["Sorry, something went wrong. Please try again."]))
        result = wrk.run(f"http://127.0.0.1:{server.server_port}", tmp_path, connections=2, seconds=1)
    finally:
        server.shutdown()
    assert result["requests"] > 40
    assert result["ok"] > 0 and result["not_200"] > 0
    # One right answer in four, whichever way it goes wrong (give or take the texts in flight).
    assert abs(result["wrong"] - 3 * result["ok"]) <= 8, result
    assert result["reused"] > 0  # four texts a connection, sent again and again
    run = Run(options={}, machine={}, runs=[{**result, "name": "mix", "app": "lowband", "round": 0}])
    problems = checks(run)
    assert any("wrong answers" in p for p in problems)
    assert any("ran out of pre-signed requests" in p for p in problems)


def test_a_run_that_answered_nothing_is_a_problem():
    nothing = {"name": "mix", "app": "lowband", "round": 0, "requests": 0, "ok": 0, "wrong": 0, "not_200": 0,
               "socket_errors": 12, "reused": 0, "samples": []}
    problems = checks(Run(options={}, machine={}, runs=[nothing]))
    assert "mix round 1: no request was answered" in problems
    assert any("connection errors" in p for p in problems)


def test_options():
    args = parse(["--quick", "--connections", "8", "--passes", "bare,mix"])
    assert (args.options.connections, args.options.passes, args.seconds) == (8, ("bare", "mix"), 4.0)
    assert parse([]).options.passes == PASSES
    with pytest.raises(SystemExit):
        parse(["--passes", "bare,nonsense"])
    with pytest.raises(SystemExit):
        parse(["--parts", "speed"])
