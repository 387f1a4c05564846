"""The functional core: conversations, parsers, care rules and message catalogs.

Everything here is pure (no Flask, Twilio or sqlite) except `service`, which runs a
step and applies its effects through storage in one transaction.
"""
