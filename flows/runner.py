"""Running flows: entering a destination, answering the current step, missing, going back.

Destinations are flows (a sequence of steps) or actions (one reply, no questions).
A private destination reveals health data, so entering it first runs the PIN check
and resumes there once the PIN is right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flows.context import Context
from flows.engine import (
    DONE,
    Answer,
    Choices,
    Flow,
    Invalid,
    Message,
    Outcome,
    Session,
    Step,
    Turn,
    match_option,
    msg,
)

MAX_MISSES = 3
# The destination that returns to the question a detour interrupted.
RESUME = "resume"


@dataclass(frozen=True)
class Action:
    """A destination that answers at once: `run` returns what to say and do."""

    name: str
    run: Callable[[Turn], Answer]
    private: bool = False


class Registry:
    def __init__(self) -> None:
        self.flows: dict[str, Flow] = {}
        self.actions: dict[str, Action] = {}
        # Where a lost or timed-out sender lands: decided by who they are.
        self.home: Callable[[Session, Context], str] = lambda session, ctx: "menu"
        # Is the sender's profile locked after wrong PINs? Then say so before asking.
        self.locked: Callable[[Session, Context], bool] = lambda session, ctx: False
        self.private_when_shared: set[str] = set()
        # Flows answered in full even while the loop guard mutes the number (triage).
        self.never_muted: set[str] = set()

    def flow(self, flow: Flow) -> Flow:
        self.flows[flow.name] = flow
        return flow

    def action(self, action: Action) -> Action:
        self.actions[action.name] = action
        return action

    def private(self, name: str, shared: bool = False) -> bool:
        """Does `name` need the PIN first? On a shared phone, so does anything that stores
        something for a person (a reading, a question to the nurse)."""
        target = self.flows.get(name) or self.actions.get(name)
        return bool(target and target.private) or (shared and name in self.private_when_shared)


def prompt_of(step: Step, session: Session, ctx: Context, key: str | None = None, *, short: bool = False) -> Message:
    """The step's question with its parameters; `short` labels the options as a hint does."""
    params: dict[str, Any] = dict(step.params(ctx, session)) if step.params else {}
    if (step.choose or step.options) and "choices" not in params:
        if step.keep_choices:
            session.data["shown"] = None  # show the list as it is now, and remember it
        options = step.options_for(ctx, session)
        if step.keep_choices:
            session.data["shown"] = [option.value for option in options]
        params["choices"] = Choices(tuple(
            (str(number), option.short if short and option.short else option.label)
            for number, option in enumerate(options, 1)
        ))
        params.setdefault("last", params["choices"].last)
    return Message(key or step.prompt, params)


class Runner:
    def __init__(self, registry: Registry):
        self.registry = registry

    # -- entering -----------------------------------------------------------------

    def enter(self, name: str, session: Session, ctx: Context, out: Outcome | None = None) -> Outcome:
        """Go to a destination. "unlock>menu" asks for the PIN, then goes to the menu."""
        out = out or Outcome(session)
        registry = self.registry
        name, _, resume = name.partition(">")
        if name == RESUME:
            return self._resume(session, ctx, out)
        if registry.private(name, len(ctx.people) > 1) and not (session.patient_id and session.unlocked(ctx.now)):
            name, resume = "unlock", name
        if name == "unlock" and registry.locked(session, ctx):
            name, resume = "locked", ""
        if resume:
            session.clear_flow()
            session.resume = resume
            return self._start(registry.flows[name], session, ctx, out)
        if name in registry.actions:
            session.clear_flow()
            answer = registry.actions[name].run(Turn(session.copy(), {}, ctx, ""))
            return self._apply_answer(None, answer, session, ctx, out)
        session.clear_flow()
        return self._start(registry.flows[name], session, ctx, out)

    def _start(self, flow: Flow, session: Session, ctx: Context, out: Outcome) -> Outcome:
        resume = session.resume
        session.flow, session.step, session.data, session.trail, session.misses = flow.name, flow.start, {}, [], 0
        session.resume = resume
        out.replies.append(prompt_of(flow.steps[flow.start], session, ctx))
        return out

    def home(self, session: Session, ctx: Context, out: Outcome | None = None) -> Outcome:
        return self.enter(self.registry.home(session, ctx), session, ctx, out)

    def detour(self, name: str, session: Session, ctx: Context) -> Outcome:
        """Go to `name` (LANG) and afterwards back to the question it interrupted, with
        everything answered so far (a registration half done is not lost)."""
        if session.flow and session.flow != name:
            session.aside = {"flow": session.flow, "step": session.step, "data": dict(session.data),
                             "trail": list(session.trail), "resume": session.resume}
        return self.enter(name, session, ctx)

    def _resume(self, session: Session, ctx: Context, out: Outcome) -> Outcome:
        aside, session.aside = session.aside, None
        if not aside or aside.get("flow") not in self.registry.flows:
            session.clear_flow()
            return out
        session.flow, session.step, session.data = aside["flow"], aside["step"], dict(aside["data"])
        session.trail, session.resume, session.misses = list(aside["trail"]), aside.get("resume"), 0
        out.replies.append(prompt_of(self.registry.flows[session.flow].steps[session.step], session, ctx))
        return out

    # -- answering ----------------------------------------------------------------

    def current_step(self, session: Session) -> Step | None:
        flow = self.registry.flows.get(session.flow or "")
        return flow.steps.get(session.step or "") if flow else None

    def _read(self, step: Step, session: Session, text: str, ctx: Context) -> Any:
        """The step's value for `text`; raises Invalid when the text does not answer it."""
        options = step.options_for(ctx, session)
        if options:
            option = match_option(text, options, lambda key: ctx.words(session.language, key), step.numbered)
            if option is None:
                raise Invalid(step.hint or step.prompt)
            return option.value
        if step.parse:
            return step.parse(text, ctx, session.data)
        return text

    def accepts(self, session: Session, text: str, ctx: Context) -> bool:
        """Does `text` answer the open question? (Then "0" is a number of days, not MENU.)"""
        step = self.current_step(session)
        if step is None:
            return False
        try:
            self._read(step, session, text, ctx)
        except Invalid:
            return False
        return True

    def answer(self, session: Session, text: str, ctx: Context) -> Outcome:
        flow = self.registry.flows[session.flow]
        step = flow.steps[session.step]
        try:
            value = self._read(step, session, text, ctx)
        except Invalid as invalid:
            return self.miss(session, ctx, step, invalid.hint)
        session.misses = 0
        turn = Turn(session.copy(), dict(session.data), ctx, text)
        if step.then:
            answer = step.then(value, turn)
        else:
            answer = Answer(goto=step.next or DONE, data={step.save: value} if step.save else {})
        return self._apply_answer(flow, answer, session, ctx, Outcome(session))

    def miss(self, session: Session, ctx: Context, step: Step, hint: Message) -> Outcome:
        session.misses += 1
        if session.misses >= MAX_MISSES and step.give_up is not None:
            session.misses = 0
            answer = step.give_up(Turn(session.copy(), dict(session.data), ctx, ""))
            return self._apply_answer(self.registry.flows[session.flow], answer, session, ctx, Outcome(session))
        if session.misses >= MAX_MISSES:
            # Three misses: stop asking the same question and offer a way out.
            session.clear_flow()
            destination = self.registry.home(session, ctx)
            if destination == "menu":
                menu = self.registry.flows["menu"]
                session.flow, session.step = "menu", menu.start
                return Outcome(session, [prompt_of(menu.steps[menu.start], session, ctx, "menu.lost")])
            return self.enter(destination, session, ctx)
        params = dict(prompt_of(step, session, ctx, short=True).params)
        params.update(hint.params)
        return Outcome(session, [Message(hint.key, params)])

    def back(self, session: Session, ctx: Context) -> Outcome:
        if session.flow and session.trail:
            flow = self.registry.flows[session.flow]
            session.step = session.trail.pop()
            session.misses = 0
            return Outcome(session, [prompt_of(flow.steps[session.step], session, ctx)])
        return self.home(session, ctx)

    # -- landing ------------------------------------------------------------------

    def _apply_answer(
        self, flow: Flow | None, answer: Answer, session: Session, ctx: Context, out: Outcome
    ) -> Outcome:
        session.data.update(answer.data)
        for name, value in answer.session.items():
            setattr(session, name, value)
        out.replies.extend(answer.say)
        out.effects.extend(answer.effects)
        goto = answer.goto
        if goto is None:
            if flow is None:
                session.clear_flow()
            elif answer.prompt:
                out.replies.append(prompt_of(flow.steps[session.step], session, ctx))
            return out
        if goto.startswith("@"):
            return self.enter(goto[1:], session, ctx, out)
        if goto == DONE:
            assert flow is not None
            finish = flow.finish(Turn(session.copy(), dict(session.data), ctx, ""))
            return self._apply_answer(None, finish, session, ctx, out)
        assert flow is not None
        if flow.steps[session.step].backable:
            session.trail.append(session.step)
        session.step = goto
        if answer.prompt:
            out.replies.append(prompt_of(flow.steps[goto], session, ctx))
        return out


def answered(say: str | None = None, *, goto: str | None = None, **params: Any) -> Answer:
    """Shorthand for an Answer that says one catalog message."""
    return Answer(goto=goto, say=(msg(say, **params),) if say else ())

