"""Lowband: telehealth over SMS and voice for people without internet."""

from lowband.app import create_app

__all__ = ["create_app"]
