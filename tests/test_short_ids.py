"""Acceptance 7: a patient ID with one digit changed or two digits swapped is rejected."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given
from hypothesis import strategies as st

from storage.short_ids import MAX_DIGITS, MIN_BASE_DIGITS, check_digit, is_valid, random_short_id

BASE_LENGTHS = range(MIN_BASE_DIGITS, MAX_DIGITS)  # 3..9 digits before the check digit


def single_digit_changes(short_id: str):
    for position, digit in enumerate(short_id):
        for other in "0123456789":
            if other != digit:
                yield short_id[:position] + other + short_id[position + 1 :]


def swaps(short_id: str):
    for i, j in combinations(range(len(short_id)), 2):
        if short_id[i] != short_id[j]:
            chars = list(short_id)
            chars[i], chars[j] = chars[j], chars[i]
            yield "".join(chars)


def generated(count_per_length: int) -> list[str]:
    return [random_short_id(n) for n in BASE_LENGTHS for _ in range(count_per_length)]


def test_generated_ids_are_valid_digits_without_a_leading_zero():
    for short_id in generated(300):
        assert is_valid(short_id), short_id
        assert short_id.isdigit() and short_id[0] != "0"
    assert {len(random_short_id(MIN_BASE_DIGITS)) for _ in range(50)} == {MIN_BASE_DIGITS + 1}


def test_every_single_digit_change_is_rejected():
    ids = [random_short_id(MIN_BASE_DIGITS) for _ in range(2000)] + generated(150)
    for short_id in ids:
        accepted = [typo for typo in single_digit_changes(short_id) if is_valid(typo)]
        assert accepted == [], short_id


def test_every_swap_of_two_different_digits_is_rejected():
    ids = [random_short_id(MIN_BASE_DIGITS) for _ in range(2000)] + generated(150)
    checked = 0
    for short_id in ids:
        for swapped in swaps(short_id):
            checked += 1
            assert not is_valid(swapped), (short_id, swapped)
    assert checked > 10_000  # adjacent, distant and check-digit swaps were all tried


@given(
    base=st.integers(min_value=10 ** (MIN_BASE_DIGITS - 1), max_value=10 ** (MAX_DIGITS - 1) - 1),
    position=st.integers(min_value=0, max_value=MAX_DIGITS - 1),
    shift=st.integers(min_value=1, max_value=9),
)
def test_any_base_with_a_check_digit_catches_a_changed_digit(base, position, shift):
    digit = check_digit(str(base))
    if digit is None:  # such bases are never handed out
        return
    short_id = f"{base}{digit}"
    assert is_valid(short_id)
    position %= len(short_id)
    typo = short_id[:position] + str((int(short_id[position]) + shift) % 10) + short_id[position + 1 :]
    assert not is_valid(typo)


@given(
    base=st.integers(min_value=10 ** (MIN_BASE_DIGITS - 1), max_value=10 ** (MAX_DIGITS - 1) - 1),
    i=st.integers(min_value=0, max_value=MAX_DIGITS - 1),
    j=st.integers(min_value=0, max_value=MAX_DIGITS - 1),
)
def test_any_base_with_a_check_digit_catches_a_swap(base, i, j):
    digit = check_digit(str(base))
    if digit is None:
        return
    chars = list(f"{base}{digit}")
    i, j = i % len(chars), j % len(chars)
    if chars[i] == chars[j]:
        return
    chars[i], chars[j] = chars[j], chars[i]
    assert not is_valid("".join(chars))


def test_malformed_ids_are_rejected():
    good = random_short_id(MIN_BASE_DIGITS)
    for bad in ("", "12", good + " ", " " + good, good.replace(good[1], "a"), "١٢٣٤", "12345678901", "-" + good):
        assert not is_valid(bad), bad


def test_patients_show_with_a_mistyped_id_says_the_check_digit_is_wrong(run_cli, cli_error):
    added = run_cli("patients", "add", "--name", "Amina Zawadi", "--phone", "0712 345 678")
    short_id = added.output.split()[2]
    assert is_valid(short_id)
    typo = short_id[:-2] + str((int(short_id[-2]) + 1) % 10) + short_id[-1]
    swapped = short_id[1] + short_id[0] + short_id[2:] if short_id[0] != short_id[1] else None

    cli_error(run_cli("patients", "show", typo), typo, "check digit")
    if swapped:
        cli_error(run_cli("patients", "show", swapped), "check digit")
    shown = run_cli("patients", "show", short_id)
    assert shown.exit_code == 0 and "Amina Zawadi" in shown.stdout


def test_a_well_formed_but_unknown_id_is_not_blamed_on_the_check_digit(run_cli, cli_error):
    unknown = random_short_id(MIN_BASE_DIGITS + 3)  # longer than any ID this empty clinic gave out
    line = cli_error(run_cli("patients", "show", unknown), f"no patient with ID {unknown}")
    assert "check digit" not in line


def test_ids_keep_growing_past_six_digits_when_the_shorter_ones_are_taken(store, monkeypatch):
    # A national programme passes 909,000 patients: every ID of up to six digits (and
    # its check digit) is taken. Stand that in with a clinic where every ID drawn that
    # short is one already in use.
    import storage.patients as patients_module

    with store.write():
        taken = store.patients.add(name="Amina Zawadi", phone="+254712345678", time_zone="Africa/Nairobi").short_id
    real = patients_module.short_ids.random_short_id
    drawn: list[int] = []

    def crowded(base_digits: int) -> str:
        drawn.append(base_digits)
        return taken if base_digits <= 6 else real(base_digits)

    monkeypatch.setattr(patients_module.short_ids, "random_short_id", crowded)
    with store.write():
        new = store.patients.add(name="Baraka Otieno", phone="+254733400401", time_zone="Africa/Nairobi")
    assert len(new.short_id) == 8 and is_valid(new.short_id)
    assert store.patients.by_short_id(new.short_id).name == "Baraka Otieno"
    assert max(drawn) == 7
