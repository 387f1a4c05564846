"""The flows are built by a function and handed to the engine: importing a module
registers nothing, two registries never share state, and every menu entry and keyword
has its words in every language we ship."""

from __future__ import annotations

import pytest

from flows import care_flows, patient_flows
from flows.catalog import LANGUAGES, default_catalog
from flows.conversation import KEYWORDS, runner
from flows.flow_registry import build_registry
from flows.patient_flows import MENU_OPTIONS

CATALOG = default_catalog()


def test_importing_a_flow_module_registers_nothing():
    assert not hasattr(patient_flows, "registry") and not hasattr(care_flows, "registry")


def test_each_build_is_a_registry_of_its_own():
    one, two = build_registry(), build_registry()
    assert one is not two and one.flows is not two.flows
    assert set(one.flows) == set(two.flows) == set(runner.registry.flows)
    one.flows.pop("menu")
    assert "menu" in two.flows  # changing one (a test's, a clinic's) leaves the other whole


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_menu_entry_and_keyword_has_its_words_in_every_language(language):
    for option in MENU_OPTIONS:
        assert CATALOG.has(language, option.label.key), option.label.key
        assert CATALOG.words(language, option.words), option.words
    for keyword in KEYWORDS:
        assert CATALOG.words(language, f"keywords.{keyword}") or CATALOG.words("en", f"keywords.{keyword}"), keyword
