"""A CHW's REG reads the sex in the clinic's language only: "M" is male in English but
mwanamke (woman) in Kiswahili and mujer (woman) in Spanish, so there it is refused and
the unambiguous local words are asked for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.catalog import default_catalog
from flows.context import Context, FlowConfig
from flows.enrolment import EnrolmentError
from flows.staff_commands import sex_from


def context(language: str) -> Context:
    return Context(now=datetime(2026, 11, 22, tzinfo=UTC), sender="+254700100103", directory=None,
                   catalog=default_catalog(), config=FlowConfig(default_language=language))


@pytest.mark.parametrize(("language", "word", "sex"), [
    ("en", "F", "F"), ("en", "M", "M"), ("en", "male", "M"),
    ("sw", "KE", "F"), ("sw", "ME", "M"), ("sw", "mwanamke", "F"), ("sw", "mwanaume", "M"),
    ("fr", "F", "F"), ("fr", "H", "M"), ("fr", "homme", "M"),
    ("es", "F", "F"), ("es", "H", "M"), ("es", "mujer", "F"), ("es", "hombre", "M"),
])
def test_the_clinics_own_words_are_read(language, word, sex):
    assert sex_from(word, context(language)) == sex


@pytest.mark.parametrize("language", ["sw", "es"])
def test_m_is_refused_where_it_means_woman(language):
    with pytest.raises(EnrolmentError):
        sex_from("M", context(language))


@pytest.mark.parametrize("language", ["sw", "es"])
def test_the_reg_help_never_offers_m(language):
    for key in ("chw.reg_help", "chw.reg_bad_sex"):
        text = default_catalog().text(language, key)
        assert " M " not in f" {text} ".replace(",", " "), f"{language} {key}: {text}"
