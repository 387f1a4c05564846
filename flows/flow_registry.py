"""The flows, built by a function: nothing registers itself when a module is imported.

A test (or a clinic with its own flows) builds a registry of its own and runs the engine
on it; the conversation module builds the standard one once, on first use."""

from __future__ import annotations

from flows import care_flows, patient_flows, reminder_flows
from flows.runner import Registry


def build_registry() -> Registry:
    registry = Registry()
    patient_flows.register(registry)
    care_flows.register(registry)
    reminder_flows.register(registry)
    return registry
