"""Fixtures of the integrity tests; what they build, and the helpers the tests import, live in
integrity_scenario (a module of its own name: `from conftest import …` found whichever tier's conftest
was imported first)."""

from integrity_scenario import key_file, raw, scenario, signing_env, store_urls

__all__ = ["key_file", "raw", "scenario", "signing_env", "store_urls"]
