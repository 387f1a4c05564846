"""Issue 3, acceptance 8: texts from one number that arrive together are handled one
after the other, so none of them loses the others' updates.

Each text is posted from its own thread with its own Flask test client of the same
app (so each has its own SQLite connection, as under a threaded server), and the
threads start together at a barrier. Every test here fails if a step does not run in
ONE write transaction that takes the write lock up front: two requests that both read
the old session (or loop-guard counters) either lose one update (counts come out
short, a reply repeats) or collide when they upgrade to writing (a crash, which the
blueprint answers with its apology). Each scenario runs several rounds to make a
race likely if one is possible.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import pytest

from flows.catalog import default_catalog
from flows.engine import Message, Session
from flows.patient_flows import menu_message
from lowband import create_app
from tests.helpers.conversation_script import ScriptRunner
from tests.helpers.twilio_client import AUTH_TOKEN, Reply, TwilioClient, new_sid

CATALOG = default_catalog()


def text(key: str, **params) -> str:
    return CATALOG.render("en", Message(key, {"clinic": "Lowband Clinic", "emergency": "112", **params}))


APOLOGY = text("error.retry")
MENU_HINT = CATALOG.render("en", menu_message("menu.hint"))
MENU_LOST = CATALOG.render("en", menu_message("menu.lost"))
WELCOME = text("join.welcome")
YES_NO_HINT = text("join.yes_no")
SLOW_DOWN = text("loop.slow_down", minutes=10)

PATIENT = "+254712345678"
ROUNDS = 5


@pytest.fixture
def busy_app(installation, clock):
    """The app with the loop guard's rate limit lifted, so many texts a minute are all answered."""
    app = create_app({**installation.config, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "CLOCK": clock, "RATE_LIMIT": 1000})
    yield app
    app.extensions["lowband"].close()


def at_once(app, batches: Sequence[Sequence[tuple[str, str, str | None]]]) -> list[Reply]:
    """Post each batch of (sender, body, sid) from its own thread and test client, all
    threads released together; returns the replies in the order of the texts given."""
    barrier = threading.Barrier(len(batches))
    results: dict[tuple[int, int], Reply] = {}
    errors: list[BaseException] = []

    def worker(number: int, batch: Sequence[tuple[str, str, str | None]]) -> None:
        twilio = TwilioClient(app.test_client())
        try:
            barrier.wait(timeout=10)
            for position, (sender, body, sid) in enumerate(batch):
                results[number, position] = twilio.sms(sender, body, sid=sid)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n, b)) for n, b in enumerate(batches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a request hung"
    assert not errors, errors
    replies = [results[n, p] for n, batch in enumerate(batches) for p in range(len(batch))]
    for reply in replies:
        assert reply.status == 200 and reply.content_type == "text/xml", reply.raw
        assert APOLOGY not in reply.messages, "a request crashed (two writers collided?)"
    return replies


def each_alone(app, texts: Sequence[tuple[str, str, str | None]]) -> list[Reply]:
    return at_once(app, [[t] for t in texts])


def patient_at_menu(store, twilio, clock) -> None:
    ScriptRunner.add_patient(store, ["4376", "Amina Zawadi", PATIENT, "pin=1111", "consent"])
    assert twilio.sms(PATIENT, "MENU").messages[0].startswith("Menu:")
    clock.now += timedelta(seconds=10)


def session_of(store, phone: str) -> Session:
    return Session.from_dict(store.sessions.load(store.phone_index(phone)))


def test_three_misses_at_once_count_as_three(busy_app, store, clock):
    """Three wrong answers at the menu: the first two get the hint, the third the menu
    with an apology. Read concurrently, all three would see no misses yet."""
    patient_at_menu(store, TwilioClient(busy_app.test_client()), clock)
    for round_ in range(ROUNDS):
        replies = each_alone(busy_app, [(PATIENT, f"banana {round_} {i}", None) for i in range(3)])
        said = Counter(message for reply in replies for message in reply.messages)
        assert said == Counter({MENU_HINT: 2, MENU_LOST: 1}), f"round {round_}: {said}"
        session = session_of(store, PATIENT)
        assert (session.flow, session.step, session.misses) == ("menu", "main", 0)


def test_the_loop_guard_counts_every_text(sms_app, store, clock):
    """The per-number counter of texts this minute is read, incremented and written
    back by each request; concurrent requests must not overwrite each other's count."""
    patient_at_menu(store, TwilioClient(sms_app.test_client()), clock)
    for round_ in range(ROUNDS):
        clock.now += timedelta(minutes=2)  # a new rate window each round
        replies = each_alone(sms_app, [(PATIENT, f"blue {round_} {i}", None) for i in range(8)])
        assert all(len(reply.messages) == 1 for reply in replies)
        contact = store.contacts.get(store.phone_index(PATIENT))
        assert contact.window_count == 8, f"round {round_}: counted {contact.window_count} of 8 texts"


def test_a_flood_at_once_is_answered_ten_times_warned_once_then_ignored(sms_app, store, clock):
    """Twelve texts in the same second with the default limit of 10 a minute: ten
    answers, one "slow down", then silence, whatever order the threads run in."""
    patient_at_menu(store, TwilioClient(sms_app.test_client()), clock)
    for round_ in range(3):
        clock.now += timedelta(minutes=15)  # past the mute and into a new window
        replies = each_alone(sms_app, [(PATIENT, f"flood {round_} {i}", None) for i in range(12)])
        answers = [reply.messages for reply in replies]
        assert sum(m == [SLOW_DOWN] for m in answers) == 1, answers
        assert sum(m == [] for m in answers) == 1, answers
        assert sum(len(m) == 1 and m != [SLOW_DOWN] for m in answers) == 10, answers


def test_twenty_texts_from_four_threads_are_all_stored(busy_app, store, clock):
    patient_at_menu(store, TwilioClient(busy_app.test_client()), clock)
    before = store.inbound.count()
    for round_ in range(3):
        batches = [[(PATIENT, f"green {round_} {t} {i}", None) for i in range(5)] for t in range(4)]
        replies = at_once(busy_app, batches)
        assert all(reply.messages for reply in replies)
        assert store.inbound.count() == before + 20 * (round_ + 1)
    # The session is still one readable, sealed state.
    assert session_of(store, PATIENT).flow == "menu"


def test_one_message_sid_posted_five_times_at_once_is_handled_once(busy_app, store, clock):
    twilio = TwilioClient(busy_app.test_client())
    for round_ in range(ROUNDS):
        phone = f"+25473340041{round_}"
        assert twilio.sms(phone, "hi").messages == [WELCOME]
        sid = new_sid()
        before = store.inbound.count()
        replies = each_alone(busy_app, [(phone, "YES", sid)] * 5)
        first = replies[0].messages
        assert first and "What is your name" in first[0]
        assert all(reply.messages == first for reply in replies), [r.messages for r in replies]
        assert store.one("SELECT count(*) FROM inbound_messages WHERE message_sid = ?", (sid,))[0] == 1
        assert store.inbound.count() == before + 1
        # One state change: the flow moved to the name step once, and the next text is the name.
        assert (session_of(store, phone).flow, session_of(store, phone).step) == ("join", "name")
        assert "What year were you born" in twilio.sms(phone, "Wanjiku Njeri").messages[0]


def test_a_new_number_texting_three_times_at_once_is_welcomed_once(busy_app, store):
    """The first text starts the join flow; the other two answer its question (badly).
    Read concurrently, all three would start the flow and welcome three times."""
    for round_ in range(ROUNDS):
        phone = f"+25473340042{round_}"
        replies = each_alone(busy_app, [(phone, f"hello {i}", None) for i in range(3)])
        said = Counter(message for reply in replies for message in reply.messages)
        assert said == Counter({WELCOME: 1, YES_NO_HINT: 2}), f"round {round_}: {said}"
        session = session_of(store, phone)
        assert (session.flow, session.step, session.misses) == ("join", "consent", 2)
