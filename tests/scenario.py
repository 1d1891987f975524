"""What the tests share beside fixtures: the system actor, the fixed 'today', the reference scenario and its tokens."""

from __future__ import annotations

from datetime import date
from typing import Any

from rectify.access import Actor, Role
from rectify.application import RectifyApplication
from rectify.examples import songyuan

#: The one system actor of the tests (the CLI's operator plays it for real users).
SYSTEM = Actor("tests", Role.SYSTEM)
#: The reference notice's publication date, which the in-process tests take for today.
TODAY = date(2026, 3, 12)


def load_reference(app: RectifyApplication) -> songyuan.Loaded:
    """The reference scenario (松园社区党委 after 第四巡察组's inspection), written as the system actor."""
    return songyuan.load(app, SYSTEM)


def issue_tokens(app: RectifyApplication, unit_id: Any) -> dict[str, str]:
    """A token for each role, and one for a second unit (OTHER_UNIT) that must see no more than the public."""

    def secret(role: str, label: str, unit: Any = None) -> str:
        issued = app.issue_token(SYSTEM, role=role, label=label, unit_id=unit).secret
        assert issued is not None  # a fresh (not replayed) issue always carries its secret
        return issued

    tokens = {
        "INSPECTOR": secret("INSPECTOR", "巡察办"),
        "ADMIN": secret("ADMIN", "管理员"),
        "UNIT": secret("UNIT", "松园社区", unit_id),
    }
    other = app.register_unit(
        SYSTEM,
        name="中共深圳市罗湖区桂园街道其他社区委员会",
        short_name="其他社区党委",
        address="地址",
        phone="1",
        postcode="518000",
    ).entity_id
    tokens["OTHER_UNIT"] = secret("UNIT", "其他社区", other)
    return tokens
