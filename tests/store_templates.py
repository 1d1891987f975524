"""Starting states built once per test process and copied into each test's own store.

Writing the reference scenario takes 162 commands (a quarter of a second on SQLite, more on PostgreSQL), and
hundreds of tests start from it. `fill(url, recipe, build)` runs `build(url)` once per process and store kind
into a template store (an SQLite file, a PostgreSQL schema of the test database), then gives every later caller
a copy of it: the SQLite file copied to the caller's path, the schema's types, sequences, tables with their
rows, constraints, indexes and functions cloned into the caller's empty schema. The copy holds exactly what the
build wrote, so a test that starts from it starts from the same rows as one that ran the commands itself (with
the same ids in every copy of one process: each test still has a store of its own).

The caller's store must be empty (an SQLite file not yet created; a PostgreSQL schema without tables), as the
stores the fixtures hand out are.
"""

from __future__ import annotations

import atexit
import copy
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from rectify import settings

T = TypeVar("T")

#: (recipe, store kind) → (the template's URL, what its build returned)
_templates: dict[tuple[str, str], tuple[str, Any]] = {}
_directory: Path | None = None
_schemas: list[tuple[str, str]] = []  # (conninfo, schema) of the PostgreSQL templates, dropped at exit


def fill(url: str, recipe: str, build: Callable[[str], T]) -> T:
    """The state `build` writes into an empty store, copied into the empty store at `url` (built for the first
    caller of this recipe and store kind in this process); returns what `build` returned (a copy of it)."""
    database = settings.parse_database_url(url)
    key = (recipe, database.kind)
    if key not in _templates:
        template = _new_sqlite_url(recipe) if database.kind == "sqlite" else _new_schema_url(url, database)
        result = build(template)
        if database.kind == "sqlite":
            _settle_sqlite(settings.parse_database_url(template).path)
        _templates[key] = (template, result)
    template, result = _templates[key]
    source = settings.parse_database_url(template)
    if database.kind == "sqlite":
        _copy_sqlite(source.path, database.path)
    else:
        _clone_schema(database.psycopg_conninfo(), source.schema, database.schema)
    return copy.deepcopy(result)


# -- SQLite: the template file, its WAL folded in, copied ------------------------------------------------------


def _new_sqlite_url(recipe: str) -> str:
    global _directory
    if _directory is None:
        _directory = Path(tempfile.mkdtemp(prefix="rectify-templates-"))
        atexit.register(shutil.rmtree, _directory, True)
    return f"sqlite:///{_directory / recipe}.db"


def _settle_sqlite(path: Any) -> None:
    """Every write in the main file (none left in a WAL), so that copying the file copies the store."""
    conn = sqlite3.connect(str(path))
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, f"{path}: a connection still open after the template was built"
    finally:
        conn.close()
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, f"{wal} still holds writes"


def _copy_sqlite(source: Any, target: Any) -> None:
    target = Path(target)
    assert not target.exists(), f"{target} exists: a template is copied into an empty store only"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


# -- PostgreSQL: a template schema, cloned through the catalogue ----------------------------------------------


def _new_schema_url(url: str, database: settings.Database) -> str:
    schema = f"tpl_{uuid.uuid4().hex[:12]}"
    conninfo = database.psycopg_conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    _schemas.append((conninfo, schema))
    if len(_schemas) == 1:
        atexit.register(_drop_schemas)
    return url.replace(f"schema={database.schema}", f"schema={schema}")


def _drop_schemas() -> None:
    for conninfo, schema in _schemas:
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        except psycopg.Error:
            pass  # the server went away first; the test database is the run's own


def _clone_schema(conninfo: str, source: str, target: str) -> None:
    """The template schema's composite types, sequences (at their values), tables (columns, defaults, checks,
    rows, constraints and indexes, under their own names) and functions, in the empty schema `target`."""

    def moved(text: str) -> str:  # a definition naming the template's schema, now naming the target's
        return text.replace(f'"{source}".', f'"{target}".').replace(f"{source}.", f"{target}.")

    def q(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    src, dst = q(source), q(target)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute("SET LOCAL search_path TO pg_catalog")  # catalogue definitions come schema-qualified
        cur.execute("SELECT count(*) FROM pg_class WHERE relnamespace = %s::regnamespace", (target,))
        assert cur.fetchone() == (0,), f"schema {target} is not empty: a template is cloned into an empty one"
        statements: list[str] = []
        cur.execute(
            "SELECT c.relname, string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), "
            "', ' ORDER BY a.attnum) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'c' AND a.attnum > 0 AND NOT a.attisdropped "
            "GROUP BY c.relname",
            (source,),
        )
        statements += [f"CREATE TYPE {dst}.{q(name)} AS ({moved(columns)})" for name, columns in cur.fetchall()]
        cur.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'S' "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')",
            (source,),  # sequences of identity columns come with their tables
        )
        sequences = [name for (name,) in cur.fetchall()]
        statements += [f"CREATE SEQUENCE {dst}.{q(name)}" for name in sequences]
        cur.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace AND relkind IN ('r', 'p') "
            "ORDER BY relname",
            (source,),
        )
        tables = [name for (name,) in cur.fetchall()]
        for table in tables:
            statements.append(f"CREATE TABLE {dst}.{q(table)} (LIKE {src}.{q(table)} INCLUDING ALL EXCLUDING INDEXES)")
        cur.execute(
            "SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
            "JOIN pg_class c ON c.oid = d.adrelid JOIN pg_attribute a ON a.attrelid = d.adrelid "
            "AND a.attnum = d.adnum WHERE c.relnamespace = %s::regnamespace",
            (source,),
        )
        for table, column, default in cur.fetchall():
            if moved(default) != default:  # a default naming the template's own sequence
                statements.append(f"ALTER TABLE {dst}.{q(table)} ALTER COLUMN {q(column)} SET DEFAULT {moved(default)}")
        for table in tables:
            statements.append(f"INSERT INTO {dst}.{q(table)} OVERRIDING SYSTEM VALUE SELECT * FROM {src}.{q(table)}")
        cur.execute(
            "SELECT s.relname, t.relname, a.attname, d.deptype FROM pg_depend d "
            "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_class t ON t.oid = d.refobjid "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
            "WHERE s.relnamespace = %s::regnamespace AND d.deptype IN ('a', 'i')",
            (source,),
        )
        for sequence, table, column, kind in cur.fetchall():
            if kind == "a":  # a serial column's sequence, set below with the others
                statements.append(f"ALTER SEQUENCE {dst}.{q(sequence)} OWNED BY {dst}.{q(table)}.{q(column)}")
            else:  # an identity column's, made with its table
                statements.append(
                    f"SELECT setval(pg_get_serial_sequence('{dst}.{q(table)}', '{column}'), last_value, is_called) "
                    f"FROM {src}.{q(sequence)}"
                )
        for sequence in sequences:
            statements.append(f"SELECT setval('{dst}.{q(sequence)}', last_value, is_called) FROM {src}.{q(sequence)}")
        cur.execute(
            "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_class t ON t.oid = c.conrelid WHERE t.relnamespace = %s::regnamespace "
            "AND c.contype IN ('p', 'u', 'x', 'f') ORDER BY c.contype <> 'p', c.contype = 'f'",
            (source,),
        )
        for table, name, definition in cur.fetchall():
            statements.append(f"ALTER TABLE {dst}.{q(table)} ADD CONSTRAINT {q(name)} {moved(definition)}")
        cur.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relnamespace = %s::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            (source,),
        )
        statements += [moved(definition) for (definition,) in cur.fetchall()]
        cur.execute(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = %s::regnamespace",
            (source,),
        )
        statements += [moved(definition) for (definition,) in cur.fetchall()]
        for statement in statements:
            cur.execute(statement.encode())
