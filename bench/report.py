"""The bench's report: a short text for people, or one JSON object."""

from __future__ import annotations

import json

from bench.runner import TARGET, Run

# A GIL-bound server below this share of one CPU was held back by something else.
SATURATED = 90

TITLES = {
    "bare": "bare Flask (fixed TwiML)",
    "mix": "Lowband, patients + CHWs",
    "new": "Lowband, new numbers 'hi'",
    "pin": "Lowband, PIN conversations",
}


def as_json(run: Run) -> str:
    return json.dumps(run.to_json(), sort_keys=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MB"


def as_text(run: Run) -> str:
    data = run.to_json()
    o, setup = data["options"], data["setup"]
    lines = [
        f"Lowband webhook bench: {data['machine']['cpus']} CPUs, waitress threads={o['threads']}, "
        f"{o['clients']} keep-alive clients in {data['machine']['load_procs']} processes, "
        f"{o['seconds']:g} s per pass after {o['warmup']:g} s warm-up",
        f"Clinic: {setup['patients']} patients with phones in {setup['chws']} CHW panels "
        f"(+ demo clinic), set up in {setup['seconds']:g} s",
        "",
        f"{'pass':<28}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'srv CPU':>9}{'CPU ms/req':>12}{'load CPU':>10}{'peak RSS':>10}",
    ]
    for name, p in data["passes"].items():
        lat = p["latency_ms"]
        cpu = "-" if p["server_cpu_pct"] is None else f"{p['server_cpu_pct']:.0f}%"
        load = f"{p['client_cpu_pct']:.0f}%"
        lines.append(
            f"{TITLES[name]:<28}{p['rps']:>9.1f}{_ms(lat['p50']):>9}{_ms(lat['p95']):>9}{_ms(lat['p99']):>9}"
            f"{p['errors']:>8}{cpu:>9}{_ms(p['server_cpu_ms_per_request']):>12}{load:>10}"
            f"{_mb(p['peak_rss_bytes']):>10}"
        )
    lines.append("")
    if "ratio" in data:
        lines.append(
            f"Throughput ratio Lowband/bare: {data['ratio']:.1%} (target >= {TARGET:.0%}): {data['verdict']}"
        )
        if data.get("cpu_ratio") is not None:
            lines.append(
                f"CPU cost ratio (bare's server CPU per request / Lowband's): {data['cpu_ratio']:.1%}"
            )
        bare = data["passes"]["bare"]
        if bare["server_cpu_pct"] is not None and bare["server_cpu_pct"] < SATURATED:
            lines.append(
                f"  (the bare server used {bare['server_cpu_pct']:.0f}% of a CPU: the load generator, sharing this "
                "machine's CPUs, held it back, so bare Flask's real ceiling is higher and the ratio flatters Lowband)"
            )
    for name, p in data["passes"].items():
        lines += _details(name, p)
    pin = data["passes"].get("pin")
    lines.append("")
    lines.append(
        f"Note: one PIN check at the production cost (scrypt, LOWBAND_PIN_WORK default) takes "
        f"{setup['pin_check_cpu_ms']:.0f} ms of CPU; the mix never asks for a PIN"
        + (f"; the PIN pass ran {pin['by_kind'].get('pin_check', {}).get('count', 0) / pin['seconds']:.1f} "
           "PIN checks/s." if pin else ".")
    )
    lines.append(
        f"Database after all passes: {setup['db_after']['rows_total']} rows, "
        f"{setup['db_after']['bytes'] / 2**20:.1f} MB (was {setup['db']['bytes'] / 2**20:.1f} MB)."
    )
    return "\n".join(lines)


def _details(name: str, p: dict) -> list[str]:
    out = []
    kinds = ", ".join(
        f"{kind} {k['count']} (p50 {_ms(k['p50'])}, p95 {_ms(k['p95'])})" for kind, k in p["by_kind"].items()
    )
    if p["app"] == "lowband":
        out.append(f"  {name}: {kinds}")
        odd = {k: v for k, v in p["verdicts"].items() if k != "ok"}
        if odd:
            out.append(f"  {name}: answers that were not plain OK: {odd}")
        muted = p["verdicts"].get("guarded", 0) + p["verdicts"].get("empty", 0)
        if p["requests"] and muted / p["requests"] > 0.01:
            out.append(
                f"  {name}: WARNING: the loop guard muted {muted / p['requests']:.0%} of the texts (too few numbers "
                "for this rate: each may send 10 a minute); muted texts are cheap, so this flatters Lowband. "
                "Use more --patients."
            )
    grew = p.get("db_growth")
    if grew:
        tables = ", ".join(f"{t} +{n}" for t, n in sorted(grew["rows"].items()))
        out.append(
            f"  {name}: database +{grew['rows_total']} rows ({tables}), +{grew['bytes'] / 1024:.0f} KiB, "
            f"{grew['bytes_per_request']:.0f} bytes and {grew['rows_per_request']:.2f} rows per request "
            f"({p['sent_total']} sent incl. warm-up)"
        )
    if p["server_log_errors"]:
        out.append(f"  {name}: the server logged {p['server_log_errors']} errors, e.g.:")
        out += [f"    {line}" for line in p["server_log_excerpt"][:4]]
    if p["ran_out_of_senders"]:
        out.append(f"  {name}: some load threads ran out of numbers before the end (use more --patients)")
    for sample in p["samples"][:3]:
        out.append(f"  {name}: e.g. {sample}")
    return out
