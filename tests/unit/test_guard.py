"""What a GraphQL document may cost: worked out with each fragment visited once, so no document can
make the check itself expensive (F1, the fragment bomb)."""

from __future__ import annotations

import pytest
from graphql import get_introspection_query

from rectify.graphql import guard
from rectify.graphql.schema import build_schema
from rectify.settings import Limits

SCHEMA = build_schema()._schema


def bomb(levels: int) -> str:
    """Each fragment spreads the next twice: 2**levels fields once expanded, in about 40 bytes a level."""
    chain = " ".join(f"fragment F{n} on Query{{...F{n + 1} ...F{n + 1}}}" for n in range(levels))
    return f"query{{...F0}} {chain} fragment F{levels} on Query{{head}}"


def messages(query: str, limits: Limits = Limits()) -> list[str]:
    return [error.message for error in guard.vet(SCHEMA, query, limits)]


def test_a_fragment_bomb_is_costed_without_expanding_it() -> None:
    # 2**40 fields once expanded: a check that expanded it would never finish.
    found = messages(bomb(40), Limits(max_fragments=100))
    assert found == [
        "'anonymous' nests fragments 41 deep. Allowed: 8",
        f"'anonymous' selects {2**40} fields. Allowed: 2000",
    ]


def test_a_wide_fragment_is_counted_at_every_spread() -> None:
    # Three fragments deep, each spread ten times: 10 × 10 × 2 = 200 fields.
    query = (
        "query Wide { ...A } fragment A on Query {" + " ...B" * 10 + " } "
        "fragment B on Query {" + " ...C" * 10 + " } fragment C on Query { units { id } }"
    )
    assert messages(query) == []
    assert messages(query, Limits(max_fields=150)) == ["'Wide' selects 200 fields. Allowed: 150"]


def test_depth_and_aliases_count_through_fragments() -> None:
    deep = "query Deep { ...A } fragment A on Query { rounds { ...B } } fragment B on Round { progress { ...C } }"
    deep += " fragment C on Progress { activitiesByUnit { figures { series { on } } } }"
    assert messages(deep, Limits(max_depth=4)) == ["'Deep' exceeds maximum operation depth of 4"]
    assert messages(deep, Limits(max_depth=5)) == []
    aliases = "{ ...A ...B } fragment A on Query { a: head b: head } fragment B on Query { c: head ...A }"
    assert messages(aliases, Limits(max_aliases=4)) == ["5 aliases found. Allowed: 4"]


def test_a_field_repeated_many_times_in_one_selection_is_refused_before_it_is_compared_pairwise() -> None:
    # Validation compares the fields of one name pairwise: 490 of them would cost it about half a second.
    found = messages("{" + " units { id }" * 490 + "}")
    assert found == ["'anonymous' selects one field or fragment 490 times in one selection set. Allowed: 10"]
    spreads = "{ ...A } fragment A on Query {" + " ...B" * 11 + " } fragment B on Query { head }"
    assert messages(spreads) == ["'anonymous' selects one field or fragment 11 times in one selection set. Allowed: 10"]


def test_too_many_fragments_are_refused() -> None:
    fragments = " ".join(f"fragment F{n} on Query {{ head }}" for n in range(51))
    assert messages("{ ...F0 } " + fragments) == ["51 fragments found. Allowed: 50"]


def test_a_cycle_of_fragments_is_left_to_the_validation_rule_that_names_it() -> None:
    found = messages("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
    assert found and all("Cannot spread fragment" in m for m in found), found


@pytest.mark.parametrize("descriptions", [True, False])
def test_the_introspection_query_of_graphiql_passes(descriptions: bool) -> None:
    assert messages(get_introspection_query(descriptions=descriptions)) == []


def test_a_vetted_document_is_parsed_and_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    query = "query Once { head me { role } }"
    runs: list[str] = []
    parse, validate = guard.parse, guard.validate
    monkeypatch.setattr(guard, "parse", lambda *args, **kwargs: runs.append("parse") or parse(*args, **kwargs))
    monkeypatch.setattr(guard, "validate", lambda *args, **kwargs: runs.append("validate") or validate(*args, **kwargs))
    assert messages(query) == []
    assert messages(query) == []
    assert runs == ["parse", "validate"]


def test_what_was_vetted_is_known_without_work_and_what_was_not_is_not() -> None:
    """The HTTP endpoint answers a known document on the event loop and sends only an unknown one to a
    worker thread to be parsed and validated."""
    good, bad, fresh = "query Known { head }", "query Wrong { nowhere }", "query Fresh { head me { role } }"
    assert messages(good) == [] and len(messages(bad)) == 1
    assert guard.vetted(SCHEMA, good, Limits()) == []
    assert [error.message for error in guard.vetted(SCHEMA, bad, Limits()) or []] == messages(bad)
    assert guard.vetted(SCHEMA, fresh, Limits()) is None
    assert guard.vetted(SCHEMA, good, Limits(max_depth=3)) is None  # other limits: vetted again


def test_parsed_documents_are_kept_by_the_bytes_they_weigh_not_by_their_number() -> None:
    big = "query { " + " ".join(f"a{n}: head" for n in range(600)) + " }"  # 1,803 tokens, with <SOF> and <EOF> 1,805
    document = guard.parse_document(big, 2000)
    assert guard.tokens_in(document) == 1805
    weighed = guard._documents.get((big, 2000))
    assert weighed is document
    assert guard._documents.nbytes <= guard.DOCUMENT_CACHE_BYTES
    assert guard.DOCUMENT_CACHE_BYTES // (len(big) + guard.BYTES_PER_TOKEN * 1805) < 512  # fewer than lru kept
