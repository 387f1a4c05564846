"""Menu item 4, "My reminders": what is due next, pause them a week, start them again,
or stop them. Behind the PIN (a reminder names a medicine)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flows import effects as fx
from flows.context import Context
from flows.engine import DONE, Answer, Flow, Option, Session, Step, Turn, msg
from flows.patient_flows import YES_NO
from flows.runner import Action, Registry, answered

PAUSE_DAYS = 7
CHOICES = tuple(Option(value, msg(f"option.reminders.{value}"))
                for value in ("pause", "resume", "stop"))


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
    return {"name": person.display_name, "count": len(rules), "time": when, "what": first.what if first else ""}


def chosen(choice: str, turn: Turn) -> Answer:
    person, ctx = _person(turn.ctx, turn.session), turn.ctx
    if choice == "stop":
        return Answer(goto="stop")
    if choice == "pause":
        until = ctx.now + timedelta(days=PAUSE_DAYS)
        local = until.astimezone(ZoneInfo(person.time_zone)).strftime("%d/%m")
        return Answer(goto=DONE, say=(msg("reminders.paused", name=person.display_name, date=local),),
                      effects=(fx.PauseReminders(person.id, until.isoformat(timespec="seconds")),))
    return Answer(goto=DONE, say=(msg("reminders.resumed", name=person.display_name),),
                  effects=(fx.PauseReminders(person.id, None),))


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
        },
        private=True,
    ))
