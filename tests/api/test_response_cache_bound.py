"""F3: the response cache is bounded by bytes (RECTIFY_RESPONSE_CACHE_BYTES), not by its number of answers.

The app runs in-process (over the store the shared server uses), so that the test can weigh its cache.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from api_documents import everything

from rectify import settings
from rectify.web.app import WebSettings, create_app

LEDGER = f"query($first: Int!) {{ ledger(first: $first) {everything('FindingPage')} }}"


def answers(
    database_url: str, bound: str, token: str, count: int, *, moved_before_last: bool = False
) -> tuple[list[int], Any]:
    """Asks the ledger `count` times, each with a different unused variable (so each is a new answer
    to keep), then the last one again (after the views moved on, if asked); the sizes of the answers,
    and the cache."""
    config = settings.load({"RECTIFY_RESPONSE_CACHE_BYTES": bound}, database_url=database_url)
    app = create_app(config, WebSettings(limits=config.limits), run_projector=False)

    async def scenario() -> list[int]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://rectify",
                headers={"authorization": f"Bearer {token}"},
            ) as client,
        ):
            sizes = []
            for asked, nonce in enumerate([*range(count), count - 1]):
                if moved_before_last and asked == count:
                    app.state.rectify.feed.position += 1  # as a write's batch moves the views on
                response = await client.post(
                    "/graphql", json={"query": LEDGER, "variables": {"first": 100, "n": nonce}}
                )
                assert response.status_code == 200 and "errors" not in response.json(), response.text
                sizes.append(len(response.content))
            return sizes

    sizes = asyncio.run(scenario())
    return sizes, app.state.endpoint.responses


def test_the_cache_keeps_answers_up_to_its_bound_in_bytes_however_many_there_are(shared_world) -> None:
    sizes, cache = answers(shared_world.database_url, "128KiB", shared_world.tokens["INSPECTOR"], 40)
    assert min(sizes) > 4096 and sum(sizes) > 4 * 128 * 1024  # far more than the bound was asked for
    assert cache.max_bytes == 128 * 1024
    assert 0 < cache.nbytes <= cache.max_bytes
    assert len(cache) <= 128 * 1024 // min(sizes) < 40


def test_an_answer_larger_than_the_whole_bound_is_answered_but_not_kept(shared_world) -> None:
    sizes, cache = answers(shared_world.database_url, "4KiB", shared_world.tokens["INSPECTOR"], 3)
    assert min(sizes) > 4096
    assert len(cache) == 0 and cache.nbytes == 0


def test_answers_at_a_position_the_views_have_left_are_dropped(shared_world) -> None:
    """Under a stream of writes, answers keyed by past positions, never asked for again, would fill the cache."""
    sizes, cache = answers(
        shared_world.database_url, "1MiB", shared_world.tokens["INSPECTOR"], 5, moved_before_last=True
    )
    assert len(cache) == 1  # the last answer only, at the views' new position
