"""Stored events outlive their classes: an older version is upcast when read."""

from __future__ import annotations

import json
from datetime import date
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from rectify.access import Actor, Role
from rectify.application import RectifyApplication
from rectify.domain import Finding
from rectify.examples import songyuan
from scenario import load_reference

UNIT_ACTOR_NAME = "松园社区党委（示例）"


def test_an_activity_stored_as_version_1_is_read_by_the_current_class(app: RectifyApplication) -> None:
    loaded = load_reference(app)
    finding_id = loaded.finding_ids["强化公章使用管理"]
    finding = app.finding(finding_id)
    assert Finding.ActivityRecorded.class_version == 2

    # What version 1 wrote: no measure_id (activities were not yet linked to measures), no class_version.
    v1_state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-09-01T02:00:00+00:00"},
        "actor": f"unit:{UNIT_ACTOR_NAME}",
        "activity_id": {"_type_": "uuid_hex", "_data_": uuid4().hex},
        "kind": "培训",
        "occurred_on": {"_type_": "date_iso", "_data_": "2025-09-01"},
        "unit": "次",
        "description": "stored by version 1",
        "count": 1,
        "amount": None,
    }
    # A closed finding takes no activity; reopen it first, as a real writer would have to.
    unit = Actor(UNIT_ACTOR_NAME, Role.UNIT, loaded.unit_id)
    app.reopen_finding(songyuan.INSPECTOR, finding_id=finding_id, occurred_on="2026-01-01", reason="补充记录")
    version = finding.version + 1
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=finding_id,
                originator_version=version + 1,
                topic="rectify.domain.finding:Finding.ActivityRecorded",
                state=json.dumps(v1_state).encode(),
            )
        ]
    )

    upcast = app.finding(finding_id).activities[-1]
    assert upcast.description == "stored by version 1"
    assert upcast.measure_id is None
    assert upcast.occurred_on == date(2025, 9, 1)
    # and the aggregate takes new commands on top of the old event
    app.record_activity(unit, finding_id=finding_id, kind="培训", occurred_on="2026-01-02", count=1)
    assert len(app.finding(finding_id).activities) == 2
