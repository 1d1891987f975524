"""`rectify evidence`, `rectify rules` and `rectify relapse-checks` as a user runs them (main() in this process)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evidence_files import WEB_PAGE, photo
from rectify.cli import main

ROUND = "第四巡察组"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.delenv("RECTIFY_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["load-example", "songyuan"]) == 0
    capsys.readouterr()
    return tmp_path / "rectify.db"


def test_a_photo_is_attached_listed_fetched_back_byte_for_byte_and_checked(database, tmp_path, capsys) -> None:
    data = photo(800, 600)
    (tmp_path / "大扫除.jpg").write_bytes(data)
    assert main(["evidence", "attach", "大扫除.jpg", "--finding", "一-3", "--round", ROUND, "--to", "measure:1"]) == 0
    attached = capsys.readouterr().out
    assert "image/jpeg" in attached and f"{len(data)} bytes" in attached
    attachment = re.search(r"as ([0-9a-f-]{36})", attached).group(1)
    assert main(["evidence", "list", "--round", ROUND]) == 0
    assert attachment in capsys.readouterr().out
    assert main(["evidence", "get", attachment[:8], "--finding", "一-3", "--round", ROUND, "--output", "back.jpg"]) == 0
    assert (tmp_path / "back.jpg").read_bytes() == data
    capsys.readouterr()
    assert main(["evidence", "check"]) == 0
    assert "1 files stored, 1 attached: OK" in capsys.readouterr().out


def test_a_web_page_named_jpg_is_refused_in_one_line(database, tmp_path, capsys) -> None:
    (tmp_path / "现场.jpg").write_bytes(WEB_PAGE)
    assert main(["evidence", "attach", "现场.jpg", "--finding", "一-3", "--round", ROUND, "--to", "report"]) == 2
    assert capsys.readouterr().err.startswith("rectify: file: 现场.jpg is not evidence rectify keeps")


def test_rules_and_relapse_checks_are_listed(database, capsys) -> None:
    assert main(["rules", "--round", ROUND, "--until", "2026-03-12"]) == 0
    printed = capsys.readouterr().out
    assert "要求辖区物业企业每半年至少开展一次消防演练" in printed
    assert re.search(r"2025年上半年 .* 1/1  达标", printed) and re.search(r"2026年上半年 .* 0/1  进行中", printed)
    assert main(["relapse-checks", "--round", ROUND, "--all"]) == 0
    assert "强化公章使用管理" in capsys.readouterr().out
