"""Trend charts drawn on the server as SVG: no script, a few hundred bytes, readable on a
small phone. The clinic's target band is shaded and urgent readings are marked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from flows.care_rules import CareRules
from storage.care import StoredReading

WIDTH, HEIGHT = 340, 170
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 10, 24  # room for the value and date labels
# What each chart plots, by kind: the measures and their colours.
PLOTTED = {"bp": (("systolic", "#b0004f"), ("diastolic", "#1f5fa8")), "glucose": (("mmol_l", "#5a3d99"),)}
UNITS = {"bp": "mmHg", "glucose": "mmol/L"}


def target_band(rules: CareRules, kind: str, measure: str) -> tuple[float | None, float | None]:
    """(low, high) from the clinic's own thresholds: below low or above high is flagged."""
    low = high = None
    kind_rules = rules.kinds.get(kind)
    for threshold in kind_rules.thresholds if kind_rules else ():
        if threshold.measure != measure:
            continue
        if threshold.key.startswith("low_"):
            low = threshold.value
        elif threshold.key.startswith("high_"):
            high = threshold.value
    return low, high


def trend_chart(kind: str, readings: Sequence[StoredReading], rules: CareRules, zone: str) -> str | None:
    """The SVG of one kind's readings, oldest on the left; None with fewer than two."""
    points = sorted((r for r in readings if r.kind == kind), key=lambda r: r.taken_at)
    if len(points) < 2:
        return None
    measures = PLOTTED[kind]
    values = [float(r.measured[m]) for r in points for m, _ in measures if r.measured.get(m) is not None]
    bands = [target_band(rules, kind, m) for m, _ in measures]
    edges = [v for band in bands for v in band if v is not None]
    low, high = min(values + edges), max(values + edges)
    pad = (high - low) * 0.08 or 1.0
    low, high = low - pad, high + pad
    times = [datetime.fromisoformat(r.taken_at).timestamp() for r in points]
    first, last = times[0], times[-1]

    def x(t: float) -> float:
        return LEFT + (t - first) / ((last - first) or 1) * (WIDTH - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * (HEIGHT - TOP - BOTTOM)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
             f'aria-label="{kind} readings, {len(points)} points">']
    for (measure, colour), (band_low, band_high) in zip(measures, bands, strict=True):
        top = y(band_high) if band_high is not None else TOP
        bottom = y(band_low) if band_low is not None else HEIGHT - BOTTOM
        parts.append(f'<rect class="band" x="{LEFT}" y="{top:.1f}" width="{WIDTH - LEFT - RIGHT}" '
                     f'height="{max(bottom - top, 0):.1f}" fill="{colour}" fill-opacity="0.08"/>')
        for edge in (band_low, band_high):
            if edge is not None:
                parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(edge):.1f}" y2="{y(edge):.1f}" '
                             f'stroke="{colour}" stroke-dasharray="3 3" stroke-width="0.8"/>'
                             f'<text x="2" y="{y(edge) + 3:.1f}" font-size="9" fill="{colour}">{edge:g}</text>')
        line = [(x(t), y(float(r.measured[measure])), r) for t, r in zip(times, points, strict=True)
                if r.measured.get(measure) is not None]
        parts.append(f'<polyline class="{measure}" fill="none" stroke="{colour}" stroke-width="1.5" points="'
                     + " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in line) + '"/>')
        for px, py, reading in line:
            urgent = reading.level == "urgent"
            parts.append(f'<circle class="{"urgent" if urgent else "point"}" cx="{px:.1f}" cy="{py:.1f}" '
                         f'r="{4.5 if urgent else 2.5}" fill="{"#d40000" if urgent else colour}"/>')
    tz = ZoneInfo(zone)
    for t, anchor, at in ((first, "start", LEFT), (last, "end", WIDTH - RIGHT)):
        label = datetime.fromtimestamp(t, tz).strftime("%d/%m")
        parts.append(f'<text x="{at}" y="{HEIGHT - 6}" font-size="9" text-anchor="{anchor}">{label}</text>')
    parts.append(f'<text x="{LEFT + 2}" y="{TOP + 8}" font-size="9">{UNITS[kind]}</text>')
    parts.append("</svg>")
    return "".join(parts)
