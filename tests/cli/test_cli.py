"""The `rectify` command, run as a user runs it: a real process on a fresh SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rectify.cli import parser


def rectify(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **(env or {})}
    environ.pop("RECTIFY_DATABASE_URL", None)
    if env and "RECTIFY_DATABASE_URL" in env:
        environ["RECTIFY_DATABASE_URL"] = env["RECTIFY_DATABASE_URL"]
    return subprocess.run(
        [sys.executable, "-m", "rectify.cli", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


def test_load_example_then_events_shows_22_clean_ups_to_2025_11_12_and_5_trainings(tmp_path: Path) -> None:
    loaded = rectify("load-example", "songyuan", cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert (tmp_path / "rectify.db").exists()  # the default: a file in the working directory

    printed = rectify("events", "--json", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    events = [json.loads(line) for line in printed.stdout.splitlines()]
    activities = [e for e in events if e["type"] == "Finding.ActivityRecorded"]
    clean_ups = [a for a in activities if a["payload"]["kind"] == "大扫除"]
    trainings = [a for a in activities if a["payload"]["kind"] == "培训"]
    assert len([a for a in clean_ups if a["business_date"] <= "2025-11-12"]) == 22
    assert len(trainings) == 5
    assert all(a["business_date"] > "2025-03-26" for a in trainings)
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)

    text = rectify("events", "--type", "ActivityRecorded", cwd=tmp_path).stdout.splitlines()
    assert sum("kind=大扫除" in line for line in text) == len(clean_ups)


def test_load_example_refuses_a_store_that_already_holds_events(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert rectify("load-example", "songyuan", cwd=tmp_path, env={"RECTIFY_DATABASE_URL": url}).returncode == 0
    again = rectify("--database-url", url, "load-example", "songyuan", cwd=tmp_path)
    assert again.returncode == 2
    assert "already holds" in again.stderr


def test_demo_creates_a_fresh_file_each_time(tmp_path: Path) -> None:
    for _ in range(2):
        demo = rectify("demo", "--database", "demo.db", "--no-serve", cwd=tmp_path)
        assert demo.returncode == 0, demo.stderr
        assert "大扫除 28 (up to 2025-11-12: 22)" in demo.stdout
        assert demo.stdout.count("/notices/") == 2  # the reference notice of 2026-03-12, and today's


def test_a_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    bad = rectify("--database-url", "mysql://x/y", "events", cwd=tmp_path)
    assert bad.returncode == 2
    assert "RECTIFY_DATABASE_URL" in bad.stderr and "unsupported scheme" in bad.stderr


def subcommands() -> list[str]:
    actions = [a for a in parser()._actions if a.dest == "command"]
    return sorted(actions[0].choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [None, *subcommands()])
def test_every_command_has_help(tmp_path: Path, command: str | None) -> None:
    shown = rectify(*([command] if command else []), "--help", cwd=tmp_path)
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: rectify")
