"""The 台账 through the `rectify` command, run as an office runs it: a 700-finding ledger on each store, generated,
read and edited once for the module; the dry run and the tokens on a small sheet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sheets_world import OFFICE, ROWS, ledger_world_at, write_sheet

from ledger_edits import GeneratedLedger, generate_ledger, statuses_and_money
from rectify import settings
from rectify.bootstrap import open_system
from rectify.examples import ledger_sheet
from rectify.projections.progress import Scope


def rectify(*args: Any, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "RECTIFY_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "rectify.cli", *map(str, args)],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def head(database_url: str) -> int:
    """The log's head, read in this process: the commands under test are the ones that write."""
    system = open_system(settings.load({}, database_url=database_url), run_projector=False)
    try:
        return system.app.head()
    finally:
        system.close()


@pytest.fixture(scope="module")
def generated_ledger(tmp_path_factory: pytest.TempPathFactory) -> GeneratedLedger:
    return generate_ledger(tmp_path_factory.mktemp("台账"), 700)


@pytest.mark.slow
def test_a_700_finding_ledger_imports_through_the_command_and_a_changed_copy_appends_only_its_changes(
    database_url: str, generated_ledger: GeneratedLedger, tmp_path: Path
) -> None:
    system = open_system(settings.load({}, database_url=database_url), run_projector=False)
    try:
        round_ = ledger_sheet.open_round(system.app, OFFICE)
        path, rows = generated_ledger.path, generated_ledger.rows
        assert len(rows) == 700
        start = system.app.head()

        done = rectify("import-ledger", path, "--round", round_.round_id, database_url=database_url, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        appended = int(re.search(r"(\d+) events appended", done.stdout).group(1))  # type: ignore[union-attr]
        assert appended > 4000 and system.app.head() - start == appended

        # the figures equal the counts worked out from the sheet itself
        system.projector.catch_up()
        figures = system.read.progress(Scope(round_id=round_.round_id), OFFICE)
        statuses, involved, rectified = statuses_and_money(rows)
        assert set(statuses) == {"未启动", "整改中", "部分整改", "已完成", "长期坚持", "已验收", "已销号"}
        assert figures.total == 700
        assert figures.completed == statuses["已验收"] + statuses["已销号"]
        assert figures.long_term == statuses["长期坚持"] and figures.partly == statuses["部分整改"]
        assert figures.in_progress == statuses["整改中"] + statuses["已完成"]
        assert figures.not_started == statuses["未启动"]
        assert figures.in_wan.involved == involved
        assert figures.in_wan.rectified == rectified
        assert figures.amount_involved == figures.in_wan.involved * 10_000  # 元, to the cent

        # the same sheet again appends nothing
        again = rectify("import-ledger", path, "--round", round_.round_id, database_url=database_url, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "0 events appended; 700 of 700 rows unchanged" in again.stdout
        assert system.app.head() - start == appended

        # an edited copy with 5 changed rows appends exactly their changes
        edited, expected = generated_ledger.edited, generated_ledger.expected
        before = system.app.head()
        changed = rectify("import-ledger", edited, "--round", round_.round_id, database_url=database_url, cwd=tmp_path)
        assert changed.returncode == 0, changed.stderr
        assert f"{sum(expected.values())} events appended" in changed.stdout
        assert "695 of 700 rows unchanged" in changed.stdout
        log = rectify("events", "--json", "--after", before, database_url=database_url, cwd=tmp_path)
        changes = [json.loads(line) for line in log.stdout.splitlines()]
        assert Counter(e["type"] for e in changes) == expected
        assert {e["actor"].split(":")[0] for e in changes} == {"system"}
        assert all(e["actor"].startswith("system:cli-") for e in changes)
        assert {e["business_date"] for e in changes if e["type"] == "Finding.Closed"} == {"2026-01-20"}

        # and the ledger comes out again, with the same figures
        out = tmp_path / "导出.xlsx"
        exported = rectify("export-ledger", out, "--round", round_.round_id, database_url=database_url, cwd=tmp_path)
        assert exported.returncode == 0, exported.stderr
        assert "700 findings" in exported.stdout
        statistics = {r[0]: r[1] for r in load_workbook(out)["统计"].iter_rows(min_row=3, values_only=True) if r[0]}
        assert statistics["问题总数"] == 700
        assert Decimal(str(statistics["涉及金额（万元）"])) == figures.in_wan.involved
    finally:
        system.close()


def test_a_bad_sheet_through_the_command_names_its_row_and_column_and_imports_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    system = open_system(settings.load({}, database_url=url), run_projector=False)
    try:
        round_ = ledger_sheet.open_round(system.app, OFFICE, units=2)
        start = system.app.head()
    finally:
        system.close()
    row = [
        "1",
        ledger_sheet.unit_name(1),
        "一、党的建设方面",
        None,
        "问题",
        None,
        None,
        None,
        None,
        None,
        None,
        "搞定了",
    ]
    headers = ["编号", "被巡察单位", "问题类别（方面）", "问题标题", "具体问题", "整改措施", "责任领导", "责任部门",
               "责任人", "完成时限", "整改进展", "整改状态", "完成日期", "涉及金额（万元）", "已整改金额（万元）",
               "是否公开", "备注"]  # fmt: skip
    bad = write_sheet(tmp_path / "bad.xlsx", [row], headers)
    refused = rectify("import-ledger", bad, "--round", round_.round_id, database_url=url, cwd=tmp_path)
    assert refused.returncode == 2
    assert "台账 row 3, column L 整改状态: '搞定了' is not a status" in refused.stderr
    assert "nothing was imported (1 problem)" in refused.stderr
    assert head(url) == start

    renamed = tmp_path / "data.xlsx"
    renamed.write_text("编号,具体问题\n1,问题\n", encoding="utf-8")
    csv = rectify("import-ledger", renamed, "--round", round_.round_id, database_url=url, cwd=tmp_path)
    assert csv.returncode == 2 and "plain text (a CSV?)" in csv.stderr


def test_the_template_command_writes_the_columns_to_fill_in(tmp_path: Path) -> None:
    made = rectify("ledger-template", "模板.xlsx", database_url=f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    header = [c.value for c in load_workbook(tmp_path / "模板.xlsx")["台账"][2]]
    assert header[:3] == ["编号", "被巡察单位", "问题类别（方面）"] and "整改状态" in header and "备注" in header
    assert date.today() > date(2025, 1, 1)  # the sample ledger's dates lie in the past


def test_the_commands_dry_run_and_import_as_a_tokens_holder_and_export_as_the_public_and_as_of_a_past_position(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    with ledger_world_at(url) as world:
        unit_secret = world.app.issue_token(
            OFFICE, role="UNIT", label="甲社区-台账员", unit_id=world.unit_ids["甲社区党委"]
        ).secret
        round_id, start = world.round_id, world.app.head()
    sheet = write_sheet(tmp_path / "台账.xlsx")
    as_unit = rectify(
        "import-ledger", sheet, "--round", round_id, "--token", unit_secret, database_url=url, cwd=tmp_path
    )
    assert as_unit.returncode == 2 and "a unit raises no findings" in as_unit.stderr
    assert head(url) == start

    dry = rectify("import-ledger", sheet, "--round", round_id, "--dry-run", database_url=url, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    planned = int(re.search(r"dry run: (\d+) events would be appended", dry.stdout).group(1))  # type: ignore[union-attr]
    assert "row 3 (1): Round.CategoryDefined, Finding.Raised, " in dry.stdout
    assert head(url) == start  # the dry run appended nothing

    done = rectify("import-ledger", sheet, "--round", round_id, database_url=url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{planned} events appended" in done.stdout
    imported_at = head(url)
    assert imported_at - start == planned
    rows = [list(r) for r in ROWS]
    rows[3][11], rows[3][12] = "已完成", date(2026, 2, 1)
    later = write_sheet(tmp_path / "台账2.xlsx", rows)
    assert rectify("import-ledger", later, "--round", round_id, database_url=url, cwd=tmp_path).returncode == 0

    public = rectify("export-ledger", "公开.xlsx", "--round", round_id, "--public", database_url=url, cwd=tmp_path)
    assert public.returncode == 0, public.stderr
    assert "4 findings" in public.stdout
    shown = [r for r in load_workbook(tmp_path / "公开.xlsx")["台账"].iter_rows(min_row=4, values_only=True)]
    assert sorted(r[0] for r in shown if isinstance(r[0], int)) == [1, 2, 4, 5]
    past = rectify(
        "export-ledger", "当时.xlsx", "--round", round_id, "--as-of", imported_at, database_url=url, cwd=tmp_path
    )
    assert past.returncode == 0, past.stderr
    assert f"as of position {imported_at}" in past.stdout
    then = {r[0]: r[11] for r in load_workbook(tmp_path / "当时.xlsx")["台账"].iter_rows(min_row=4, values_only=True)}
    assert then[4] == "部分整改"
