"""Settings: the only module that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///rectify.db"


class SettingsError(ValueError):
    """A setting has a value rectify cannot use."""


@dataclass(frozen=True)
class Timeouts:
    """How long rectify waits for its store, in seconds."""

    store: float = 5.0  # a command's wait for the store, all told; SQLite's busy timeout; a pooled connection
    connect: float = 2.0  # opening a PostgreSQL connection
    statement: float = 15.0  # one PostgreSQL statement (a rebuild's batches included); a silent link


@dataclass(frozen=True)
class Health:
    """When /health fails: the views lag the log by more than so many events or seconds."""

    lag_events: int = 5000
    lag_seconds: float = 60.0  # the age of the oldest event not yet in the views (RECTIFY_STALL_SECONDS)
    timeout: float = 1.0  # /health answers within this, store or no store


@dataclass(frozen=True)
class Database:
    """Where the events (and the views beside them) live."""

    url: str
    kind: str  # "sqlite" or "postgresql"
    path: Path | None = None  # sqlite
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    name: str = ""
    schema: str = "public"
    timeouts: Timeouts = field(default_factory=lambda: Timeouts())

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's persistence settings for this database."""
        t = self.timeouts
        if self.kind == "sqlite":
            assert self.path is not None
            return {
                "PERSISTENCE_MODULE": "rectify.persistence:SQLiteFactory",  # the library's, and a look-up of many ids
                "SQLITE_DBNAME": str(self.path),
                "SQLITE_LOCK_TIMEOUT": str(max(1, round(t.store))),  # the busy timeout, whole seconds
            }
        return {
            "PERSISTENCE_MODULE": "rectify.persistence:PostgresFactory",  # the library's, with connection timeouts
            "POSTGRES_DBNAME": self.name,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            # The library insists on a password even with trust authentication.
            "POSTGRES_PASSWORD": self.password or "unused",
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "8",
            "POSTGRES_CONN_MAX_AGE": "600",
            "POSTGRES_PRE_PING": "y",  # a pooled connection is checked before use: none dead after an outage
            "POSTGRES_CONNECT_TIMEOUT": str(max(1, round(t.store))),  # the wait for a pooled connection
            "POSTGRES_LOCK_TIMEOUT": str(max(1, round(t.store))),  # the wait for the events table's lock
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(max(1, round(t.statement))),
            "RECTIFY_LIBPQ_CONNECT_TIMEOUT": str(t.connect),
            "RECTIFY_STATEMENT_TIMEOUT": str(t.statement),
        }

    def connection_parameters(self) -> dict[str, str]:
        """libpq parameters that bound a connection's waits: to connect, and on a link gone silent."""
        t = self.timeouts
        return {
            "connect_timeout": str(max(1, round(t.connect))),
            "keepalives": "1",
            "keepalives_idle": "5",
            "keepalives_interval": "2",
            "keepalives_count": "2",
            "tcp_user_timeout": str(int(t.statement * 1000)),  # unacknowledged data: the link is dead
        }

    def psycopg_conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo  # quotes each value: a password may hold anything

        assert self.kind == "postgresql"
        parts = {
            "host": self.host,
            "port": str(self.port),
            "dbname": self.name,
            "user": self.user,
            "password": self.password,
            **self.connection_parameters(),
        }
        return make_conninfo(**{k: v for k, v in parts.items() if v})

    def statement_options(self) -> str:
        """The `options` that bound one statement's time on the server."""
        return f"-c statement_timeout={int(self.timeouts.statement * 1000)}"


def parse_database_url(url: str) -> Database:
    """`sqlite:///relative.db`, `sqlite:////absolute.db`, `postgresql://user:pass@host:port/db?schema=s`."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        raw = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not raw or raw.startswith(":memory:") or "mode=memory" in raw:
            raise SettingsError(
                "RECTIFY_DATABASE_URL: give SQLite a file path, e.g. sqlite:///rectify.db "
                "(an in-memory database is lost between connections)"
            )
        return Database(url=url, kind="sqlite", path=Path(raw))
    if parts.scheme in ("postgresql", "postgres"):
        query = parse_qs(parts.query)
        name = parts.path.lstrip("/")
        if not name:
            raise SettingsError("RECTIFY_DATABASE_URL: name the PostgreSQL database, e.g. postgresql://host/rectify")
        return Database(
            url=url,
            kind="postgresql",
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            name=name,
            schema=query.get("schema", ["public"])[0],
        )
    raise SettingsError(
        f"RECTIFY_DATABASE_URL: unsupported scheme {parts.scheme!r}; use sqlite:///file.db or postgresql://…"
    )


@dataclass(frozen=True)
class Limits:
    """How much one GraphQL document may ask for."""

    max_depth: int = 10
    max_aliases: int = 20
    max_tokens: int = 2000
    max_fields: int = 2000  # fields selected, with every fragment spread counted where it is spread
    max_fragments: int = 50
    max_fragment_nesting: int = 8  # fragments spreading fragments, the longest chain
    max_repeats: int = 10  # times one field or fragment may stand in one selection set
    introspection: bool = True


@dataclass(frozen=True)
class Integrity:
    """The hash-chained log: who signs its tree heads, and how often one is written."""

    signing_key: Path | None = None  # an Ed25519 private key file (`rectify keygen`); None: heads are unsigned
    public_key: str | None = None  # for `rectify verify`/`import`: a key file or `ed25519 <base64>`
    checkpoint_events: int = 1000  # a tree head every this many sealed events…
    checkpoint_seconds: float = 60.0  # …and after this many seconds when events were sealed since the last


@dataclass(frozen=True)
class Settings:
    database: Database
    timezone: str = "Asia/Shanghai"
    host: str = "127.0.0.1"
    port: int = 8000
    poll_interval: float = 0.1
    allowed_origins: tuple[str, ...] = ()
    limits: Limits = Limits()
    ws_init_timeout: float = 5.0  # seconds a WebSocket may take to send connection_init
    yellow_within_days: int = 10  # 红黄绿灯: yellow when this many days or fewer are left
    stall_seconds: float = 60.0  # /health fails when an event has waited this long for the views
    health: Health = Health()
    response_cache_bytes: int = 64 * 1024 * 1024  # the GraphQL answers kept for reuse, in bytes (0: none)
    aggregate_cache_bytes: int = 64 * 1024 * 1024  # aggregates kept for commands, by their events' bytes (0: none)
    integrity: Integrity = Integrity()
    evidence_max_bytes: int = 20 * 1024 * 1024  # the largest evidence file taken (佐证材料)


def load(environ: Mapping[str, str] | None = None, *, database_url: str | None = None) -> Settings:
    """Settings from the environment; a database URL given here (e.g. on the command line) wins."""
    env = os.environ if environ is None else environ
    database = parse_database_url(database_url or env.get("RECTIFY_DATABASE_URL", DEFAULT_DATABASE_URL))
    try:
        port = int(env.get("RECTIFY_PORT", "8000"))
        poll = float(env.get("RECTIFY_POLL_INTERVAL", "0.1"))
        ws_init_timeout = float(env.get("RECTIFY_WS_INIT_TIMEOUT", "5"))
        yellow = int(env.get("RECTIFY_YELLOW_DAYS", "10"))
        stall = float(env.get("RECTIFY_STALL_SECONDS", "60"))
        lag_events = int(env.get("RECTIFY_HEALTH_LAG_EVENTS", "5000"))
        timeouts = Timeouts(
            store=float(env.get("RECTIFY_STORE_TIMEOUT", "5")),
            connect=float(env.get("RECTIFY_CONNECT_TIMEOUT", "2")),
            statement=float(env.get("RECTIFY_STATEMENT_TIMEOUT", "15")),
        )
        checkpoint_events = int(env.get("RECTIFY_CHECKPOINT_EVENTS", "1000"))
        checkpoint_seconds = float(env.get("RECTIFY_CHECKPOINT_SECONDS", "60"))
        limits = Limits(
            max_depth=int(env.get("RECTIFY_MAX_DEPTH", "10")),
            max_aliases=int(env.get("RECTIFY_MAX_ALIASES", "20")),
            max_tokens=int(env.get("RECTIFY_MAX_TOKENS", "2000")),
            max_fields=int(env.get("RECTIFY_MAX_FIELDS", "2000")),
            max_fragments=int(env.get("RECTIFY_MAX_FRAGMENTS", "50")),
            max_fragment_nesting=int(env.get("RECTIFY_MAX_FRAGMENT_NESTING", "8")),
            max_repeats=int(env.get("RECTIFY_MAX_REPEATS", "10")),
            introspection=env.get("RECTIFY_INTROSPECTION", "true").lower() in ("1", "true", "yes"),
        )
    except ValueError as error:
        raise SettingsError(f"a RECTIFY_ number setting is not a number: {error}") from None
    if not 0 <= yellow <= 365:
        raise SettingsError(f"RECTIFY_YELLOW_DAYS: give 0 to 365 days, not {yellow}")
    if not 0 < ws_init_timeout <= 300:
        raise SettingsError(f"RECTIFY_WS_INIT_TIMEOUT: give seconds above 0 and at most 300, not {ws_init_timeout}")
    if not 0 < stall <= 86_400:
        raise SettingsError(f"RECTIFY_STALL_SECONDS: give seconds above 0 and at most 86400, not {stall}")
    try:
        response_cache = byte_size(env.get("RECTIFY_RESPONSE_CACHE_BYTES", "64MiB"))
    except SettingsError as error:
        raise SettingsError(f"RECTIFY_RESPONSE_CACHE_BYTES: {error}") from None
    try:
        aggregate_cache = byte_size(env.get("RECTIFY_AGGREGATE_CACHE_BYTES", "64MiB"))
    except SettingsError as error:
        raise SettingsError(f"RECTIFY_AGGREGATE_CACHE_BYTES: {error}") from None
    try:
        evidence_max_bytes = byte_size(env.get("RECTIFY_EVIDENCE_MAX_BYTES", "20MiB"))
    except SettingsError as error:
        raise SettingsError(f"RECTIFY_EVIDENCE_MAX_BYTES: {error}") from None
    if not 1 <= evidence_max_bytes <= 1024**3:
        raise SettingsError(f"RECTIFY_EVIDENCE_MAX_BYTES: give 1 byte to 1GiB, not {evidence_max_bytes}")
    for name, value in (
        ("RECTIFY_STORE_TIMEOUT", timeouts.store),
        ("RECTIFY_CONNECT_TIMEOUT", timeouts.connect),
        ("RECTIFY_STATEMENT_TIMEOUT", timeouts.statement),
    ):
        if not 0.1 <= value <= 600:
            raise SettingsError(f"{name}: give seconds from 0.1 to 600, not {value}")
    if lag_events < 1:
        raise SettingsError(f"RECTIFY_HEALTH_LAG_EVENTS: give at least 1 event, not {lag_events}")
    database = replace(database, timeouts=timeouts)
    if checkpoint_events < 1:
        raise SettingsError(f"RECTIFY_CHECKPOINT_EVENTS: give at least 1 event, not {checkpoint_events}")
    if not 0 < checkpoint_seconds <= 86_400:
        raise SettingsError(
            f"RECTIFY_CHECKPOINT_SECONDS: give seconds above 0 and at most 86400, not {checkpoint_seconds}"
        )
    signing_key = env.get("RECTIFY_SIGNING_KEY", "").strip()
    integrity = Integrity(
        signing_key=Path(signing_key).expanduser() if signing_key else None,
        public_key=env.get("RECTIFY_PUBLIC_KEY", "").strip() or None,
        checkpoint_events=checkpoint_events,
        checkpoint_seconds=checkpoint_seconds,
    )
    origins = tuple(o.strip() for o in env.get("RECTIFY_ALLOWED_ORIGINS", "").split(",") if o.strip())
    return Settings(
        database=database,
        timezone=env.get("RECTIFY_TIMEZONE", "Asia/Shanghai"),
        host=env.get("RECTIFY_HOST", "127.0.0.1"),
        port=port,
        poll_interval=poll,
        allowed_origins=origins,
        limits=limits,
        ws_init_timeout=ws_init_timeout,
        yellow_within_days=yellow,
        stall_seconds=stall,
        health=Health(lag_events=lag_events, lag_seconds=stall),
        response_cache_bytes=response_cache,
        aggregate_cache_bytes=aggregate_cache,
        integrity=integrity,
        evidence_max_bytes=evidence_max_bytes,
    )


BYTE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2}
BYTE_UNITS |= {"g": 1000**3, "gb": 1000**3, "gib": 1024**3}


def byte_size(text: str) -> int:
    """`67108864`, `64MiB`, `512 KiB`, `1GB`: a number of bytes, with an optional unit."""
    number = text.strip().rstrip("bBiIkKmMgG ").strip()
    unit = text.strip()[len(number) :].strip().lower()
    if unit not in BYTE_UNITS or not (number.isascii() and number.isdigit()):
        raise SettingsError(f"give a size in bytes, e.g. 67108864 or 64MiB, not {text!r}")
    return int(number) * BYTE_UNITS[unit]
