"""Care rules: whether a reading is normal, low, high or urgent, and when readings trend high.

The thresholds are data: the defaults in care_rules.toml beside this module (each with its
published source written beside it, and every key explained in its header), with a clinic's
override file merged on top. Load them once with `load_rules(override)`; the result is
immutable and its methods are pure.

Levels, mildest first, are LEVELS = ("normal", "low", "high", "urgent"). An assessment's
`rule` names the bound that fired as "<kind>.<bound>", bound being one of "urgent_low",
"low", "high", "urgent_high": e.g. "bp.urgent_high", "glucose.low", "glucose.urgent_low",
"pulse.urgent_high". The direction matters to the advice (a sugar of 2.5 and one of 20 are
both urgent, and the first needs sugar at once), so it is in the id, not only the level.
"""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType

from flows.readings import Reading

DEFAULTS = Path(__file__).with_name("care_rules.toml")

LEVELS = ("normal", "low", "high", "urgent")
# A trend counts readings that were at least high; an urgent one has already alerted on its
# own, but it is still part of a week of high readings.
TREND_LEVELS = frozenset({"high", "urgent"})

# The value each kind's thresholds compare, by the names Reading.values uses. Only bp has
# two, so only bp's thresholds are written as tables ({ systolic = 180, diastolic = 120 }).
# The pulse inside a bp reading is judged by the pulse rules, not listed here.
MEASURES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "bp": ("systolic", "diastolic"),
    "glucose": ("mmol_l",),
    "weight": ("kg",),
    "temperature": ("celsius",),
    "spo2": ("percent",),
    "pulse": ("bpm",),
})


@dataclass(frozen=True)
class _Key:
    """What a threshold key in the file means: which bound, the level it gives, and its test."""

    bound: str
    level: str
    fires: Callable[[float, float], bool]


# Two spellings for each bound, because guidelines are written both ways ("180 or more",
# "more than 16.7") and an admin should be able to copy the guideline's own words.
_KEYS: Mapping[str, _Key] = MappingProxyType({
    "urgent_below": _Key("urgent_low", "urgent", operator.lt),
    "urgent_at_or_below": _Key("urgent_low", "urgent", operator.le),
    "low_below": _Key("low", "low", operator.lt),
    "low_at_or_below": _Key("low", "low", operator.le),
    "high_above": _Key("high", "high", operator.gt),
    "high_at_or_above": _Key("high", "high", operator.ge),
    "urgent_above": _Key("urgent_high", "urgent", operator.gt),
    "urgent_at_or_above": _Key("urgent_high", "urgent", operator.ge),
})
_BOUNDS = ("urgent_low", "low", "high", "urgent_high")  # the order their values must keep
_TREND_KEYS = ("count", "days")


class CareRulesError(ValueError):
    """A care rules file cannot be read or is wrong. str() is one line naming the file and
    the key at fault, fit to print to a clinic admin as it is."""


@dataclass(frozen=True)
class Assessment:
    """How one reading compares with the rules. `rule` is None when normal; `target` is the
    target text of the kind whose rule fired (the reading's own kind when normal), or None
    when that kind has no target."""

    level: str
    rule: str | None
    target: str | None


@dataclass(frozen=True)
class Threshold:
    """One number from the file: `key` as written (e.g. "high_at_or_above") for `measure`."""

    key: str
    measure: str
    value: float

    def fires(self, value: float) -> bool:
        return _KEYS[self.key].fires(value, self.value)


@dataclass(frozen=True)
class KindRules:
    kind: str
    target: str | None
    thresholds: tuple[Threshold, ...]

    def assess(self, values: Mapping[str, float | None]) -> Assessment:
        result = Assessment("normal", None, self.target)
        for threshold in self.thresholds:
            value = values.get(threshold.measure)
            key = _KEYS[threshold.key]
            if value is not None and threshold.fires(value) and _more_severe(key.level, result.level):
                result = Assessment(key.level, f"{self.kind}.{key.bound}", self.target)
        return result


@dataclass(frozen=True)
class CareRules:
    """The clinic's rules for every kind of reading, and the trend rule."""

    kinds: Mapping[str, KindRules]
    trend_count: int
    trend_days: float

    def assess(self, reading: Reading) -> Assessment:
        """The most severe rule the reading breaks. A pulse sent with a blood pressure is
        judged by the pulse rules too; on a tie the blood pressure's own rule is named."""
        result = self._rules(reading.kind).assess(reading.values)
        if reading.kind == "bp" and reading.values.get("pulse") is not None:
            pulse = self.kinds["pulse"].assess({"bpm": reading.values["pulse"]})
            if _more_severe(pulse.level, result.level):
                result = pulse
        return result

    def trend(self, kind: str, history: Sequence[tuple[datetime, str]], now: datetime) -> bool:
        """True when at least `trend_count` readings of `kind` were high or urgent within the
        last `trend_days` days up to `now`. `history` is (taken_at, level) of the patient's
        recent readings of that kind, the new one included; datetimes must all be aware (or
        all naive) like `now`. The same rule applies to every kind today."""
        self._rules(kind)
        since = now - timedelta(days=self.trend_days)
        high = sum(1 for taken_at, level in history if level in TREND_LEVELS and since <= taken_at <= now)
        return high >= self.trend_count

    def _rules(self, kind: str) -> KindRules:
        try:
            return self.kinds[kind]
        except KeyError:
            raise ValueError(f"no care rules for kind {kind!r}") from None


def load_rules(override: Path | str | None = None) -> CareRules:
    """The default rules with the clinic's `override` file (same tables, only the keys it
    changes) merged on top. Raises CareRulesError for a missing, unreadable or wrong file."""
    defaults = _read(DEFAULTS)
    _check_file(defaults, DEFAULTS)
    rules = _build(defaults, DEFAULTS)
    if override is None:
        return rules
    path = Path(override)
    changes = _read(path)
    _check_file(changes, path)
    # The defaults were just built without fault, so a fault now is the override's doing.
    return _build(_merge(defaults, changes), path)


# Reading and checking the files. Messages name the file and key, never a patient's value.


def _fail(path: Path, where: str, problem: str) -> CareRulesError:
    return CareRulesError(" ".join(f"{path}: {where}: {problem}".split()))


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise _fail(path, "file", f"cannot read it ({error.strerror or type(error).__name__})") from None
    except tomllib.TOMLDecodeError as error:
        raise _fail(path, "file", f"not valid TOML ({error})") from None
    except UnicodeDecodeError:
        raise _fail(path, "file", "not UTF-8 text; save it as UTF-8") from None


def _is_number(value: object) -> bool:
    # TOML booleans are Python bools, which are ints: "= true" must not pass as 1.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_file(data: dict, path: Path) -> None:
    """Known tables and keys, and values of the right type; order is checked after merging."""
    for table, body in data.items():
        if table != "trend" and table not in MEASURES:
            raise _fail(path, f"[{table}]", f"unknown kind; known: {', '.join(MEASURES)}, trend")
        if not isinstance(body, dict):
            raise _fail(path, f"[{table}]", "must be a table, written [" + table + "] on its own line")
        if table == "trend":
            _check_trend(body, path)
            continue
        bounds: dict[str, str] = {}
        for key, value in body.items():
            where = f"[{table}] {key}"
            if key == "target":
                if not isinstance(value, str):
                    raise _fail(path, where, 'must be text in quotes, e.g. target = "below 140/90"')
                continue
            if key not in _KEYS:
                raise _fail(path, where, f"unknown key; known: target, {', '.join(_KEYS)}")
            bound = _KEYS[key].bound
            if bound in bounds:
                raise _fail(path, where, f"use only one of {bounds[bound]} and {key}")
            bounds[bound] = key
            _check_threshold(table, value, path, where)


def _check_threshold(kind: str, value: object, path: Path, where: str) -> None:
    measures = MEASURES[kind]
    if len(measures) == 1:
        if not _is_number(value):
            raise _fail(path, where, "must be a number")
        return
    example = "{ " + ", ".join(f"{m} = ..." for m in measures) + " }"
    if not isinstance(value, dict) or not value:
        raise _fail(path, where, f"must be a table like {example}")
    for measure, number in value.items():
        if measure not in measures:
            raise _fail(path, f"{where}.{measure}", f"unknown key; known: {', '.join(measures)}")
        if not _is_number(number):
            raise _fail(path, f"{where}.{measure}", "must be a number")


def _check_trend(body: dict, path: Path) -> None:
    for key, value in body.items():
        where = f"[trend] {key}"
        if key not in _TREND_KEYS:
            raise _fail(path, where, f"unknown key; known: {', '.join(_TREND_KEYS)}")
        if key == "count" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise _fail(path, where, "must be a whole number, 1 or more")
        if key == "days" and not (_is_number(value) and value > 0):
            raise _fail(path, where, "must be a number of days above 0")


def _merge(defaults: dict, changes: dict) -> dict:
    merged = {table: dict(body) for table, body in defaults.items()}
    for table, body in changes.items():
        into = merged.setdefault(table, {})
        for key, value in body.items():
            old = into.get(key)
            if isinstance(old, dict) and isinstance(value, dict):
                into[key] = {**old, **value}  # { systolic = 170 } keeps the default diastolic
                continue
            if key in _KEYS:
                # A bound written in the other spelling replaces the default's, whole.
                for other, meaning in _KEYS.items():
                    if meaning.bound == _KEYS[key].bound:
                        into.pop(other, None)
            into[key] = value
    return merged


def _build(data: dict, path: Path) -> CareRules:
    kinds = {}
    for kind, measures in MEASURES.items():
        body = data.get(kind, {})
        thresholds = [
            Threshold(key, measure, float(number))
            for key, value in body.items()
            if key != "target"
            for measure, number in (value.items() if isinstance(value, dict) else [(measures[0], value)])
        ]
        _check_order(kind, thresholds, path)
        kinds[kind] = KindRules(kind, body.get("target") or None, tuple(thresholds))
    trend = data.get("trend", {})
    for key in _TREND_KEYS:
        if key not in trend:
            raise _fail(path, f"[trend] {key}", "missing")
    return CareRules(MappingProxyType(kinds), trend["count"], float(trend["days"]))


def _check_order(kind: str, thresholds: list[Threshold], path: Path) -> None:
    """Per measure, bounds must rise: urgent low < low < high < urgent high. Otherwise a
    level could never fire (urgent at 140 under high at 150) or two would overlap."""
    for measure in MEASURES[kind]:
        present = sorted((t for t in thresholds if t.measure == measure), key=_bound_index)
        suffix = f".{measure}" if len(MEASURES[kind]) > 1 else ""
        for lower, upper in zip(present, present[1:], strict=False):
            if lower.value < upper.value:
                continue
            # Name the bound further from normal: that is the one an admin moved past the other.
            if _bound_index(upper) <= _BOUNDS.index("low"):
                named, relation, other = lower, "below", upper
            else:
                named, relation, other = upper, "above", lower
            raise _fail(
                path,
                f"[{kind}] {named.key}{suffix}",
                f"{named.value:g} must be {relation} {other.key}{suffix} ({other.value:g})",
            )


def _bound_index(threshold: Threshold) -> int:
    return _BOUNDS.index(_KEYS[threshold.key].bound)


def _more_severe(level: str, than: str) -> bool:
    return LEVELS.index(level) > LEVELS.index(than)
