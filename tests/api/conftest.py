"""Fixtures of the API tests: the reference scenario in a store, with a real server over it (see api_harness)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_harness import World, open_world


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    with open_world(database_url) as built:
        yield built


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world on SQLite for all the tests of a module (tests that leave it usable for the next)."""
    with open_world(f"sqlite:///{tmp_path_factory.mktemp('api') / 'rectify.db'}") as built:
        yield built


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world per store for all the tests of a module."""
    if request.param == "sqlite":
        with open_world(f"sqlite:///{tmp_path_factory.mktemp('api') / 'rectify.db'}") as built:
            yield built
        return
    with request.getfixturevalue("postgres_schemas")() as url, open_world(url) as built:
        yield built
