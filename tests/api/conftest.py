"""Fixtures of the API tests: the reference scenario in a store, with the app over it (see api_harness).

`world`, `shared_world` and `store_world` run the app in this process; the `served_…` fixtures start a real
`rectify serve`, for the tests of the transport, subscriptions, several processes and crashes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_harness import STORES, World, open_served_world, open_world, per_store


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    """A world of its own for one test, on each store."""
    with open_world(database_url) as built:
        yield built


@pytest.fixture
def served_world(database_url: str) -> Iterator[World]:
    """A world of its own for one test, on each store, behind a real server."""
    with open_served_world(database_url) as built:
        yield built


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world on SQLite for all the tests of a module (tests that leave it usable for the next)."""
    with open_world(f"sqlite:///{tmp_path_factory.mktemp('api') / 'rectify.db'}") as built:
        yield built


@pytest.fixture(scope="session")
def served_shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world on SQLite behind a real server, for the transport tests of the whole run (one server start;
    each test leaves it usable for the next)."""
    with open_served_world(f"sqlite:///{tmp_path_factory.mktemp('api') / 'rectify.db'}") as built:
        yield built


@pytest.fixture(scope="module", params=STORES)
def store_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world per store for all the tests of a module."""
    yield from per_store(request, tmp_path_factory, open_world)


@pytest.fixture(scope="module", params=STORES)
def served_store_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world per store behind a real server for all the tests of a module."""
    yield from per_store(request, tmp_path_factory, open_served_world)
