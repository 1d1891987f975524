"""The token cache remembers answers until their token is revoked, and never one that overlapped a revocation."""

from __future__ import annotations

from rectify.access import Actor, Role
from rectify.domain.token import digest, token_id
from rectify.web.tokens import Tokens

SECRET = "rct_secret"
UNIT = Actor("松园", Role.UNIT)


def test_a_revoked_token_is_looked_up_again_while_others_stay_remembered() -> None:
    asked: list[str] = []
    revoked: set[str] = set()

    def authenticate(secret: str) -> Actor | None:
        asked.append(secret)
        return None if secret in revoked else UNIT

    tokens = Tokens(authenticate, ttl=3600)
    assert tokens.lookup(SECRET) == UNIT and tokens.lookup("rct_other") == UNIT
    assert tokens.remembered(SECRET) == UNIT and tokens.remembered("rct_other") == UNIT
    revoked.add(SECRET)
    tokens.forget(frozenset({token_id(digest(SECRET))}))
    assert tokens.remembered(SECRET) is Tokens.MISS
    assert tokens.remembered("rct_other") == UNIT
    assert tokens.lookup(SECRET) is None
    assert asked == [SECRET, "rct_other", SECRET]


def test_an_answer_read_while_a_revocation_came_in_is_not_kept() -> None:
    tokens: Tokens

    def authenticate(secret: str) -> Actor | None:
        tokens.forget(frozenset({token_id(digest(secret))}))  # heard while the store was being read
        return UNIT  # what the store said just before the revocation committed

    tokens = Tokens(authenticate, ttl=3600)
    assert tokens.lookup(SECRET) == UNIT
    assert tokens.remembered(SECRET) is Tokens.MISS  # the next use asks the store again
