"""Fixtures of the 台账 tests; what they build, and the helpers the tests import, live in sheets_world
(a module of its own name: `from conftest import …` found whichever tier's conftest was imported first)."""

from sheets_world import ledger_world

__all__ = ["ledger_world"]
