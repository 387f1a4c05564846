"""SMS segment arithmetic and folding to GSM-7 (flows/segments.py)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.segments import (
    GSM_7,
    GSM_BASIC,
    GSM_EXTENSION,
    UCS_2,
    encoding,
    fits_one_segment,
    fold_to_gsm,
    segments,
    units,
)

THUMBS_UP = "\U0001f44d"  # outside the BMP: a UTF-16 surrogate pair


# --- the alphabet -------------------------------------------------------------------

def test_tables_have_the_spec_sizes():
    # 128 positions, minus the escape at 0x1B; 9 printable extension characters + form feed.
    assert len(GSM_BASIC) == 127
    assert len(GSM_EXTENSION) == 10


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", GSM_7),
        ("Hello, take 1 tablet at 8:00.", GSM_7),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", GSM_7),
        ("line one\nline two\r\n", GSM_7),
        ("^{}\\[~]|€\f", GSM_7),
        ("ç", UCS_2),  # only the capital Ç is in GSM 03.38
        ("á", UCS_2),
        ("ê", UCS_2),
        ("`", UCS_2),  # the backtick is not in GSM-7
        ("\t", UCS_2),
        ("\u2019", UCS_2),  # smart apostrophe
        ("\u00a0", UCS_2),  # non-breaking space
        ("δ", UCS_2),  # only some capital Greek letters are in GSM-7
        ("مرحبا", UCS_2),
        (THUMBS_UP, UCS_2),
    ],
)
def test_encoding(text, expected):
    assert encoding(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", 0),
        ("a" * 160, 160),
        ("€", 2),
        ("{}", 4),
        ("price 5€", 9),
        ("é", 1),
        ("ç", 1),  # UCS-2: one UTF-16 unit
        ("ç€", 2),  # in UCS-2 the euro sign is one unit, not two
        (THUMBS_UP, 2),
        ("a" + THUMBS_UP, 3),
    ],
)
def test_units(text, expected):
    assert units(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 158 + "€", 1),  # 160 units
        ("a" * 159 + "€", 2),  # 161 units
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("a" * 306, 2),  # 2 x 153
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
        ("ç" * 70, 1),
        ("ç" * 71, 2),
        ("ç" * 134, 2),  # 2 x 67
        ("ç" * 135, 3),
        (THUMBS_UP * 35, 1),  # 70 UTF-16 units
        (THUMBS_UP * 35 + "a", 2),
        # an escape pair never straddles two parts: 152 + [€] does not fit in 153,
        # so the euro opens part two: 152 | 2 + 151 | 1
        ("a" * 152 + "€" + "a" * 152, 3),
        ("a" * 151 + "€" + "a" * 153, 2),  # 153 | 153
        # nor does a surrogate pair: 66 | 2 + 65 | 1
        ("ç" * 66 + THUMBS_UP + "ç" * 66, 3),
        ("ç" * 65 + THUMBS_UP + "ç" * 67, 2),  # 67 | 67
    ],
)
def test_segments(text, expected):
    assert segments(text) == expected


def test_fits_one_segment_at_both_limits():
    assert fits_one_segment("a" * 160)
    assert not fits_one_segment("a" * 161)
    assert not fits_one_segment("a" * 159 + "€")
    assert fits_one_segment("ç" * 70)
    assert not fits_one_segment("ç" * 71)
    assert fits_one_segment(THUMBS_UP * 35)
    assert not fits_one_segment(THUMBS_UP * 35 + "a")


@given(st.text())
def test_fits_one_segment_agrees_with_segments(text):
    assert fits_one_segment(text) == (segments(text) == 1)


@given(st.text(), st.characters())
def test_a_longer_text_never_takes_fewer_segments(text, ch):
    assert segments(text + ch) >= segments(text)


@given(st.text(min_size=1))
def test_parts_never_hold_more_than_their_limit(text):
    limit = 153 if encoding(text) == GSM_7 else 67
    if segments(text) > 1:
        assert segments(text) * limit >= units(text)


# --- folding ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        # French: GSM keeps é è à ù; the rest lose their accent
        ("Ça va? Très bien, merci.", "Ça va? Très bien, merci."),
        ("Rendez-vous à l’hôpital, côté forêt.", "Rendez-vous à l'hopital, coté foret."),
        ("Reçu : œufs, maïs, pâtes… « voilà »", 'Recu : oeufs, mais, pates... " voilà "'),
        ("Noël à Nîmes, Œuvre", "Noel à Nimes, OEuvre"),
        # Spanish: ñ and ü are GSM, á í ó ú are not
        ("¿Cómo está? Tomé la medicina", "¿Como esta? Tomé la medicina"),
        ("El niño pingüino, señor Núñez", "El niño pingüino, señor Nuñez"),
        ("Sí, mañana – a las 8", "Si, mañana - a las 8"),
        # Portuguese and others
        ("Não, São João, ação", "Nao, Sao Joao, acao"),
        ("Łódź, Đakovo, Ørsted, Åsa, Straße", "Lodz, Dakovo, Ørsted, Åsa, Straße"),
        # punctuation and spaces
        ("\u201cquoted\u201d \u2018single\u2019 \u2014 dash \u2013 dash", "\"quoted\" 'single' - dash - dash"),
        ("wait\u2026", "wait..."),
        ("a\u00a0b\u2009c\u202fd\u3000e", "a b c d e"),
        ("zero\u200bwidth\u200c\u200d\u2060\ufeff", "zerowidth"),
        ("soft\u00adhyphen", "softhyphen"),
        ("tab\there", "tab here"),
        ("38°C, 5×2, ±1", "38degC, 5x2, +/-1"),
        # decomposed input (e + combining acute) is the GSM é
        ("e\u0301te\u0301", "été"),
        ("q\u0301", "q"),
        # already GSM-7: untouched, including the extension table
        ("BP 140/90 [ok] {x} ~ | ^ € \\", "BP 140/90 [ok] {x} ~ | ^ € \\"),
        ("Ç É Ñ Ü Ä Ö Å ß æ Æ ø", "Ç É Ñ Ü Ä Ö Å ß æ Æ ø"),
        # nothing close in GSM-7: kept, and the text stays UCS-2
        ("ok \U0001f44d", "ok \U0001f44d"),
        ("شكرا", "شكرا"),
        ("Спасибо", "Спасибо"),
        ("", ""),
    ],
)
def test_fold_to_gsm(text, expected):
    assert fold_to_gsm(text) == expected


@pytest.mark.parametrize(
    "sentence",
    [
        "Bonjour Aïcha, votre tension était élevée. Reposez-vous et rappelez l’infirmière si ça empire…",
        "Hola José, ¿cómo está? Su próxima cita es el miércoles. Tome su medicación – gracias.",
        "Habari, dawa yako iko tayari kwenye duka la dawa.",
    ],
)
def test_folded_sentences_are_gsm(sentence):
    assert encoding(fold_to_gsm(sentence)) == GSM_7


def test_folding_can_add_segments():
    # Why callers must count segments on the folded text: one UCS-2 ellipsis unit
    # becomes three GSM units, so 70 ellipses fit one UCS-2 SMS but not one GSM-7 SMS.
    assert segments("\u2026" * 70) == 1
    assert segments(fold_to_gsm("\u2026" * 70)) == 2


@given(st.text())
def test_fold_is_idempotent(text):
    once = fold_to_gsm(text)
    assert fold_to_gsm(once) == once


@given(st.text(alphabet=st.characters(max_codepoint=0xFF)))
def test_any_latin_1_text_folds_to_gsm(text):
    assert encoding(fold_to_gsm(text)) == GSM_7


@given(st.text(alphabet=sorted(GSM_BASIC | GSM_EXTENSION)))
def test_gsm_text_is_left_alone(text):
    assert fold_to_gsm(text) == text


@given(st.text())
def test_fold_only_keeps_non_gsm_characters_it_was_given(text):
    given_chars = set(unicodedata.normalize("NFC", text))
    kept = {ch for ch in fold_to_gsm(text) if encoding(ch) == UCS_2}
    assert kept <= given_chars
