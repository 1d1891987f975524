"""Publishing notices: the hash, rebuilding after corrections, editions, template versions, PDF, CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import System
from rectify.cli import main
from rectify.domain import Forbidden, IllegalTransition, InvalidInput
from rectify.domain.values import Edition
from rectify.examples import songyuan
from rectify.notice import render
from scenario import SYSTEM
from system_packages import require_system_packages

PUBLISHED_ON = date(2026, 3, 12)
INTERNAL_HEADING = "规范工程项目资金管理"


def publish(system: System, loaded: songyuan.Loaded, edition: Edition = Edition.PUBLIC, **extra: object) -> object:
    receipt = system.app.publish_notice(
        SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, edition=edition, published_on=PUBLISHED_ON, **extra
    )
    system.projector.catch_up()
    return receipt


def test_a_publication_records_position_edition_window_digest_and_template(
    system: System, loaded: songyuan.Loaded
) -> None:
    head = system.app.head()
    receipt = publish(system, loaded, window_days=20)
    round_, publication = system.notices.find(receipt.entity_id)  # type: ignore[attr-defined]
    assert publication.position == head
    assert publication.edition is Edition.PUBLIC
    assert (publication.published_on, publication.window_until) == (PUBLISHED_ON, date(2026, 4, 1))
    assert publication.template_version == render.CURRENT_VERSION
    check = system.notices.rebuild(publication.notice_id)
    assert publication.sha256 == hashlib.sha256(check.rendered.markdown.encode()).hexdigest()
    assert "公开期限：2026年3月12日至4月1日" in check.rendered.markdown


def test_corrections_after_publication_leave_the_published_notice_byte_identical(
    system: System, loaded: songyuan.Loaded
) -> None:
    receipt = publish(system, loaded)
    published = system.notices.rebuild(receipt.entity_id).rendered.markdown  # type: ignore[attr-defined]
    assert "累计开展 22 次" in published

    # Corrections: a clean-up recorded twice is retracted, a training is added, the phone number
    # changes, and the narrative is redrafted.
    unit = Actor("松园社区党委（示例）", Role.UNIT, loaded.unit_id)
    finding = system.app.finding(loaded.finding_ids["人居环境品质有效提升"])
    first_clean_up = next(a for a in finding.activities if a.kind == "大扫除")
    system.app.retract_activity(unit, finding_id=finding.id, activity_id=first_clean_up.activity_id, reason="重复登记")
    system.app.record_activity(unit, finding_id=finding.id, kind="培训", occurred_on="2025-12-01", count=1)
    system.app.change_unit_contact(
        SYSTEM,
        unit_id=loaded.unit_id,
        address="宝安南路 3029 号国速荟二楼 215-216",
        phone="25460000",
        area_code="0755",
        postcode="518000",
        email="lh_gyb@szlh.gov.cn",
        postal_address="深圳市罗湖区宝安南路国速荟 215-216 号",
    )
    system.app.draft_narrative(
        unit,
        round_id=loaded.round_id,
        unit_id=loaded.unit_id,
        section="NEXT_STEPS",
        intro="松园社区党委将持续巩固整改成果。",
        items=[("巩固成果。", "常态化开展回头看。")],
    )
    system.projector.catch_up()

    check = system.notices.rebuild(receipt.entity_id)  # type: ignore[attr-defined]
    assert check.rendered.markdown.encode() == published.encode()
    assert check.ok
    fresh = system.notices.draft(loaded.round_id, loaded.unit_id, Edition.PUBLIC, system.app.head(), PUBLISHED_ON, 30)
    assert "累计开展 21 次" in fresh.markdown
    assert "培训要求 6 次" in fresh.markdown
    assert "0755-25460000" in fresh.markdown and "0755-25469657" in published
    assert "松园社区党委将持续巩固整改成果。" in fresh.markdown
    assert fresh.sha256 != check.publication.sha256


def test_the_public_edition_omits_internal_findings_and_the_internal_edition_includes_them(
    system: System, loaded: songyuan.Loaded
) -> None:
    public = system.notices.rebuild(publish(system, loaded).entity_id).rendered  # type: ignore[attr-defined]
    internal = system.notices.rebuild(publish(system, loaded, Edition.INTERNAL).entity_id).rendered  # type: ignore[attr-defined]
    assert INTERNAL_HEADING not in public.markdown and INTERNAL_HEADING not in public.html()
    assert "督促施工单位清退多付资金" not in public.markdown
    assert f"#### 6. {INTERNAL_HEADING}" in internal.markdown
    assert "（党内通报）" in internal.markdown and "（党内通报）" not in public.markdown


def test_a_unit_publishes_only_its_own_notice_and_only_once_its_narratives_exist(
    system: System, loaded: songyuan.Loaded
) -> None:
    other = Actor(
        "其他社区",
        Role.UNIT,
        system.app.register_unit(
            SYSTEM, name="其他社区党委", short_name="其他", address="a", phone="1", postcode="518000"
        ).entity_id,
    )
    head = system.app.head()
    with pytest.raises(Forbidden):
        system.app.publish_notice(other, round_id=loaded.round_id, unit_id=loaded.unit_id)
    with pytest.raises(Forbidden):
        system.app.publish_notice(Actor("anyone", Role.PUBLIC), round_id=loaded.round_id, unit_id=loaded.unit_id)
    with pytest.raises(InvalidInput) as refused:
        system.app.publish_notice(SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, position=head + 5)
    assert refused.value.field == "position"
    with pytest.raises(InvalidInput) as refused:
        system.app.publish_notice(SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, window_days=0)
    assert refused.value.field == "window_days"
    with pytest.raises(InvalidInput) as refused:
        system.app.publish_notice(SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, published_on="2026-03-13")
    assert refused.value.field == "published_on"
    assert system.app.head() == head

    bare = system.app.open_round(
        SYSTEM,
        authority="区委",
        district="罗湖区",
        team="第五巡察组",
        unit_ids=[loaded.unit_id],
        stationed_from="2025-09-01",
        stationed_to="2025-10-01",
    )
    system.app.deliver_feedback(
        SYSTEM, round_id=bare.entity_id, occurred_on="2025-11-01", rectification_until="2026-02-01"
    )
    system.projector.catch_up()
    with pytest.raises(IllegalTransition, match="draft the RESPONSIBILITY narrative"):
        system.app.publish_notice(SYSTEM, round_id=bare.entity_id, unit_id=loaded.unit_id)


#: Digests of released template versions. Never edit these files: add a new version folder.
RELEASED = {
    "v1/notice.md.j2": "167a2d582dcc545844d3ebcaec07fb142c054c827a5438fb934b084e6499fca3",
    "v1/notice.html.j2": "57b9195f32b963b6054f1144cfde624c29e2e6a3dc16248996cba5a1e7d12a15",
    "v2/notice.md.j2": "8d7bf0be5b032d367a455d8ba3a3f5c9f3c8de2967f08e6adacdc37d58be43b3",
    "v2/notice.html.j2": "c0af1fb6919d56f83f3a2a3c8f5dafe6a3f3c7413b2fd52236fc63bc7718691d",
}


def test_published_template_versions_are_kept_unchanged() -> None:
    """A publication names its template version; a released version's files must never change, or
    old notices would silently render differently (the Markdown would also fail its hash check)."""
    for name, released in RELEASED.items():
        assert hashlib.sha256((render.TEMPLATES / name).read_bytes()).hexdigest() == released, name
    assert render.CURRENT_VERSION in render.versions()
    with pytest.raises(render.TemplateMissing, match="v0"):
        render.environment("v0", html=False)


def test_the_pdf_carries_the_chinese_text(system: System, loaded: songyuan.Loaded, tmp_path: Path) -> None:
    require_system_packages("fonts-noto-cjk", "libharfbuzz-subset0", "poppler-utils")
    rendered = system.notices.rebuild(publish(system, loaded).entity_id).rendered  # type: ignore[attr-defined]
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(rendered.pdf())
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    squeezed = "".join(text.split())
    assert "关于巡察整改进展情况的通报" in squeezed
    assert "累计开展22次" in squeezed
    assert "公开期限：2026年3月12日至4月11日" in squeezed


def test_rectify_notice_and_verify_notice_from_the_command_line(
    system: System,
    loaded: songyuan.Loaded,
    config: settings.Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notice_id = str(publish(system, loaded).entity_id)  # type: ignore[attr-defined]

    def in_a_process(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rectify.cli", "--database-url", config.database.url, *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def rectify(*args: str) -> subprocess.CompletedProcess[str]:
        """The command through main() in this process (what the console script calls): no interpreter to start."""
        capsys.readouterr()
        code = main(["--database-url", config.database.url, *args])
        printed = capsys.readouterr()
        return subprocess.CompletedProcess(["rectify", *args], code, printed.out, printed.err)

    verified = in_a_process("verify-notice", notice_id)
    assert verified.returncode == 0, verified.stderr
    assert "byte-identical" in verified.stdout
    printed = rectify("notice", "--id", notice_id)
    assert printed.returncode == 0 and "累计开展 22 次" in printed.stdout
    draft = rectify(
        "notice",
        "--round",
        str(loaded.round_id),
        "--unit",
        str(loaded.unit_id),
        "--position",
        "30",
        "--published-on",
        "2025-09-01",
    )
    assert draft.returncode == 0, draft.stderr
    assert "累计开展" not in draft.stdout  # at position 30 no measure of that finding was planned yet
    html = tmp_path / "n.html"
    assert rectify("notice", "--id", notice_id, "--format", "html", "--output", str(html)).returncode == 0
    assert '<h2 class="title">' in html.read_text(encoding="utf-8")


def test_a_retried_publication_with_its_key_is_carried_out_once_even_after_other_writes(
    system: System, loaded: songyuan.Loaded
) -> None:
    first = system.app.publish_notice(
        SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, idempotency_key="notice-2026-03"
    )
    system.app.record_activity(
        Actor("u", Role.UNIT, loaded.unit_id),
        finding_id=loaded.finding_ids["人居环境品质有效提升"],
        kind="大扫除",
        occurred_on="2026-03-11",
        count=1,
    )
    head = system.app.head()
    again = system.app.publish_notice(
        SYSTEM, round_id=loaded.round_id, unit_id=loaded.unit_id, idempotency_key="notice-2026-03"
    )
    assert again.replayed and again.entity_id == first.entity_id
    assert system.app.head() == head


def test_a_finding_and_a_group_at_the_same_level_both_reach_the_notice(system: System, loaded: songyuan.Loaded) -> None:
    with pytest.raises(InvalidInput) as refused:  # (一) 2. is a category: a finding goes under it
        system.app.raise_finding(
            SYSTEM,
            round_id=loaded.round_id,
            unit_id=loaded.unit_id,
            category=[1],
            ordinal=2,
            heading="不该在此",
            problem="p",
        )
    assert refused.value.field == "ordinal"
    # defined the other way round, a category can still land where a finding sits: both are printed
    system.app.raise_finding(
        SYSTEM,
        round_id=loaded.round_id,
        unit_id=loaded.unit_id,
        category=[3],
        ordinal=3,
        heading="单列事项",
        problem="p",
    )
    system.app.define_category(SYSTEM, round_id=loaded.round_id, path=[3, 3], title="后设类别")
    system.app.raise_finding(
        SYSTEM,
        round_id=loaded.round_id,
        unit_id=loaded.unit_id,
        category=[3, 3],
        ordinal=1,
        heading="类别下的子项",
        problem="p",
    )
    system.projector.catch_up()
    text = system.notices.draft(
        loaded.round_id, loaded.unit_id, Edition.PUBLIC, system.app.head(), PUBLISHED_ON, 30
    ).markdown
    assert "#### 3. 单列事项" in text
    assert "#### 4. 后设类别" in text and "##### （1）类别下的子项" in text
