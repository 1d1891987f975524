"""`rectify verify` on both stores: a clean log verifies; each kind of tampering, done with plain SQL on the
events as a person with database access would, is named at its first bad position, with exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from hashlib import sha256
from pathlib import Path
from uuid import uuid4

import pytest
from integrity_scenario import EVERY, RawLog, Scenario, rectify

from rectify.integrity.leaves import StoredEvent, actor_digest, leaf_hash_of, record_facts


def verify(capsys: pytest.CaptureFixture[str], url: str, *extra: str) -> tuple[int, str, str]:
    code = rectify("--database-url", url, "verify", *extra)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def activities(raw: RawLog) -> list[StoredEvent]:
    return [e for e in raw.events() if e.type == "Finding.ActivityRecorded"]


def last_of_an_aggregate(raw: RawLog) -> StoredEvent:
    """The last event of a finding that has others, not at the end of the log."""
    events = raw.events()
    last: dict[bytes, StoredEvent] = {}
    for event in events:
        last[event.aggregate_id] = event
    return next(e for e in last.values() if e.version > 2 and e.type.startswith("Finding.") and e != events[-1])


def middle_of_an_aggregate(raw: RawLog) -> StoredEvent:
    events = raw.events()
    versions: dict[bytes, int] = {}
    for event in events:
        versions[event.aggregate_id] = event.version
    return next(e for e in events if e.version == 2 and versions[e.aggregate_id] >= 4)


# -- each kind of tampering: what is done, the first bad position, the kind verify names ---------------------


def edit_payload_byte(raw: RawLog) -> tuple[int, str]:
    event = activities(raw)[3]
    raw.set_state(event.position, event.state.replace(b'"count":1', b'"count":2', 1))
    return event.position, "edited: its payload bytes changed"


def edit_actor(raw: RawLog) -> tuple[int, str]:
    event = activities(raw)[4]
    raw.set_state(event.position, event.state.replace(b'"actor":"unit:', b'"actor":"inspector:', 1))
    return event.position, "edited: its actor (now 'inspector:"


def edit_record_time(raw: RawLog) -> tuple[int, str]:
    event = activities(raw)[5]
    fields = json.loads(event.state)
    stamp = fields["timestamp"]["_data_"]
    earlier = stamp.replace(stamp[:4], str(int(stamp[:4]) - 1), 1)
    raw.set_state(event.position, event.state.replace(stamp.encode(), earlier.encode(), 1))
    return event.position, "edited: its record time (sealed"


def edit_topic(raw: RawLog) -> tuple[int, str]:
    event = activities(raw)[6]
    raw.execute(
        "UPDATE {events} SET topic = ? WHERE {pos} = ?", ("rectify.domain.finding:Finding.Closed", event.position)
    )
    return event.position, "edited: the topic of Finding.Closed"


def flip_a_byte_that_breaks_the_json(raw: RawLog) -> tuple[int, str]:
    event = activities(raw)[7]
    raw.set_state(event.position, b"X" + event.state[1:])
    return event.position, "edited: the stored bytes of Finding.ActivityRecorded"


def delete_the_last_event_of_an_aggregate(raw: RawLog) -> tuple[int, str]:
    event = last_of_an_aggregate(raw)
    raw.execute("DELETE FROM {events} WHERE {pos} = ?", (event.position,))
    return event.position, f"missing: the last event of aggregate {event.aggregate} (version {event.version})"


def delete_a_middle_event(raw: RawLog) -> tuple[int, str]:
    event = middle_of_an_aggregate(raw)
    raw.execute("DELETE FROM {events} WHERE {pos} = ?", (event.position,))
    return event.position, f"missing: version 2 of aggregate {event.aggregate} was deleted from the middle"


def swap_two_payloads(raw: RawLog) -> tuple[int, str]:
    first, second = activities(raw)[8], activities(raw)[12]
    raw.set_state(first.position, second.state)
    raw.set_state(second.position, first.state)
    return first.position, f"swapped: the stored bytes of Finding.ActivityRecorded (version {first.version}"


def insert_a_forged_event(raw: RawLog) -> tuple[int, str]:
    model = activities(raw)[9]
    raw.shift_up(model.position)
    raw.insert(model.position, uuid4(), 1, model.topic, model.state)
    return model.position, "inserted: it holds Finding.ActivityRecorded (version 1"


def reorder_two_rows(raw: RawLog) -> tuple[int, str]:
    first, second = activities(raw)[10], activities(raw)[11]
    raw.move(first.position, -1)
    raw.move(second.position, first.position)
    raw.move(-1, second.position)
    return first.position, f"reordered: it holds Finding.ActivityRecorded (version {second.version}"


TAMPERING: dict[str, Callable[[RawLog], tuple[int, str]]] = {
    "an edited payload byte": edit_payload_byte,
    "an edited actor": edit_actor,
    "an edited record time": edit_record_time,
    "an edited topic": edit_topic,
    "bytes that no longer decode": flip_a_byte_that_breaks_the_json,
    "the last event of an aggregate deleted": delete_the_last_event_of_an_aggregate,
    "a middle event deleted": delete_a_middle_event,
    "two payloads swapped": swap_two_payloads,
    "a forged event inserted": insert_a_forged_event,
    "two rows reordered": reorder_two_rows,
}


def test_a_clean_store_verifies_with_every_head_signed(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog
) -> None:
    code, out, err = verify(capsys, scenario.url)
    assert code == 0, err
    events = len(raw.events())
    assert f"checked {events} events against their leaves" in out
    # a head every EVERY events, and the one each publication printed (both notices are of one position)
    heads = len(
        {*range(EVERY, events + 1, EVERY), *(s for (s,) in raw.execute("SELECT size FROM rectify_checkpoints"))}
    )
    assert heads == events // EVERY + 1
    assert f"tree heads: {heads}, {heads} signatures good (SHA256:" in out
    assert "rebuilt 2 published notices from the log" in out
    assert "OK: the log is as it was sealed" in out


def test_verify_rebuilds_the_notices_from_the_log_and_names_one_that_differs(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog
) -> None:
    """The log verifies, but the tree head a notice printed was changed beside it: the notice no longer rebuilds."""
    size = max(s for (s,) in raw.execute("SELECT size FROM rectify_checkpoints") if s % EVERY)
    raw.execute(
        "UPDATE rectify_checkpoints SET signed_at = ? WHERE size = ?", ("2026-01-01T00:00:00.000000+00:00", size)
    )
    code, out, err = verify(capsys, scenario.url, "--public-key", f"{scenario.key_file}.pub")
    assert code == 1 and "Traceback" not in err
    assert "forged head" in err  # its signature no longer verifies
    raw.execute("DELETE FROM rectify_checkpoints WHERE size = ?", (size,))
    code, out, err = verify(capsys, scenario.url)
    assert code == 1 and "notice: notice" in err and "the tree head it printed is missing" in err
    published = next(e for e in raw.events() if e.type == "Round.NoticePublished")
    assert f"verify failed at position {published.position}: notice" in err


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_each_kind_of_tampering_is_named_at_its_first_bad_position(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog, tampering: str
) -> None:
    position, named = TAMPERING[tampering](raw)
    code, _, err = verify(capsys, scenario.url)
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"rectify: verify failed at position {position}: {named}"), err


def rewrite_with_leaf(raw: RawLog, event: StoredEvent, state: bytes) -> None:
    """Changes an event and rewrites its stored leaf to match: what only a signed head can catch."""
    recorded_at, actor = record_facts(state)
    digest = sha256(state).digest()
    raw.set_state(event.position, state)
    raw.execute(
        "UPDATE rectify_leaves SET state_digest = ?, recorded_at = ?, actor_digest = ?, leaf_hash = ? "
        "WHERE position = ?",
        (
            digest,
            recorded_at,
            actor_digest(actor),
            leaf_hash_of(event.position, event.aggregate_id, event.version, recorded_at, event.topic, digest),
            event.position,
        ),
    )


def test_an_event_rewritten_with_its_leaf_is_caught_by_the_next_signed_head(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog
) -> None:
    event = next(e for e in activities(raw) if EVERY < e.position < 2 * EVERY)
    rewrite_with_leaf(raw, event, event.state.replace(b'"count":1', b'"count":9', 1))
    code, _, err = verify(capsys, scenario.url)
    assert code == 1
    assert err.startswith(f"rectify: verify failed at position {EVERY + 1}: rewritten: the log between positions "), err
    assert f"does not give the tree head of size {2 * EVERY}" in err


def test_a_changed_leaf_hash_alone_is_told_from_a_changed_event(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog
) -> None:
    position = activities(raw)[2].position
    raw.execute("UPDATE rectify_leaves SET leaf_hash = ? WHERE position = ?", (b"\x00" * 32, position))
    code, _, err = verify(capsys, scenario.url)
    assert code == 1
    assert err.startswith(f"rectify: verify failed at position {position}: leaves altered: the stored leaf hash"), err


def test_a_tree_head_altered_without_the_key_fails_its_signature(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog
) -> None:
    raw.execute("UPDATE rectify_checkpoints SET root = ? WHERE size = ?", (b"\x01" * 32, 2 * EVERY))
    position = raw.execute("SELECT position FROM rectify_checkpoints WHERE size = ?", (2 * EVERY,))[0][0]
    code, _, err = verify(capsys, scenario.url)
    assert code == 1
    assert f"position {position}: forged head: the signature of the tree head of size {2 * EVERY}" in err


def test_heads_checked_with_another_key_are_refused(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, tmp_path: Path
) -> None:
    other = tmp_path / "other.key"
    rectify("keygen", str(other))
    capsys.readouterr()
    code, _, err = verify(capsys, scenario.url, "--public-key", f"{other}.pub")
    assert code == 1
    assert f"position {EVERY}: forged head: the tree head of size {EVERY}" in err and "is signed by another key" in err


def test_events_removed_from_the_end_with_their_leaves_are_missing_under_the_last_head(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog
) -> None:
    cut = 3 * EVERY - 5  # inside the third head's range
    raw.execute("DELETE FROM {events} WHERE {pos} > ?", (cut,))
    raw.execute("DELETE FROM rectify_leaves WHERE position > ?", (cut,))
    raw.execute("DELETE FROM rectify_checkpoints WHERE size > ?", (3 * EVERY,))
    size = raw.execute("SELECT COUNT(*) FROM rectify_leaves")[0][0]
    raw.execute("UPDATE rectify_seal SET size = ?, position = ?", (size, cut))
    code, _, err = verify(capsys, scenario.url)
    assert code == 1
    assert f"position {cut + 1}: missing: the tree head of size {3 * EVERY} covers positions up to" in err, err


def test_verify_from_a_position_recomputes_from_there_and_still_checks_every_head(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog
) -> None:
    later = activities(raw)[-2]
    raw.set_state(later.position, later.state.replace(b'"count":1', b'"count":3', 1))
    code, out, err = verify(capsys, scenario.url, "--from", str(later.position - 3))
    assert code == 1 and f"position {later.position}: edited" in err
    assert "checked 3 events from position" in out  # the three before it, then it


def test_an_unsealed_tail_is_listed_and_must_still_decode(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, raw: RawLog
) -> None:
    model = activities(raw)[0]
    head = raw.events()[-1].position
    raw.insert(head + 1, uuid4(), 1, model.topic, model.state)
    code, out, _ = verify(capsys, scenario.url)
    assert code == 0 and f"not sealed yet: 1 events after position {head}" in out
    raw.insert(head + 2, uuid4(), 1, model.topic, b"\xff not json")
    code, _, err = verify(capsys, scenario.url)
    assert code == 1 and f"position {head + 2}: undecodable:" in err


def test_a_damaged_database_file_is_one_line_and_exit_1_in_a_real_process(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4096)
    done = subprocess.run(
        [sys.executable, "-m", "rectify.cli", "--database-url", f"sqlite:///{damaged}", "verify"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("rectify: verify: the store cannot be read: ") and done.stderr.count("\n") == 1


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["events"], ["rebuild"]])
def test_a_damaged_database_file_stops_the_other_commands_in_one_line_too(tmp_path: Path, command: list[str]) -> None:
    """`serve` included: the store is opened before uvicorn starts, whose startup printed a traceback."""
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4096)
    done = subprocess.run(
        [sys.executable, "-m", "rectify.cli", "--database-url", f"sqlite:///{damaged}", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"rectify: cannot use the database sqlite:///{damaged}: file is not a database\n"


def test_a_deleted_event_is_found_by_a_real_process_too(scenario: Scenario, raw: RawLog) -> None:
    position, named = delete_a_middle_event(raw)
    done = subprocess.run(
        [sys.executable, "-m", "rectify.cli", "--database-url", scenario.url, "verify"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"rectify: verify failed at position {position}: {named}")
