"""A projector whose batches keep failing says so once in full, then one line per retry: a damaged store
is not mended by retrying, and a traceback a second was burying the log."""

from __future__ import annotations

import logging
import time

import pytest

from rectify.bootstrap import System
from rectify.projections.runner import Runner


def test_a_failure_that_repeats_is_logged_in_full_once_then_in_one_line(
    system: System, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from eventsourcing.persistence import DatabaseError

    def damaged(**_: object) -> None:
        raise DatabaseError("database disk image is malformed")

    monkeypatch.setattr(system.projector, "advance", damaged)
    runner = Runner(system.projector)
    with caplog.at_level(logging.ERROR, logger="rectify.projections.runner"):
        runner.start()
        deadline = time.monotonic() + 10
        while len(caplog.records) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
    failures = [r for r in caplog.records if r.getMessage().startswith("projection batch failed")]
    assert len(failures) >= 3
    assert failures[0].exc_info is not None
    assert all(r.exc_info is None for r in failures[1:])
    assert failures[1].getMessage() == "projection batch failed (attempt 2): database disk image is malformed"
    assert isinstance(runner.error, DatabaseError)  # /health reports it meanwhile
