"""How the command names rounds and units: full ids, names, id prefixes, parts of names; never a guess."""

from __future__ import annotations

import pytest

from rectify.access import Actor
from rectify.bootstrap import System
from rectify.cli import CommandError, Handles
from rectify.examples import songyuan

OTHER = {
    "name": "中共深圳市罗湖区桂园街道其他社区委员会",
    "short_name": "其他社区党委",
    "address": "地址",
    "phone": "1",
}


def test_a_round_answers_to_its_team_with_or_without_the_district_and_to_its_id(
    system: System, loaded: songyuan.Loaded
) -> None:
    handles = Handles(system)
    full = str(loaded.round_id)
    for handle in ("第四巡察组", "罗湖区第四巡察组", full, full[:4], full.replace("-", "")[:12].upper(), "四巡"):
        assert handles.round(handle).id == loaded.round_id, handle


def test_a_short_prefix_is_no_handle_and_the_refusal_lists_what_there_is(
    system: System, loaded: songyuan.Loaded
) -> None:
    with pytest.raises(
        CommandError, match=r"no round is named '.{3}', nor has an id starting with it; there are: "
    ) as refused:
        Handles(system).round(str(loaded.round_id)[:3])
    assert str(loaded.round_id) in str(refused.value) and "罗湖区第四巡察组" in str(refused.value)


def test_an_exact_name_wins_over_a_part_of_another(
    system: System, loaded: songyuan.Loaded, system_actor: Actor
) -> None:
    longer = system.app.register_unit(
        system_actor, **{**OTHER, "short_name": "松园社区党委第二支部"}, postcode="518000"
    )
    handles = Handles(system_after(system))
    assert handles.unit("松园社区党委").id == loaded.unit_id
    assert handles.unit("第二支部").id == longer.entity_id
    with pytest.raises(
        CommandError, match=r"unit '松园' is ambiguous: it fits 2 units \(.*松园社区党委 .*松园社区党委第二支部"
    ):
        handles.unit("松园")


def test_a_unit_of_another_round_is_refused_naming_the_rounds_own(
    system: System, loaded: songyuan.Loaded, system_actor: Actor
) -> None:
    system.app.register_unit(system_actor, **OTHER, postcode="518000")
    handles = Handles(system_after(system))
    round_ = handles.round("第四巡察组")
    assert handles.unit("其他社区党委").short_name == "其他社区党委"  # a unit of no round is still a unit
    with pytest.raises(
        CommandError, match=r"unit '其他社区党委' is not one of round 罗湖区第四巡察组's units \(松园社区党委\)"
    ):
        handles.unit("其他社区党委", of_round=round_)


def system_after(system: System) -> System:
    system.projector.catch_up()
    return system
