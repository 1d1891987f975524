"""The reference notice's scenario written as events, on both stores."""

from __future__ import annotations

from collections import Counter
from datetime import date

from rectify.application import RectifyApplication
from rectify.domain.values import Disclosure, FindingStatus
from scenario import load_reference


def test_the_songyuan_scenario_holds_what_the_notice_states(app: RectifyApplication) -> None:
    loaded = load_reference(app)
    unit = app.unit(loaded.unit_id)
    round_ = app.round(loaded.round_id)
    assert unit.contact.phone == "25469657" and unit.contact.postcode == "518000"
    assert unit.contact.email == "lh_gyb@szlh.gov.cn"
    assert round_.team_name == "罗湖区第四巡察组"
    assert (round_.stationed_from, round_.stationed_to, round_.feedback_on) == (
        date(2025, 3, 26),
        date(2025, 6, 13),
        date(2025, 8, 12),
    )
    assert [len(n.items) for n in round_.narratives] == [3, 3]

    findings = [app.finding(f) for f in loaded.finding_ids.values()]
    public = sorted((f for f in findings if f.disclosure is Disclosure.PUBLIC), key=lambda f: f.place)
    assert [f.heading for f in public][:3] == ["扎实开展政治理论学习", "加强安全隐患排查工作", "强化安全生产监管"]
    assert len(public) == 13
    assert sum(len(f.measures) for f in public) == 24  # every 一是、二是… of the notice

    environment = app.finding(loaded.finding_ids["人居环境品质有效提升"])
    live = [a for a in environment.activities if not a.retracted]
    clean_ups = [a for a in live if a.kind == "大扫除"]
    trainings = [a for a in live if a.kind == "培训"]
    assert sum(1 for a in clean_ups if a.occurred_on <= date(2025, 11, 12)) == 22
    assert len(clean_ups) > 22  # later clean-ups exist, so the date cut matters
    assert len(trainings) == 5 and all(a.occurred_on > date(2025, 3, 26) for a in trainings)

    statuses = Counter(f.status for f in findings)
    assert statuses[FindingStatus.CLOSED] == 10 and statuses[FindingStatus.LONG_TERM] == 2
