"""A projection worker killed with SIGKILL mid catch-up loses nothing and counts nothing twice."""

from __future__ import annotations

import os
import signal
import time

import pytest
from api_harness import start_worker

from rectify import settings
from rectify.bootstrap import open_system
from rectify.examples.district import generate


@pytest.mark.slow
def test_a_worker_killed_mid_catch_up_ends_identical_to_a_rebuild(config: settings.Settings) -> None:
    system = open_system(config, run_projector=False)
    try:
        # enough for a ledger of 500-odd findings and thousands of activities (asserted below), and no more
        generate(system.app, 8_000, concurrent=200)
        head = system.app.head()
        assert system.store.tracking_position() == 0

        # small batches, so the kill lands among many commits; 50 rather than 20 spares a hundred of them
        running = start_worker(config.database.url, "--batch-size", "50")
        deadline = time.monotonic() + 60
        while (position := system.store.tracking_position()) < head // 5:
            assert running.poll() is None, running.stderr.read() if running.stderr else ""
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.005)
        os.kill(running.pid, signal.SIGKILL)
        running.communicate(timeout=10)
        killed_at = system.store.tracking_position()
        assert 0 < position <= killed_at < head, "killed in the middle of the catch-up"

        restarted = start_worker(config.database.url, "--until-caught-up")
        _, errors = restarted.communicate(timeout=120)
        assert restarted.returncode == 0, errors.decode()
        with system.store.snapshot() as view:
            assert view.position == head
            after_crash = view.dump()

        system.projector.rebuild()
        with system.store.snapshot() as view:
            assert view.dump() == after_crash
        assert len(after_crash["ledger"]) > 500
        assert sum(len(chunk) for *_, chunk in after_crash["activities"]) > 1000
    finally:
        system.close()
