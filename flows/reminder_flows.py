"""Menu item 4, "My reminders": what is due next, pause them a week, start them again,
or stop them. Behind the PIN (a reminder names a medicine)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flows import effects as fx
from flows.context import Context
from flows.engine import DONE, NUMBER, Answer, Flow, Invalid, Option, Session, Step, Turn, msg
from flows.patient_flows import YES_NO
from flows.runner import Action, Registry, answered

PAUSE_DAYS = 7
MAX_TIMES = 4  # times a day one reminder may have
CHOICES = tuple(Option(value, msg(f"option.reminders.{value}"))
                for value in ("pause", "resume", "time", "channel", "stop"))
CHANNELS = (Option("calls", msg("option.reminders.calls")), Option("sms", msg("option.reminders.sms")))
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.h]?([0-5]\d)$")


def _person(ctx: Context, session: Session):
    return ctx.person(session.patient_id)


def my_reminders(turn: Turn) -> Answer:
    person = _person(turn.ctx, turn.session)
    if turn.ctx.directory.reminders(person.id):
        return Answer(goto="@manage_reminders")
    medicines = [label for _, label in turn.ctx.directory.medications(person.id)]
    if not medicines:
        return answered("reminders.none", name=person.display_name)
    return answered("reminders.none_set", name=person.display_name, medicines=", ".join(medicines))


def _listed(ctx: Context, session: Session) -> Mapping[str, Any]:
    person = _person(ctx, session)
    rules = ctx.directory.reminders(person.id)
    upcoming = sorted((r for r in rules if r.next_at), key=lambda r: r.next_at)
    first = upcoming[0] if upcoming else None
    when = first.next_at.astimezone(ZoneInfo(person.time_zone)).strftime("%d/%m %H:%M") if first else "-"
    return {"name": person.display_name, "count": len(rules), "when": when, "what": first.what if first else ""}


def chosen(choice: str, turn: Turn) -> Answer:
    person, ctx = _person(turn.ctx, turn.session), turn.ctx
    if choice == "stop":
        return Answer(goto="stop")
    if choice == "time":
        return Answer(goto="new_time")
    if choice == "channel":
        return Answer(goto="channel")
    if choice == "pause":
        until = ctx.now + timedelta(days=PAUSE_DAYS)
        local = until.astimezone(ZoneInfo(person.time_zone)).strftime("%d/%m")
        return Answer(goto=DONE, say=(msg("reminders.paused", name=person.display_name, date=local),),
                      effects=(fx.PauseReminders(person.id, until.isoformat(timespec="seconds")),))
    return Answer(goto=DONE, say=(msg("reminders.resumed", name=person.display_name),),
                  effects=(fx.PauseReminders(person.id, None),))


def _next_rule(ctx: Context, session: Session):
    rules = [r for r in ctx.directory.reminders(_person(ctx, session).id) if r.times]
    return min(rules, key=lambda r: r.next_at or ctx.now) if rules else None


def parse_times(text: str, ctx: Context, data: Mapping[str, Any]) -> tuple[str, ...]:
    """"8:00", "0800", "08:00 20:00" or "8.00,20.00": local times, each a real one."""
    parts = [p for p in re.split(r"[ ,;]+", text.strip()) if p]
    times = []
    for part in parts:
        match = _TIME.match(part)
        if not match:
            raise Invalid("reminders.time_hint")
        times.append(f"{int(match.group(1)):02d}:{match.group(2)}")
    if not times or len(times) > MAX_TIMES:
        raise Invalid("reminders.time_hint")
    return tuple(sorted(set(times)))


def _time_params(ctx: Context, session: Session) -> Mapping[str, Any]:
    rule = _next_rule(ctx, session)
    return {"what": rule.what if rule else "", "times": rule.times.replace(",", " ") if rule else ""}


def time_changed(times: tuple[str, ...], turn: Turn) -> Answer:
    rule, person = _next_rule(turn.ctx, turn.session), _person(turn.ctx, turn.session)
    if rule is None:
        return Answer(goto=DONE)
    return Answer(goto=DONE, say=(msg("reminders.time_changed", name=person.display_name, what=rule.what,
                                      times=" ".join(times)),),
                  effects=(fx.ChangeReminderTimes(rule.id, times),))


def channel_chosen(choice: str, turn: Turn) -> Answer:
    person = _person(turn.ctx, turn.session)
    calls = choice == "calls"
    said = msg("reminders.by_calls" if calls else "reminders.by_sms", name=person.display_name)
    return Answer(goto=DONE, say=(said,), effects=(fx.SetReminderChannel(person.id, calls),))


def stop_confirmed(answer: str, turn: Turn) -> Answer:
    person = _person(turn.ctx, turn.session)
    if answer == "no":
        return Answer(goto=DONE, say=(msg("reminders.kept"),))
    return Answer(goto=DONE, say=(msg("reminders.stopped", name=person.display_name),),
                  effects=(fx.StopReminders(person.id),))


def register(registry: Registry) -> None:
    """Add "My reminders" to `registry` (see flows.flow_registry)."""
    registry.action(Action("reminders", my_reminders, private=True))
    registry.flow(Flow(
        name="manage_reminders",
        start="what",
        steps={
            "what": Step(prompt="reminders.list", options=CHOICES, params=_listed, then=chosen,
                         hint="reminders.list_hint"),
            "stop": Step(prompt="reminders.stop_confirm", options=YES_NO, then=stop_confirmed, numbered=False,
                         hint="reminders.stop_confirm"),
            "channel": Step(prompt="reminders.channel_ask", options=CHANNELS, then=channel_chosen,
                            hint="reminders.channel_ask"),
            "new_time": Step(prompt="reminders.time_ask", parse=parse_times, then=time_changed, params=_time_params,
                             hint="reminders.time_hint", expects=NUMBER),
        },
        private=True,
    ))
