"""Evidence (佐证材料) through the application on both stores: stored once per hash, checked, needed to close."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest

from evidence_files import WEB_PAGE, pdf, photo, png
from rectify.access import Actor, Role
from rectify.application import RectifyApplication
from rectify.domain import IllegalTransition, InvalidInput, NotFound
from rectify.domain.values import EvidenceTarget, FindingStatus
from rectify.examples import songyuan
from scenario import SYSTEM

CLEAN_UPS = "人居环境品质有效提升"
SEALS = "强化公章使用管理"  # reported, verified and closed in the reference course


@pytest.fixture
def reference(loaded: songyuan.Loaded) -> songyuan.Loaded:
    """The reference scenario in the store `app` opens (copied in before it opened)."""
    return loaded


def attach(app: RectifyApplication, finding_id: Any, data: bytes, name: str, **extra: Any) -> Any:
    finding = app.finding(finding_id)
    fields = {"target": "MEASURE", **extra}
    if fields["target"] == "MEASURE":
        fields.setdefault("target_ref", finding.measures[0].measure_id)
    return app.attach_evidence(SYSTEM, finding_id=finding_id, stream=io.BytesIO(data), file_name=name, **fields)


def stored_rows(app: RectifyApplication) -> tuple[int, int]:
    """(files, chunks) in the store's own tables."""
    assert app.files is not None
    app.files.setup()
    with app.files._reading() as cursor:
        cursor.execute("SELECT COUNT(*) FROM rectify_files")
        files = int(cursor.fetchone()[0])
        cursor.execute("SELECT COUNT(*) FROM rectify_file_chunks")
        return files, int(cursor.fetchone()[0])


def test_the_same_bytes_attached_twice_are_stored_once_and_named_by_their_hash(app, reference) -> None:
    finding_id = reference.finding_ids[CLEAN_UPS]
    data = photo(2000, 1500)
    first = attach(app, finding_id, data, "大扫除现场.jpg")
    second = attach(app, finding_id, data, "同一张照片.jpeg", target_ref=app.finding(finding_id).measures[1].measure_id)
    assert first.entity_id != second.entity_id
    evidence = app.finding(finding_id).evidence
    assert {e.sha256 for e in evidence} == {hashlib.sha256(data).hexdigest()}
    assert [e.file_name for e in evidence] == ["大扫除现场.jpg", "同一张照片.jpeg"]
    assert evidence[0].media_type == "image/jpeg" and evidence[0].size == len(data)
    files, chunks = stored_rows(app)
    assert files == 1 and chunks == -(-len(data) // (256 * 1024))
    assert b"".join(app.files.chunks(evidence[0].sha256)) == data


def test_a_file_over_the_size_limit_is_refused_and_nothing_is_stored_or_appended(app, reference) -> None:
    assert app.files is not None
    app.files.max_bytes = 300 * 1024
    head = app.head()
    with pytest.raises(InvalidInput) as refused:
        attach(app, reference.finding_ids[CLEAN_UPS], pdf(padding=400 * 1024), "台账.pdf")
    assert refused.value.field == "file" and "limit of 307200 bytes" in refused.value.reason
    assert stored_rows(app) == (0, 0)
    assert app.head() == head


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (WEB_PAGE, "现场照片.jpg", "not evidence"),
        (png(), "整改报告.pdf", "the name says .pdf, but the content is a PNG image"),
        (b"MZ" + b"\0" * 4000, "会议记录.docx", "not evidence"),
        (b"", "空.pdf", "is empty"),
    ],
)
def test_a_type_is_sniffed_from_the_content_and_a_false_extension_is_refused(app, reference, data, name, says) -> None:
    head = app.head()
    with pytest.raises(InvalidInput) as refused:
        attach(app, reference.finding_ids[CLEAN_UPS], data, name)
    assert refused.value.field == "file" and says in refused.value.reason
    assert stored_rows(app) == (0, 0)
    assert app.head() == head


def test_a_name_without_an_extension_is_taken_and_typed_by_its_content(app, reference) -> None:
    attach(app, reference.finding_ids[CLEAN_UPS], pdf(), "验收意见")
    assert app.finding(reference.finding_ids[CLEAN_UPS]).evidence[0].media_type == "application/pdf"


def test_evidence_names_a_step_that_exists_and_the_latest_report_by_default(app, reference) -> None:
    finding_id = reference.finding_ids[SEALS]
    with pytest.raises(InvalidInput, match="no verification 3"):
        attach(app, finding_id, pdf(), "验收.pdf", target="VERIFICATION", target_ref=3)
    with pytest.raises(NotFound):
        attach(app, finding_id, pdf(), "措施.pdf", target="MEASURE", target_ref="00000000-0000-4000-8000-000000000000")
    app.attach_evidence(
        SYSTEM, finding_id=finding_id, stream=io.BytesIO(pdf()), file_name="销号单.pdf", target=EvidenceTarget.CLOSE_OUT
    )
    assert [(e.target, e.target_ref) for e in app.finding(finding_id).evidence] == [(EvidenceTarget.CLOSE_OUT, "1")]
    assert stored_rows(app)[0] == 1


def test_a_unit_attaches_to_its_own_findings_only_and_a_refusal_stores_nothing(app, reference) -> None:
    other = app.register_unit(SYSTEM, name="其他社区党委").entity_id
    stranger = Actor("其他社区", Role.UNIT, other)
    with pytest.raises(NotFound):
        app.attach_evidence(
            stranger, finding_id=reference.finding_ids[CLEAN_UPS], stream=io.BytesIO(pdf()), file_name="a.pdf",
            target="REPORT",
        )  # fmt: skip
    assert stored_rows(app) == (0, 0)


def test_a_withdrawn_attachment_stays_in_the_record_marked_and_cannot_be_withdrawn_twice(app, reference) -> None:
    finding_id = reference.finding_ids[CLEAN_UPS]
    attachment_id = attach(app, finding_id, pdf(), "错传.pdf").entity_id
    app.withdraw_evidence(SYSTEM, finding_id=finding_id, attachment_id=attachment_id, reason="传错了文件")
    (kept,) = app.finding(finding_id).evidence
    assert kept.withdrawn and kept.withdrawal_reason == "传错了文件"
    with pytest.raises(IllegalTransition, match="already withdrawn"):
        app.withdraw_evidence(SYSTEM, finding_id=finding_id, attachment_id=attachment_id, reason="again")


def test_a_round_that_requires_evidence_refuses_a_close_out_without_it_naming_the_rule(app, reference) -> None:
    finding_id = reference.finding_ids["严格把关服务对象"]  # reported, not yet verified
    app.record_verification(
        songyuan.INSPECTOR, finding_id=finding_id, passed=True, verified_by="区委巡察办", occurred_on="2026-01-10"
    )
    app.set_close_out_evidence_rule(songyuan.INSPECTOR, round_id=reference.round_id, required=True)
    head = app.head()
    with pytest.raises(IllegalTransition) as refused:
        app.close_finding(songyuan.INSPECTOR, finding_id=finding_id, occurred_on="2026-01-15")
    assert "销号需佐证" in refused.value.message
    assert app.head() == head
    attach(app, finding_id, photo(), "验收现场.jpg", target="VERIFICATION")
    app.close_finding(songyuan.INSPECTOR, finding_id=finding_id, occurred_on="2026-01-15")
    assert app.finding(finding_id).status is FindingStatus.CLOSED
