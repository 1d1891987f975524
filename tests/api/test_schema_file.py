"""schema.graphql is committed and must match the code."""

from __future__ import annotations

from pathlib import Path

from rectify.graphql.schema import schema

COMMITTED = Path(__file__).parents[2] / "schema.graphql"


def test_the_committed_schema_matches_the_code() -> None:
    printed = str(schema).strip() + "\n"
    assert COMMITTED.read_text(encoding="utf-8") == printed, (
        'schema.graphql is out of date: run `python -c "from rectify.graphql.schema import schema; '
        'print(schema)" > schema.graphql` and review the change'
    )
