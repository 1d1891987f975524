"""A running server verifies its log's tail now and then; /health answers 503 with the reason on a mismatch."""

from __future__ import annotations

import pytest
from integrity_scenario import PUBLISHED_ON, RawLog, Scenario
from starlette.testclient import TestClient
from test_verify import TAMPERING

from rectify import settings
from rectify.cli import web_settings
from rectify.web.app import create_app


def served(scenario: Scenario) -> TestClient:
    config = settings.load({"RECTIFY_SIGNING_KEY": str(scenario.key_file)}, database_url=scenario.url)
    return TestClient(create_app(config, web_settings(config), run_projector=False, today=lambda: PUBLISHED_ON))


@pytest.mark.parametrize("tampering", ["an edited payload byte", "a middle event deleted", "two rows reordered"])
def test_health_reports_a_tampered_tail_with_its_first_bad_position(
    scenario: Scenario, raw: RawLog, tampering: str
) -> None:
    with served(scenario) as client:
        healthy = client.get("/health")
        assert healthy.status_code == 200, healthy.text
        assert healthy.json()["integrity"]["tail"] == "verified"

        position, named = TAMPERING[tampering](raw)
        watch = client.app.state.rectify.system.sealer.watch  # type: ignore[attr-defined]
        assert client.get("/health").status_code == 200  # checked a moment ago: not due again yet
        watch.every_seconds = 0  # the next request finds a check due
        answer = client.get("/health")
    assert answer.status_code == 503
    reason = " ".join(answer.json()["problems"])
    assert f"the log does not verify at position {position}: {named}" in reason
    assert "rectify verify" in reason
