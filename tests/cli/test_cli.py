"""The `rectify` command, run as a user runs it: a real process on a fresh SQLite file (its help and its
failures through `main()` in this process, which is all the console script calls)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rectify.cli import main, parser

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


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


def test_load_example_refuses_a_store_that_already_holds_events(tmp_path: Path, cli: Run) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert rectify("load-example", "songyuan", cwd=tmp_path, env={"RECTIFY_DATABASE_URL": url}).returncode == 0
    again = cli("--database-url", url, "load-example", "songyuan", cwd=tmp_path)
    assert again.returncode == 2
    assert "already holds" in again.stderr


def test_demo_creates_a_fresh_file_each_time(tmp_path: Path, cli: Run) -> None:
    for _ in range(2):
        demo = cli("demo", "--database", "demo.db", "--no-serve", cwd=tmp_path)
        assert demo.returncode == 0, demo.stderr
        assert "大扫除 28 (up to 2025-11-12: 22)" in demo.stdout
        assert demo.stdout.count("/notices/") == 2  # the reference notice of 2026-03-12, and today's


def subcommands() -> list[str]:
    actions = [a for a in parser()._actions if a.dest == "command"]
    return sorted(actions[0].choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [None, *subcommands()])
def test_every_command_has_help(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*([command] if command else []), "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: rectify")


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """`rectify ARGS` through main() in this process (what the console script calls), as `rectify()` gives it."""

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        monkeypatch.chdir(cwd)
        monkeypatch.delenv("RECTIFY_DATABASE_URL", raising=False)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exited:  # argparse's own exits
            code = int(exited.code or 0)
        printed = capsys.readouterr()
        return subprocess.CompletedProcess(["rectify", *args], code, printed.out, printed.err)

    return run


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder whose rectify.db holds the reference scenario, and what `load-example` printed."""
    folder = tmp_path_factory.mktemp("cli")
    loaded = rectify("load-example", "songyuan", cwd=folder)
    assert loaded.returncode == 0, loaded.stderr
    return folder, loaded.stdout


def printed_id(output: str, label: str) -> str:
    found = re.search(rf"^{label}\s+({UUID})", output, re.MULTILINE)
    assert found is not None, output
    return found.group(1)


def test_load_example_prints_the_ids_it_created(example: tuple[Path, str]) -> None:
    folder, output = example
    unit_id, round_id = printed_id(output, "unit"), printed_id(output, "round")
    assert f"{unit_id}  松园社区党委" in output and f"{round_id}  罗湖区第四巡察组" in output
    findings = re.findall(rf"^ +({UUID})  (\S+) .*$", output, re.MULTILINE)
    assert len(findings) == 14 and ("二-6" in dict((code, i) for i, code in findings))
    events = rectify("events", "--json", "--type", "Finding.Raised", cwd=folder).stdout.splitlines()
    assert {i for i, _ in findings} == {json.loads(line)["aggregate_id"] for line in events}


def test_units_rounds_and_findings_list_ids_with_names_and_codes(example: tuple[Path, str], cli: Run) -> None:
    folder, output = example
    unit_id, round_id = printed_id(output, "unit"), printed_id(output, "round")

    units = cli("units", cwd=folder)
    assert units.returncode == 0, units.stderr
    assert re.search(rf"^{unit_id}  松园社区党委  中共深圳市罗湖区桂园街道松园社区委员会$", units.stdout, re.MULTILINE)
    rounds = cli("rounds", cwd=folder)
    assert re.search(
        rf"^{round_id}  罗湖区第四巡察组  2025-03-26 to 2025-06-13  2025-08-12  松园社区党委$", rounds.stdout, re.M
    )

    findings = cli("findings", "--round", "第四巡察组", cwd=folder)
    assert findings.returncode == 0, findings.stderr
    lines = findings.stdout.splitlines()[1:]
    assert len(lines) == 14
    internal = next(line for line in lines if "规范工程项目资金管理" in line)
    assert re.match(rf"{UUID}  二-6 +IN_PROGRESS +2025-11-12 +内部  规范工程项目资金管理$", internal), internal
    as_json = [
        json.loads(line) for line in cli("findings", "--round", round_id, "--json", cwd=folder).stdout.splitlines()
    ]
    assert [(f["code"], f["disclosure"]) for f in as_json if f["disclosure"] != "PUBLIC"] == [("二-6", "INTERNAL")]
    assert {f["round_id"] for f in as_json} == {round_id} and len(as_json) == 14
    assert [json.loads(line)["short_name"] for line in cli("units", "--json", cwd=folder).stdout.splitlines()] == [
        "松园社区党委"
    ]


def test_a_draft_notice_takes_the_rounds_team_and_the_units_short_name(example: tuple[Path, str]) -> None:
    folder, output = example
    by_name = rectify(
        "notice", "--round", "第四巡察组", "--unit", "松园社区党委", "--published-on", "2026-03-12", cwd=folder
    )
    assert by_name.returncode == 0, by_name.stderr
    assert "累计开展 22 次" in by_name.stdout
    by_id = ["--round", printed_id(output, "round"), "--unit", printed_id(output, "unit")]
    assert rectify("notice", *by_id, "--published-on", "2026-03-12", cwd=folder).stdout == by_name.stdout
    by_prefix = ["--round", printed_id(output, "round")[:6], "--unit", "松园"]
    assert rectify("notice", *by_prefix, "--published-on", "2026-03-12", cwd=folder).stdout == by_name.stdout


def test_an_ambiguous_handle_is_refused_with_the_candidates(tmp_path: Path, cli: Run) -> None:
    assert cli("load-example", "songyuan", cwd=tmp_path).returncode == 0
    again = cli("load-example", "songyuan", "--force", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rounds = [json.loads(line)["id"] for line in cli("rounds", "--json", cwd=tmp_path).stdout.splitlines()]
    assert len(rounds) == 2 and printed_id(again.stdout, "round") in rounds

    ambiguous = cli("findings", "--round", "第四巡察组", cwd=tmp_path)
    assert ambiguous.returncode == 2
    assert one_line(ambiguous.stderr).startswith("rectify: round '第四巡察组' is ambiguous: it fits 2 rounds")
    assert all(r in ambiguous.stderr for r in rounds)
    # within one round, its own unit is meant, though another unit shares the short name
    chosen = cli("findings", "--round", rounds[1][:8], "--unit", "松园社区党委", "--json", cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert {json.loads(line)["round_id"] for line in chosen.stdout.splitlines()} == {rounds[1]}
    assert cli("units", cwd=tmp_path).stdout.count("松园社区党委") == 2
    token = cli("token", "create", "--role", "UNIT", "--unit", "松园社区党委", "--label", "x", cwd=tmp_path)
    assert token.returncode == 2 and "unit '松园社区党委' is ambiguous: it fits 2 units" in token.stderr


def one_line(stderr: str) -> str:
    """What a failure prints: exactly one line, `rectify: …`, and no traceback."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rectify: ") and "Traceback" not in stderr, stderr
    return lines[0]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens there once the probe is closed


FAILURES = {
    "a round no one has": (["findings", "--round", "第九巡察组"], 2, "no round is named '第九巡察组'"),
    "a unit not in the round": (
        ["notice", "--round", "第四巡察组", "--unit", "其他"],
        2,
        "no unit is named '其他', nor has an id starting with it; there are: ",
    ),
    "a notice that was never published": (["verify-notice", "0000aaaa"], 2, "there is no notice to name"),
    "a date that is not one": (
        ["notice", "--round", "第四巡察组", "--unit", "松园社区党委", "--published-on", "2026-02-30"],
        2,
        "--published-on: '2026-02-30' is not a date",
    ),
    "a file that cannot be written": (
        ["notice", "--round", "第四巡察组", "--unit", "松园社区党委", "--output", "no/such/folder/n.md"],
        2,
        "cannot write no/such/folder/n.md: No such file or directory",
    ),
    "a PDF to the terminal": (
        ["notice", "--round", "第四巡察组", "--unit", "松园社区党委", "--format", "pdf"],
        2,
        "a PDF goes to a file",
    ),
    "a missing option": (["findings"], 2, "the following arguments are required: --round (see `rectify findings"),
    "a database file that is not there": (
        ["--database-url", "sqlite:///absent.db", "units"],
        2,
        "no database at absent.db",
    ),
    "a file that is not a database": (
        ["--database-url", "sqlite:///notes.txt", "units"],
        1,
        "notes.txt: file is not a database",
    ),
    "a server that is not there": (
        ["--database-url", "postgresql://postgres:secret@127.0.0.1:{port}/rectify", "events"],
        1,
        "cannot use the database postgresql://postgres:***@127.0.0.1:{port}/rectify: Connection refused",
    ),
    "a database URL of another kind": (
        ["--database-url", "mysql://x/y", "events"],
        2,
        "RECTIFY_DATABASE_URL: unsupported scheme 'mysql'",
    ),
    "a token id that is not one": (["token", "revoke", "12345", "--reason", "离岗"], 2, "token_id"),
    "a store that already holds events": (["load-example", "songyuan"], 2, "the store already holds"),
}


@pytest.mark.parametrize("case", FAILURES)
def test_every_failure_is_one_line_and_a_non_zero_exit(example: tuple[Path, str], case: str, cli: Run) -> None:
    folder, _ = example
    (folder / "notes.txt").write_text("not a database\n" * 100, encoding="utf-8")
    args, expected_code, message = FAILURES[case]
    port = str(closed_port())
    failed = cli(*(a.replace("{port}", port) for a in args), cwd=folder)
    assert failed.returncode == expected_code, failed
    assert message.replace("{port}", port) in one_line(failed.stderr)
    assert "secret" not in failed.stderr


def test_a_failure_in_a_real_process_is_one_line_too(tmp_path: Path) -> None:
    failed = rectify(
        "--database-url", f"postgresql://postgres@127.0.0.1:{closed_port()}/rectify", "units", cwd=tmp_path
    )
    assert failed.returncode == 1
    assert "Connection refused" in one_line(failed.stderr)


def test_a_demo_on_a_port_already_taken_says_so_and_leaves_the_other_demo_alone(tmp_path: Path) -> None:
    (tmp_path / "rectify-demo.db").write_bytes(b"the other demo's")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = rectify("demo", "--port", port, cwd=tmp_path)
    assert busy.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in one_line(busy.stderr)
    assert (tmp_path / "rectify-demo.db").read_bytes() == b"the other demo's"


def test_serve_settles_its_heap_once_the_system_is_open_before_the_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from starlette.testclient import TestClient

    from rectify import heap

    seen: list[str] = []
    monkeypatch.setattr(heap, "settle", lambda: seen.append("settled"))

    def run(app: Any, **_: Any) -> None:  # uvicorn's part: start the app, answer one request, stop
        with TestClient(app) as client:
            seen.append(f"health {client.get('/health').status_code}")

    monkeypatch.setattr(uvicorn, "run", run)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["--database-url", f"sqlite:///{tmp_path / 'rectify.db'}", "serve", "--port", str(port)]) == 0
    assert seen == ["settled", "health 200"]
