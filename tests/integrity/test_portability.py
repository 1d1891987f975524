"""Export, import and migrate between an SQLite file and PostgreSQL schemas: positions kept exactly (gaps
included), the chain verified on the way in, published notices rebuilt byte-identical, nothing loaded from
a copy that does not verify or into a store that is not empty."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from integrity_scenario import PUBLISHED_ON, SYSTEM, RawLog, Scenario, load_scenario, rectify

from rectify import settings
from rectify.bootstrap import open_application, open_system
from rectify.domain import Unit


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = rectify(*args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def notices_rebuild_byte_identical(url: str, scenario: Scenario) -> None:
    system = open_system(settings.load({}, database_url=url), run_projector=False, today=lambda: PUBLISHED_ON)
    try:
        system.projector.catch_up()
        for notice_id in scenario.notices:
            check = system.notices.rebuild(notice_id)
            assert check.ok, f"notice {notice_id} rebuilt with another digest"
    finally:
        system.close()


def positions(url: str) -> list[tuple[int, bytes, int, str, bytes]]:
    return [tuple(e) for e in RawLog(url).events()]


def move(capsys: pytest.CaptureFixture[str], source: str, target: str, file: Path) -> str:
    code, out, err = run(capsys, "--database-url", source, "export", str(file))
    assert code == 0, err
    code, out, err = run(capsys, "--database-url", target, "import", str(file))
    assert code == 0, err
    code, verified, err = run(capsys, "--database-url", target, "verify")
    assert code == 0, err
    return out + verified


def make_gaps(url: str) -> list[int]:
    """Burns positions the way PostgreSQL does: a conflicting save, and sequence values taken and lost."""
    app = open_application(settings.load({}, database_url=url))
    try:
        unit_id = next(e.aggregate for e in RawLog(url).events() if e.type == "Unit.Registered")
        first, second = app.repository.get(unit_id), app.repository.get(unit_id)
        assert isinstance(first, Unit) and isinstance(second, Unit)
        first.change_contact(first.contact, actor=str(SYSTEM))
        second.change_contact(second.contact, actor=str(SYSTEM))
        app.save(first)
        with pytest.raises(IntegrityError):
            app.save(second)  # its position is taken, then lost with the rollback
        RawLog(url).execute(
            "SELECT nextval(pg_get_serial_sequence('rectify_events', 'notification_id')) FROM generate_series(1, 5)"
        )
        third = app.repository.get(unit_id)
        third.change_contact(third.contact, actor=str(SYSTEM))
        app.save(third)
    finally:
        app.close()
    found = [e[0] for e in positions(url)]
    return sorted(set(range(1, found[-1] + 1)) - set(found))


@pytest.mark.postgres
def test_sqlite_to_postgresql_and_back_keeps_every_position_and_notice(
    capsys: pytest.CaptureFixture[str], signing_env: Path, store_urls: dict[str, Any], tmp_path: Path
) -> None:
    scenario = load_scenario(store_urls["sqlite"]("source"), signing_env)
    postgres = store_urls["postgres"]()
    out = move(capsys, scenario.url, postgres, tmp_path / "backup.rectify")
    assert "the chain verified" in out and "signatures good" in out and "OK: the log is as it was sealed" in out
    assert positions(postgres) == positions(scenario.url)
    notices_rebuild_byte_identical(postgres, scenario)

    back = store_urls["sqlite"]("back")
    move(capsys, postgres, back, tmp_path / "again.rectify")
    assert positions(back) == positions(scenario.url)
    notices_rebuild_byte_identical(back, scenario)


@pytest.mark.postgres
def test_postgresql_with_gaps_moves_to_postgresql_and_sqlite_with_the_same_gaps(
    capsys: pytest.CaptureFixture[str], signing_env: Path, store_urls: dict[str, Any], tmp_path: Path
) -> None:
    scenario = load_scenario(store_urls["postgres"](), signing_env)
    gaps = make_gaps(scenario.url)
    assert len(gaps) >= 6
    run(capsys, "--database-url", scenario.url, "seal")
    for target in (store_urls["postgres"](), store_urls["sqlite"]("from-gaps")):
        move(capsys, scenario.url, target, tmp_path / f"{len(target)}.rectify")
        assert positions(target) == positions(scenario.url)
        notices_rebuild_byte_identical(target, scenario)
        head = positions(target)[-1][0]
        app = open_application(settings.load({}, database_url=target))
        try:  # the next append takes the position after the last one, not one inside a gap
            assert app.register_unit(SYSTEM, **_unit()).position == head + 1
        finally:
            app.close()
        assert run(capsys, "--database-url", target, "verify")[0] == 0


def _unit() -> dict[str, str]:
    from rectify.examples.songyuan import UNIT

    return dict(UNIT)


def test_import_refuses_a_store_that_is_not_empty(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, tmp_path: Path
) -> None:
    file = tmp_path / "backup.rectify"
    assert run(capsys, "--database-url", scenario.url, "export", str(file))[0] == 0
    before = positions(scenario.url)
    code, _, err = run(capsys, "--database-url", scenario.url, "import", str(file))
    assert code == 2
    assert err.startswith("rectify: import: the target store is not empty") and err.count("\n") == 1
    assert positions(scenario.url) == before


def edit_file(source: Path, target: Path, edit: Any) -> None:
    lines = gzip.decompress(source.read_bytes()).decode().splitlines(keepends=True)
    with gzip.open(target, "wt") as out:
        out.write("".join(edit(lines)))


def test_a_copy_edited_in_the_file_is_refused_and_nothing_is_loaded(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, tmp_path: Path, store_urls: dict[str, Any]
) -> None:
    file, edited = tmp_path / "backup.rectify", tmp_path / "edited.rectify"
    assert run(capsys, "--database-url", scenario.url, "export", str(file))[0] == 0

    def change_an_activity(lines: list[str]) -> list[str]:
        for i, line in enumerate(lines):
            record = json.loads(line)
            if record.get("t", "").endswith("ActivityRecorded"):
                state = record["s"]
                import base64

                raw = base64.b64decode(state).replace(b'"count":1', b'"count":7', 1)
                record["s"] = base64.b64encode(raw).decode()
                lines[i] = json.dumps(record) + "\n"
                return lines
        raise AssertionError("no activity in the copy")

    edit_file(file, edited, change_an_activity)
    target = store_urls["sqlite"]("restore")
    code, _, err = run(capsys, "--database-url", target, "import", str(edited))
    assert code == 1
    assert err.startswith("rectify: import: nothing imported: position ") and "does not match its leaf hash" in err
    assert RawLog(target).events() == []


def test_a_copy_cut_short_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, tmp_path: Path, store_urls: dict[str, Any]
) -> None:
    file, short = tmp_path / "backup.rectify", tmp_path / "short.rectify"
    assert run(capsys, "--database-url", scenario.url, "export", str(file))[0] == 0
    edit_file(file, short, lambda lines: lines[:-10])
    target = store_urls["sqlite"]("short")
    code, _, err = run(capsys, "--database-url", target, "import", str(short))
    assert code == 2
    assert err == f"rectify: import: {short} ends without its trailer: the copy was cut short\n"
    assert RawLog(target).events() == []
    (tmp_path / "garbage.rectify").write_bytes(b"\x1f\x8b\x08garbage")
    code, _, err = run(capsys, "--database-url", target, "import", str(tmp_path / "garbage.rectify"))
    assert code == 2 and err.startswith("rectify: import: ") and err.count("\n") == 1


@pytest.mark.postgres
def test_migrate_moves_a_store_to_postgresql_and_back(
    capsys: pytest.CaptureFixture[str], signing_env: Path, store_urls: dict[str, Any]
) -> None:
    scenario = load_scenario(store_urls["sqlite"]("source"), signing_env)
    postgres = store_urls["postgres"]()
    code, out, err = run(capsys, "--database-url", scenario.url, "migrate", "--to", postgres)
    assert code == 0, err
    assert "views rebuilt" in out and "the source is left as it was" in out
    back = store_urls["sqlite"]("back")
    assert run(capsys, "--database-url", postgres, "migrate", "--to", back)[0] == 0
    assert positions(back) == positions(postgres) == positions(scenario.url)
    notices_rebuild_byte_identical(back, scenario)
    code, _, err = run(capsys, "--database-url", back, "migrate", "--to", back)
    assert code == 2 and "the target is the store itself" in err


def test_an_export_taken_while_the_server_appends_is_consistent_as_of_one_position(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, tmp_path: Path, store_urls: dict[str, Any]
) -> None:
    config = settings.load({}, database_url=scenario.url)
    system = open_system(config, run_projector=True, today=lambda: PUBLISHED_ON)  # seals as it goes
    stop = threading.Event()
    unit_id = next(e.aggregate for e in RawLog(scenario.url).events() if e.type == "Unit.Registered")

    def keep_appending() -> None:
        while not stop.is_set():
            unit = system.app.repository.get(unit_id)
            unit.change_contact(unit.contact, actor=str(SYSTEM))
            system.app.save(unit)
            time.sleep(0.005)

    writer = threading.Thread(target=keep_appending)
    writer.start()
    try:
        time.sleep(0.3)
        file = tmp_path / "live.rectify"
        code, out, err = run(capsys, "--database-url", scenario.url, "export", str(file))
        assert code == 0, err
        time.sleep(0.3)
    finally:
        stop.set()
        writer.join(10)
        system.close()
    header = json.loads(gzip.open(file).readline())
    target = store_urls["sqlite"]("live-restore")
    assert run(capsys, "--database-url", target, "import", str(file))[0] == 0
    copied = positions(target)
    assert copied[-1][0] == header["position"] < positions(scenario.url)[-1][0]  # the server went on
    assert copied == positions(scenario.url)[: len(copied)]
    assert run(capsys, "--database-url", target, "verify")[0] == 0
