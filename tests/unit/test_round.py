"""The Round and Unit aggregates: opening, feedback, categories, narratives."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from rectify.domain import IllegalTransition, InvalidInput, NotFound, Round, Unit
from rectify.domain.values import Contact, NarrativeItem, NarrativeSection

WHO = "test:actor"


def opened(unit_ids: tuple = ()) -> Round:
    round_ = Round.open(
        round_id=uuid4(),
        authority="区委",
        district="罗湖区",
        teams=("第四巡察组",),
        unit_ids=unit_ids or (uuid4(),),
        stationed_from=date(2025, 3, 26),
        stationed_to=date(2025, 6, 13),
        actor=WHO,
    )
    return round_


def test_a_round_names_its_team_in_full() -> None:
    assert opened().team_name == "罗湖区第四巡察组"


def test_a_round_must_inspect_some_unit_once_each_and_end_after_it_starts() -> None:
    unit = uuid4()
    with pytest.raises(InvalidInput, match="unit_ids"):
        opened(unit_ids=(unit, unit))
    with pytest.raises(InvalidInput) as refused:
        Round.open(
            round_id=uuid4(),
            authority="区委",
            district="罗湖区",
            teams=("t",),
            unit_ids=(unit,),
            stationed_from=date(2025, 6, 13),
            stationed_to=date(2025, 3, 26),
            actor=WHO,
        )
    assert refused.value.field == "stationed_to"


def test_feedback_is_delivered_once_after_the_stay() -> None:
    round_ = opened()
    with pytest.raises(InvalidInput, match="after the stay"):
        round_.deliver_feedback(date(2025, 6, 1), date(2025, 9, 1), actor=WHO)
    with pytest.raises(IllegalTransition, match="once the feedback is delivered"):
        round_.require_feedback()
    round_.deliver_feedback(date(2025, 8, 12), date(2025, 11, 12), actor=WHO)
    assert round_.require_feedback() == date(2025, 8, 12)
    with pytest.raises(IllegalTransition, match="already delivered"):
        round_.deliver_feedback(date(2025, 8, 13), date(2025, 11, 12), actor=WHO)


def test_categories_form_an_ordered_tree_and_a_title_can_be_corrected() -> None:
    round_ = opened()
    with pytest.raises(InvalidInput, match="parent category 2 is not defined"):
        round_.define_category((2, 1), "子类", actor=WHO)
    round_.define_category((2,), "全面从严治党方面", actor=WHO)
    round_.define_category((1,), "理论学习方面", actor=WHO)
    round_.define_category((2, 4), "民生微实事", actor=WHO)
    round_.define_category((1,), "关于贯彻落实党的理论路线方针政策方面", actor=WHO)
    assert [(c.path, c.title) for c in round_.categories] == [
        ((1,), "关于贯彻落实党的理论路线方针政策方面"),
        ((2,), "全面从严治党方面"),
        ((2, 4), "民生微实事"),
    ]
    with pytest.raises(InvalidInput, match="levels deep"):
        round_.define_category((2, 4, 1), "too deep", actor=WHO)
    assert len(round_.collect_events()) == 5


def test_a_narrative_is_drafted_per_unit_and_section_and_the_last_draft_counts() -> None:
    unit = uuid4()
    round_ = opened(unit_ids=(unit,))
    items = (NarrativeItem("提高政治站位，压实主体责任。", "正文"),)
    round_.draft_narrative(unit_id=unit, section=NarrativeSection.RESPONSIBILITY, intro="初稿", items=items, actor=WHO)
    round_.draft_narrative(unit_id=unit, section=NarrativeSection.RESPONSIBILITY, intro="定稿", items=items, actor=WHO)
    assert round_.narrative(unit, NarrativeSection.RESPONSIBILITY).intro == "定稿"
    with pytest.raises(NotFound):
        round_.narrative(unit, NarrativeSection.NEXT_STEPS)
    with pytest.raises(InvalidInput, match="not inspected in this round"):
        round_.draft_narrative(unit_id=uuid4(), section=NarrativeSection.NEXT_STEPS, intro="x", items=(), actor=WHO)


def test_a_round_and_a_unit_rebuilt_from_their_events_equal_the_originals() -> None:
    unit = Unit.register(
        unit_id=uuid4(),
        name="中共深圳市罗湖区桂园街道松园社区委员会",
        short_name="松园社区党委",
        contact=Contact("宝安南路", "25469657", "518000"),
        actor=WHO,
    )
    unit.change_contact(Contact("宝安南路 3029 号", "25469657", "518000", email="a@b.cn"), actor=WHO)
    round_ = opened(unit_ids=(unit.id,))
    round_.deliver_feedback(date(2025, 8, 12), date(2025, 11, 12), actor=WHO)
    round_.define_category((1,), "方面", actor=WHO)
    round_.draft_narrative(
        unit_id=unit.id, section=NarrativeSection.NEXT_STEPS, intro="i", items=(NarrativeItem("t", "x"),), actor=WHO
    )
    for original in (unit, round_):
        rebuilt = None
        for event in original.collect_events():
            rebuilt = event.mutate(rebuilt)
        assert rebuilt == original
