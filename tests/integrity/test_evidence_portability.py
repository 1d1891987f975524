"""Evidence files travel with the log: export, import and migrate carry them, each checked against its hash."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from integrity_scenario import SYSTEM, Scenario, rectify

from evidence_files import pdf, photo
from rectify import eventlog, settings
from rectify.bootstrap import open_application
from rectify.evidence.store import open_file_store


def attach_two(url: str, scenario: Scenario) -> dict[str, bytes]:
    """A photo and a PDF attached to the reference scenario; returns the files by their hash."""
    app = open_application(settings.load({}, database_url=url))
    try:
        raised = [r.aggregate_id for r in eventlog.read(app.recorder, app.mapper) if r.type == "Finding.Raised"]
        finding = app.finding(raised[0])
        files = {}
        for name, data in (("现场.jpg", photo(900, 600)), ("验收单.pdf", pdf(padding=600_000))):
            app.attach_evidence(
                SYSTEM, finding_id=finding.id, stream=io.BytesIO(data), file_name=name, target="MEASURE",
                target_ref=finding.measures[0].measure_id,
            )  # fmt: skip
            files[hashlib.sha256(data).hexdigest()] = data
        return files
    finally:
        app.close()


def stored_files(url: str) -> dict[str, bytes]:
    files = open_file_store(settings.parse_database_url(url))
    try:
        return {sha: files.read(sha) for sha in files.stored()}
    finally:
        files.close()


def test_export_and_import_carry_every_evidence_file_byte_for_byte(scenario: Scenario, tmp_path: Path) -> None:
    files = attach_two(scenario.url, scenario)
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    assert rectify("--database-url", scenario.url, "export", str(tmp_path / "copy.rectify")) == 0
    assert rectify("--database-url", target, "import", str(tmp_path / "copy.rectify")) == 0
    assert rectify("--database-url", target, "verify") == 0
    assert stored_files(target) == files


@pytest.mark.postgres
def test_migrate_carries_the_evidence_files_to_postgresql(scenario: Scenario, postgres_schemas: Any) -> None:
    files = attach_two(scenario.url, scenario)
    with postgres_schemas() as target:
        assert rectify("--database-url", scenario.url, "migrate", "--to", target) == 0
        assert stored_files(target) == files


def test_a_copy_whose_file_was_edited_is_refused_and_nothing_is_loaded(
    scenario: Scenario, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    attach_two(scenario.url, scenario)
    exported = tmp_path / "copy.rectify"
    assert rectify("--database-url", scenario.url, "export", str(exported)) == 0
    lines = gzip.decompress(exported.read_bytes()).decode().splitlines()
    chunk = next(i for i, line in enumerate(lines) if line.startswith('{"k":"chunk"'))
    record = json.loads(lines[chunk])
    record["d"] = record["d"][:-8] + ("AAAAAAA=" if not record["d"].endswith("AAAAAAA=") else "BBBBBBA=")
    lines[chunk] = json.dumps(record)
    edited = tmp_path / "edited.rectify"
    edited.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    target = tmp_path / "restored.db"
    capsys.readouterr()
    code = rectify("--database-url", f"sqlite:///{target}", "import", str(edited))
    assert code != 0
    assert "does not hash to its name" in capsys.readouterr().err
    assert stored_files(f"sqlite:///{target}") == {}
