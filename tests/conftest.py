"""Shared fixtures, defined once: the stores (an SQLite file and a fresh PostgreSQL schema), the application,
the wired system, the system actor and the loaded reference scenario; and the order the tiers run in."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import hypothesis
import psycopg
import pytest
from psycopg import sql
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

import store_templates
from rectify import settings
from rectify.access import Actor
from rectify.application import RectifyApplication
from rectify.bootstrap import System, open_application, open_system
from rectify.examples import songyuan
from scenario import SYSTEM, TODAY, load_reference

# Each module compiled once, not once per process: under PYTHONDONTWRITEBYTECODE every process of a run (pytest's
# workers; the servers, workers and commands the tests start) compiled rectify and its tests again, a tenth of a
# second per process and a second or more of assertion rewriting per worker. The bytecode goes to a cache of the
# test runs outside the tree (which is what that setting keeps clean); the processes the tests start inherit it
# through the environment.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    os.environ["PYTHONPYCACHEPREFIX"] = sys.pycache_prefix = os.path.join(
        tempfile.gettempdir(), f"rectify-tests-bytecode-{os.getuid()}"
    )
    sys.dont_write_bytecode = False

# Property tests assert results, never timings: on a shared two-core machine Hypothesis's per-example
# deadline (200 ms) fails a correct test whenever the other core's work slows this one down.
hypothesis.settings.register_profile("rectify", deadline=None)
# `RECTIFY_HYPOTHESIS_PROFILE=thorough` tries 2.5 times as many examples: every property test scales with the
# profile's max_examples (tests/projections/test_property.py runs a fixed fraction of it, a store per example).
hypothesis.settings.register_profile("thorough", hypothesis.settings.get_profile("rectify"), max_examples=250)
hypothesis.settings.load_profile(os.environ.get("RECTIFY_HYPOTHESIS_PROFILE", "rectify"))

#: The tiers of tests/, fastest first: a failing unit test shows in seconds, not after the servers' tests.
TIERS = ("unit", "application", "projections", "integrity", "notice", "sheets", "cli", "api", "e2e", "faults")

#: Tiers whose modules each build one world, server and browser for all their tests (module-scoped fixtures).
MODULE_AT_ONCE = ("e2e",)

#: The server the PostgreSQL tests use; CI points it at a database created for the run.
POSTGRES_URL = os.environ.get("RECTIFY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: In CI the PostgreSQL tests must run: an unreachable server fails them instead of skipping.
POSTGRES_REQUIRED = bool(os.environ.get("CI") or os.environ.get("RECTIFY_REQUIRE_POSTGRES"))


def postgres_problem() -> str | None:
    database = settings.parse_database_url(POSTGRES_URL)
    try:
        with psycopg.connect(database.psycopg_conninfo(), connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return f"no PostgreSQL server at {POSTGRES_URL}: {str(error).strip().splitlines()[0]}"


@pytest.fixture(scope="session")
def postgres_base() -> str:
    problem = postgres_problem()
    if problem:
        if POSTGRES_REQUIRED:
            pytest.fail(problem + " (CI requires the PostgreSQL tests to run)")
        pytest.skip(problem)
    return POSTGRES_URL


@contextlib.contextmanager
def fresh_postgres_schema(postgres_base: str) -> Iterator[str]:
    """The URL of a fresh schema in the test database, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    database = settings.parse_database_url(postgres_base)
    with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in postgres_base else "?"
    try:
        yield f"{postgres_base}{separator}schema={schema}"
    finally:
        with psycopg.connect(database.psycopg_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def postgres_url(postgres_base: str) -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    with fresh_postgres_schema(postgres_base) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_schemas(postgres_base: str) -> Callable[[], contextlib.AbstractContextManager[str]]:
    """Fresh schemas on demand, for fixtures of a wider scope than `postgres_url`."""
    return functools.partial(fresh_postgres_schema, postgres_base)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rectify.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def config(request: pytest.FixtureRequest, database_url: str) -> settings.Settings:
    """The settings of the test's store. For a test that asks for `loaded`, the store is first filled with a
    copy of the reference scenario (written once per process by `write_reference`; see store_templates), before
    an application or system opens it."""
    if "loaded" in request.fixturenames:
        request.node.stash[LOADED] = store_templates.fill(database_url, "reference", write_reference)
    return settings.load({}, database_url=database_url)


@pytest.fixture
def app(config: settings.Settings) -> Iterator[RectifyApplication]:
    application = open_application(config, today=lambda: TODAY)
    yield application
    application.close()


@pytest.fixture
def system_actor() -> Actor:
    """The actor that writes scenarios: trusted with every command, as the `rectify` command's operator is."""
    return SYSTEM


@pytest.fixture
def system(config: settings.Settings) -> Iterator[System]:
    """Store, application, views and read side, wired as a process wires them; views caught up by hand
    (`system.projector.catch_up()`), and today fixed at the reference notice's date."""
    built = open_system(config, run_projector=False, today=lambda: TODAY)
    yield built
    built.close()


#: What the reference scenario's template returned, for `loaded` (see `config`).
LOADED = pytest.StashKey[songyuan.Loaded]()


def write_reference(url: str) -> songyuan.Loaded:
    """The reference scenario written into the store at `url` by a system as `system` opens it, views caught up."""
    built = open_system(settings.load({}, database_url=url), run_projector=False, today=lambda: TODAY)
    try:
        result = load_reference(built.app)
        built.projector.catch_up()
        return result
    finally:
        built.close()


@pytest.fixture
def loaded(request: pytest.FixtureRequest, config: settings.Settings) -> songyuan.Loaded:
    """The reference scenario in the test's store, with the views caught up (copied in by `config`)."""
    return request.node.stash[LOADED]


def tier_of(item: pytest.Item, tests_root: Path) -> int:
    parts = Path(item.path).relative_to(tests_root).parts
    tier = parts[0] if len(parts) > 1 else ""
    if tier not in TIERS:
        raise pytest.UsageError(f"{item.nodeid}: tests/{tier or parts[0]} is no tier; put it in one of {TIERS}")
    return TIERS.index(tier)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Runs the tiers fastest first, whatever order the paths were given in (a stable sort: within a tier,
    files and their module-scoped fixtures keep together)."""
    tests_root = Path(__file__).parent
    items.sort(key=lambda item: tier_of(item, tests_root))


class TierOrderScheduling(LoadScopeScheduling):
    """pytest-xdist's hand-out for `-n`: test by test in the tiers' order, each worker asking for more as it runs
    short, except that a module of a tier in MODULE_AT_ONCE goes to one worker whole, which builds its world,
    server and browser once. (`--dist load` splits such a module and both workers build them; `--dist loadgroup`
    loses its groups under pytest 9.2, pytest-xdist issue 1386.)"""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return module if Path(module).parent.name in MODULE_AT_ONCE else nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadScopeScheduling | None:
    """TierOrderScheduling in place of the default `--dist load`; another --dist given keeps its own."""
    if config.getvalue("dist") != "load":
        return None
    config.option.loadscopereorder = False  # the tiers' order, not the biggest module first
    return TierOrderScheduling(config, log)
