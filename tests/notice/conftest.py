"""The reference scenario on both stores, with the views caught up and a fixed 'today'."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import System, open_system
from rectify.examples import songyuan

SYSTEM = Actor("tests", Role.SYSTEM)
PUBLISHED_ON = date(2026, 3, 12)


@pytest.fixture
def system(config: settings.Settings) -> Iterator[System]:
    built = open_system(config, run_projector=False, today=lambda: PUBLISHED_ON)
    yield built
    built.close()


@pytest.fixture
def loaded(system: System) -> songyuan.Loaded:
    result = songyuan.load(system.app, SYSTEM)
    system.projector.catch_up()
    return result
