"""The sealer on both stores: leaves beside the events, tree heads every N events or seconds, signed or
(with a warning, once) unsigned, one writer at a time, and run by the projector as it follows the log."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path
from uuid import uuid4

import pytest
from integrity_scenario import EVERY, PUBLISHED_ON, SYSTEM, RawLog, Scenario, rectify

from rectify import settings
from rectify.bootstrap import open_application, open_system
from rectify.domain import Unit
from rectify.examples import songyuan
from rectify.integrity import keys
from rectify.integrity.merkle import root_of
from rectify.integrity.sealer import Sealer, Unsealable
from rectify.integrity.store import open_log_store
from rectify.integrity.verify import verify_store


def add_events(url: str, count: int) -> None:
    """`count` more events: contact changes of a unit of their own (the unit read once and changed in hand: read
    again for each change, it folded its whole history each time)."""
    app = open_application(settings.load({}, database_url=url))
    try:
        unit = app.repository.get(app.register_unit(SYSTEM, **songyuan.UNIT).entity_id)
        assert isinstance(unit, Unit)
        for _ in range(count - 1):
            unit.change_contact(unit.contact, actor=str(SYSTEM))
            app.save(unit)
    finally:
        app.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_every_event_has_its_leaf_beside_it_in_position_order(scenario: Scenario, raw: RawLog) -> None:
    events = raw.events()
    leaves = raw.execute("SELECT leaf_index, position FROM rectify_leaves ORDER BY leaf_index")
    assert [(i, p) for i, p in leaves] == [(i, e.position) for i, e in enumerate(events)]
    seal = raw.execute("SELECT size, position FROM rectify_seal")[0]
    assert tuple(seal) == (len(events), events[-1].position)


def test_a_signed_head_is_written_every_n_events(scenario: Scenario, raw: RawLog) -> None:
    store = open_log_store(settings.parse_database_url(scenario.url))
    try:
        with store.snapshot() as reader:
            heads = reader.checkpoints()
            leaves = [leaf.hash for leaf in reader.leaves()]
    finally:
        store.close()
    public = keys.SigningKey.load(scenario.key_file).public
    sizes = [c.head.size for c in heads]
    assert [s for s in sizes if s % EVERY == 0] == [EVERY * n for n in range(1, len(leaves) // EVERY + 1)]
    # and the head the publications printed: both notices are of one position, so one head (template v2)
    assert len([s for s in sizes if s % EVERY]) == 1
    for checkpoint in heads:
        assert public.verifies(checkpoint)
        assert checkpoint.head.root == root_of(leaves[: checkpoint.head.size])
        assert checkpoint.head.position == raw.events()[checkpoint.head.size - 1].position


def test_a_head_falls_due_after_the_configured_seconds_and_on_demand(database_url: str) -> None:
    add_events(database_url, 5)
    clock = Clock()
    store = open_log_store(settings.parse_database_url(database_url))
    sealer = Sealer(store, every_events=1000, every_seconds=30, clock=clock)
    try:
        first = sealer.seal()
        assert [c.head.size for c in first.checkpoints] == [5]  # the first head: none before it
        add_events(database_url, 3)
        assert sealer.seal().checkpoints == ()  # 8 leaves now, but not 30 s since the last head
        clock.now += 31
        assert [c.head.size for c in sealer.seal().checkpoints] == [8]
        add_events(database_url, 2)
        on_demand = sealer.checkpoint()
        assert on_demand.head.size == 10 and sealer.checkpoint() == on_demand  # one head per size
    finally:
        sealer.close()


def test_without_a_key_heads_are_unsigned_and_a_warning_says_so_once(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    add_events(database_url, 6)
    sealer = Sealer(open_log_store(settings.parse_database_url(database_url)), every_events=2)
    try:
        with caplog.at_level(logging.WARNING, logger="rectify.integrity.sealer"):
            heads = sealer.seal().checkpoints
    finally:
        sealer.close()
    assert [c.head.size for c in heads] == [2, 4, 6]
    assert not any(c.signed for c in heads)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "tree heads are written unsigned: RECTIFY_SIGNING_KEY names no key (make one with `rectify keygen`)"
    ]


def test_two_sealers_racing_seal_each_event_once(database_url: str) -> None:
    add_events(database_url, 300)
    database = settings.parse_database_url(database_url)
    sealers = [Sealer(open_log_store(database), every_events=50, batch_size=7) for _ in range(2)]
    errors: list[BaseException] = []

    def run(sealer: Sealer) -> None:
        try:
            sealer.seal()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(s,)) for s in sealers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not errors
        report = verify_store(sealers[0].store)
        assert report.ok and report.size == 300 and report.checkpoints == 6
        raw = RawLog(database_url)
        assert raw.execute("SELECT COUNT(*), COUNT(DISTINCT position), MAX(leaf_index) FROM rectify_leaves")[0] == (
            300,
            300,
            299,
        )
    finally:
        for sealer in sealers:
            sealer.close()


def test_sealing_batch_after_batch_reads_through_kept_connections_not_one_opened_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    add_events(url, 100)
    opened: list[object] = []
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *args, **kwargs: opened.append(args) or connect(*args, **kwargs))
    sealer = Sealer(open_log_store(settings.parse_database_url(url)), every_events=1000, batch_size=5)
    try:
        assert sealer.seal().leaves == 100  # twenty batches, each read in a snapshot of its own
        assert len(opened) <= 2, opened  # one to read, one to write: kept from batch to batch
    finally:
        sealer.close()


def test_the_projector_seals_what_is_appended_as_it_follows_the_log(database_url: str) -> None:
    config = settings.load({}, database_url=database_url)
    system = open_system(config, run_projector=True, today=lambda: PUBLISHED_ON)
    try:
        loaded = songyuan.load(system.app, SYSTEM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with system.sealer.store.snapshot() as reader:
                state = reader.seal_state()
            if state is not None and state.position == loaded.position:
                break
            time.sleep(0.05)
        assert state is not None and state.position == loaded.position
        assert verify_store(system.sealer.store).ok
    finally:
        system.close()


def test_an_event_whose_bytes_do_not_decode_stops_the_sealer_there_and_is_reported_once(
    scenario: Scenario, raw: RawLog, caplog: pytest.LogCaptureFixture
) -> None:
    head = raw.events()[-1]
    raw.insert(head.position + 1, uuid4(), 1, head.topic, b"{not json")
    add_events(scenario.url, 2)
    sealer = Sealer(open_log_store(settings.parse_database_url(scenario.url)))
    try:
        with pytest.raises(Unsealable) as stuck:
            sealer.seal()
        assert stuck.value.position == head.position + 1
        with caplog.at_level(logging.ERROR, logger="rectify.integrity.sealer"):
            sealer.follow()
            sealer.follow()
        assert isinstance(sealer.error, Unsealable)
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    finally:
        sealer.close()
    assert raw.execute("SELECT position FROM rectify_seal")[0][0] == head.position


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "signing.key"
    assert rectify("keygen", str(path)) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    public = (tmp_path / "signing.key.pub").read_text().strip()
    loaded = keys.SigningKey.load(path)
    assert public == loaded.public.text() and public in out
    assert f"fingerprint: {loaded.public.fingerprint}" in out
    before = path.read_bytes()
    assert rectify("keygen", str(path)) == 2
    assert "exists: rectify never overwrites a key" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_a_signing_key_that_is_not_one_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    monkeypatch.setenv("RECTIFY_SIGNING_KEY", str(bad))
    assert rectify("--database-url", f"sqlite:///{tmp_path / 'x.db'}", "seal") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rectify: RECTIFY_SIGNING_KEY: {bad} is not an unencrypted PEM private key")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("variable", "value"), [("RECTIFY_CHECKPOINT_EVENTS", "0"), ("RECTIFY_CHECKPOINT_SECONDS", "-1")]
)
def test_checkpoint_settings_out_of_range_are_refused_by_name(variable: str, value: str) -> None:
    with pytest.raises(settings.SettingsError, match=variable):
        settings.load({variable: value}, database_url="sqlite:///x.db")
