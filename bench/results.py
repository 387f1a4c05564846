"""bench/RESULTS.md and bench/results.svg from one bench's figures.

The figures come in as plain data (`python -m bench --json` prints the same), so the
report is rebuilt the same way on any machine. Every target gets a line: met, or the
measured figure, what the profile says limits it, and the next step.
"""

from __future__ import annotations

from html import escape

TITLES = {
    "bare": "bare Flask, fixed TwiML",
    "mix": "Lowband: patients and CHWs",
    "new": "Lowband: new numbers say hi",
    "pin": "Lowband: PIN conversations",
}

# What limits each target when it is missed, from the profile (docs in bench/README.md).
LIMITS = {
    "ratio": (
        "CPU per text: the server spends {lowband_cpu} ms of CPU on a Lowband text against {bare_cpu} ms on "
        "bare's fixed answer, and both use every core, so the ratio is about their quotient ({cpu_ratio}). "
        "The profile below: {profile}.",
        "Cut the plan: merge the contact and session rows that are always read together (two reads and two "
        "writes a text), read the sender's people, contact and session in one query, and seal before the "
        "write lock. (TwiML by the twilio library costs 16 µs a text: not worth leaving the library for.)",
    ),
    "p99": (
        "Queueing behind the CPU: at saturation a text waits for the {connections} connections' texts ahead "
        "of it; p99 follows CPU per text.",
        "The same CPU cuts as the ratio.",
    ),
    "lock": (
        "The write transaction holds the whole commit: the inbound record, the reading and its five index "
        "entries, the contact and the session rows, each a page in the WAL.",
        "Fewer pages per text: merge the contact and session rows, drop indexes no query needs; take the "
        "optimistic check and the writes only, with everything else before the lock.",
    ),
    "scale": (
        "Index depth and page cache: the largest database no longer fits the cache SQLite keeps per "
        "connection.",
        "A larger `cache_size` on request connections, or fewer pages touched per text.",
    ),
    "reminders": (
        "Work per reminder in the dispatcher pass: each is rendered, sealed and written with its delivery key "
        "and its rule moved on, in batches of 200.",
        "Profile the pass; batch the rule updates and outbox inserts into one statement each per batch.",
    ),
}


def _r(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _spread(s: dict, digits: int = 1) -> str:
    if not s:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return _r(s["median"], digits)
    return f"{_r(s['median'], digits)} ({_r(s['min'], digits)}–{_r(s['max'], digits)})"


def _mb(value) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f} MB"


def targets(data: dict) -> list[tuple[str, str, str, bool | None, str]]:
    """(target, aim, measured, met, limit and next step) for each target."""
    rows = []
    summary = data.get("throughput", {}).get("summary", {})
    ratio = summary.get("ratio")
    if ratio:
        bare_cpu = summary["bare"]["cpu_ms_per_request"].get("median")
        lowband_cpu = summary["mix"]["cpu_ms_per_request"].get("median")
        facts = {"bare_cpu": _r(bare_cpu, 2), "lowband_cpu": _r(lowband_cpu, 2), "profile": _profile_line(data),
                 "cpu_ratio": f"{bare_cpu / lowband_cpu:.2f}" if bare_cpu and lowband_cpu else "-",
                 "connections": data["throughput"]["options"]["connections"]}
        rows.append(("Throughput, Lowband / bare on the same server", f"≥ {ratio['target']:.2f}",
                     f"{ratio['of_medians']:.3f} (rounds {ratio['min']:.3f}–{ratio['max']:.3f})", ratio["met"],
                     _limit("ratio", facts)))
        p99 = summary["mix"]["p99_ms"]
        rows.append((f"p99 at {facts['connections']} connections", f"≤ {summary['mix']['p99_target_ms']:.0f} ms",
                     f"{_spread(p99)} ms", summary["mix"]["p99_met"], _limit("p99", facts)))
    prof = data.get("profile")
    if prof and prof.get("lock_ms_per_text") is not None:
        rows.append(("Write lock held per text (in-process)", "≤ 0.25 ms", f"{prof['lock_ms_per_text']:.2f} ms",
                     prof["lock_ms_per_text"] <= 0.25, _limit("lock", {})))
    scale = data.get("scale")
    if scale:
        sizes = scale["sizes"]
        largest = f"{sizes[-1]['patients']:,} patients, {sizes[-1]['readings']:,} readings"
        rows.append((f"p50 at {largest} / at {sizes[0]['patients']:,}", f"≤ {scale['target']}",
                     _r(scale.get("p50_ratio"), 2), scale.get("p50_ratio") is not None
                     and scale["p50_ratio"] <= scale["target"], _limit("scale", {})))
    reminders = data.get("reminders")
    if reminders:
        rows.append((f"{reminders['due']:,} due reminders into the outbox",
                     f"≤ {reminders['target_seconds']:.0f} s and {_mb(reminders['target_bytes'])}",
                     f"{reminders['pass_seconds']:.1f} s, {_mb(reminders['peak_rss_bytes'])}", reminders["met"],
                     _limit("reminders", {})))
    return rows


def _profile_line(data: dict) -> str:
    prof = data.get("profile")
    if not prof:
        return "not run"
    phases = "; ".join(f"{p['phase']} {p['ms_per_text']:.2f} ms" for p in prof["phases"][1:])
    return (f"{prof['ms_per_text']:.2f} ms a reading in-process, {prof['sql_per_text']:.0f} SQL statements; "
            f"profiled, {phases}")


def _limit(key: str, facts: dict) -> str:
    limit, step = LIMITS[key]
    return f"{limit.format(**facts)} Next: {step}"


def as_markdown(data: dict) -> str:
    m = data["machine"]
    lines = [
        "# Lowband benchmark results",
        "",
        f"{'Quick run (`make bench QUICK=1`)' if data.get('quick') else 'Full run (`make bench`)'} on "
        f"{m['date']}, commit `{data.get('commit') or 'unknown'}`: {m['cpus']} CPU cores, "
        f"{_mb(m.get('memory_bytes'))} of memory, load average {_r(m.get('load_before'), 2)} before the run "
        f"(each run's own is in the table of runs). Regenerate with `make bench`; how it measures is in "
        "[README.md](README.md).",
        "",
        "![Throughput and p99 by configuration](results.svg)",
        "",
    ]
    problems = data.get("problems") or []
    if problems:
        lines += ["**The bench found problems; the figures below are not to be trusted:**", ""]
        lines += [f"- {p}" for p in problems] + [""]
    lines += ["## Targets", "", "| target | aim | measured | met | what limits it, and the next step |",
              "| --- | --- | --- | --- | --- |"]
    for name, aim, measured, met, limit in targets(data):
        lines.append(f"| {name} | {aim} | {measured} | {'yes' if met else 'no'} | {'' if met else limit} |")
    lines += _throughput(data.get("throughput"))
    if data.get("profile_markdown"):
        lines += ["", "## Where one reading's time goes", "", data["profile_markdown"]]
    lines += _scale(data.get("scale"))
    lines += _reminders(data.get("reminders"))
    if data.get("cost_markdown"):
        lines += ["", "## SMS cost per task", "",
                  "Segments each way for one person doing the task in their own language (every segment is "
                  "billed; out counts replies and everything queued for staff).", "", data["cost_markdown"]]
    return "\n".join(lines).rstrip() + "\n"


def _throughput(t: dict | None) -> list[str]:
    if not t:
        return []
    o, s = t["options"], t["summary"]
    lines = [
        "", "## Webhook throughput",
        "",
        f"wrk, {o['connections']} connections (one per wrk thread), pre-signed Twilio webhooks; both apps under "
        f"gunicorn with {t['machine']['server_processes']} processes of {o['threads']} threads, on 127.0.0.1. "
        f"Bare and Lowband interleaved over {o['repetitions']} rounds of {o['seconds']:g} s after "
        f"{o['warmup']:g} s of warm-up; median (min–max). Clinic: {t['setup']['patients']:,} patients, "
        f"{t['setup']['chws']:,} CHWs. CPU is the server's (all its processes) per answered request.",
        "",
        "| configuration | texts/s | p50 ms | p99 ms | server CPU ms/text | answered | wrong |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, p in s.items():
        if name in TITLES:
            lines.append(f"| {TITLES[name]} | {_spread(p['rps'])} | {_spread(p['p50_ms'])} | {_spread(p['p99_ms'])} "
                         f"| {_spread(p['cpu_ms_per_request'], 2)} | {p['ok']:,} | {p['wrong']:,} |")
    lines += ["", "Runs in order:", "", "| round | configuration | texts/s | p50 ms | p99 ms | load (1 min) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in t["runs"]:
        lines.append(f"| {r['round'] + 1} | {TITLES[r['name']]} | {_r(r['rps'])} | {_r(r['p50_ms'])} "
                     f"| {_r(r['p99_ms'])} | {_r(r['load_1min'], 2)} |")
    growth = t["setup"].get("db_growth")
    if growth:
        lines += ["", f"The database grew by {growth['rows_total']:,} rows ({growth['bytes'] / 2**20:,.1f} MB) "
                  "over all Lowband runs, warm-ups included."]
    return lines


def _scale(s: dict | None) -> list[str]:
    if not s:
        return []
    warmed = ("done for every size" if all(x.get("page_cache_warmed") for x in s["sizes"])
              else "not for every size: too large for half the free memory")
    lines = ["", "## The same reading as the clinic grows", "",
             "A registered patient, drawn at random, texts `BP 1xx/8x` through the signed webhook (in-process, "
             "one at a time, with the WAL checkpointer running as under `lowband serve`), after a warm-up; the "
             "clinic seeded in bulk with every field sealed as in production, and the database file read once "
             f"first, as a running server has it in the OS cache ({warmed}).",
             "",
             "| patients | readings of history | database | seeded in | p50 ms | p99 ms | texts | errors |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size in s["sizes"]:
        lines.append(f"| {size['patients']:,} | {size['readings']:,} | {_mb(size.get('db_bytes'))} "
                     f"| {_r(size.get('seed_seconds'))} s | {_r(size['p50_ms'], 2)} | {_r(size['p99_ms'], 2)} "
                     f"| {size['samples']:,} | {size['errors']} |")
    lines += ["", f"Largest over smallest: p50 {_r(s.get('p50_ratio'), 2)}, p99 {_r(s.get('p99_ratio'), 2)}."]
    return lines


def _reminders(r: dict | None) -> list[str]:
    if not r:
        return []
    return ["", "## Reminders at scale", "",
            f"{r['rules']:,} medicine reminders for as many patients, {r['due']:,} of them at 08:00. "
            f"`due` at a quiet minute: {r['due_quiet_seconds']:.2f} s; at 08:00: {r['due_busy']:,} in "
            f"{r['due_busy_seconds']:.2f} s. One dispatcher pass at 08:00 wrote {r['sent']:,} reminders to the "
            f"outbox ({r['missed']} missed) in {r['pass_seconds']:.1f} s, "
            f"{1000 * r['pass_seconds'] / max(r['sent'], 1):.2f} ms each; the process's peak memory was "
            f"{_mb(r['peak_rss_bytes'])} ({_mb(r['rss_before_pass_bytes'])} before the pass). "
            f"Set-up took {r['setup_seconds']:.0f} s."]


def as_svg(data: dict) -> str:
    """Two bar charts side by side: texts/s and p99 by configuration (medians)."""
    summary = data.get("throughput", {}).get("summary", {})
    names = [n for n in TITLES if n in summary]
    width, bar_h, gap, left = 760, 22, 10, 210
    height = 50 + len(names) * (bar_h + gap)
    panel = (width - left - 40) // 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12" role="img" aria-label="Throughput and p99 by configuration">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    charts = (("texts/s (median)", "rps", "#2f6f9f", left), ("p99 ms (median)", "p99_ms", "#b5562c", left + panel + 30))
    for title, key, colour, x0 in charts:
        values = [summary[n][key].get("median") or 0 for n in names]
        top = max(values) or 1
        out.append(f'<text x="{x0}" y="20" font-weight="bold">{escape(title)}</text>')
        for i, value in enumerate(values):
            y = 34 + i * (bar_h + gap)
            w = max(1, round(value / top * (panel - 60)))
            out.append(f'<rect x="{x0}" y="{y}" width="{w}" height="{bar_h}" fill="{colour}"/>')
            out.append(f'<text x="{x0 + w + 4}" y="{y + 15}">{value:,.0f}</text>')
    for i, name in enumerate(names):
        out.append(f'<text x="8" y="{34 + i * (bar_h + gap) + 15}">{escape(TITLES[name])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
