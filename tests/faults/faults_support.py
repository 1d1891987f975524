"""Real faults for the fault tier: a TCP proxy in front of PostgreSQL that can be killed or frozen, a
small filesystem that fills up, and a burst of keyed commands whose every answer is checked."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from rectify.access import Actor, Role
from rectify.application import RectifyApplication
from rectify.domain import Conflict, StoreFault

INSPECTOR = Actor("巡察办", Role.INSPECTOR)
SYSTEM = Actor("faults", Role.SYSTEM)


class Proxy:
    """A TCP proxy to `target`, on a fixed local port: `kill` drops every connection and stops
    listening (as a crashed proxy or a pulled cable would), `start` listens again on the same port,
    `freeze` stops forwarding while connections stay open (a black hole), `thaw` resumes."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._frozen = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> Proxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def kill(self) -> None:
        with self._lock:
            doomed, self._sockets = self._sockets, []
            listener, self._listener = self._listener, None
        for s in [*doomed, *([listener] if listener else [])]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def upstream_ports(self) -> list[int]:
        """The local ports of the proxy's connections to the server (its backends' client ports)."""
        with self._lock:
            ports = []
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    if s.getpeername()[1] == self.target[1]:
                        ports.append(s.getsockname()[1])
            return ports

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                while self._frozen.is_set():
                    time.sleep(0.01)
                data = source.recv(65536)
                if not data:
                    break
                while self._frozen.is_set():
                    time.sleep(0.01)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@dataclass
class Answer:
    key: str
    kind: str  # ACCEPTED, NOTHING_APPENDED, MAYBE_APPENDED
    detail: str = ""


@dataclass
class Burst:
    """Keyed `record_activity` commands on one finding, their answers, and what the log holds."""

    app: RectifyApplication
    unit: Actor
    finding_id: UUID
    answers: dict[str, Answer] = field(default_factory=dict)
    history: list[Answer] = field(default_factory=list)  # every answer, resends included

    def send(self, key: str) -> Answer:
        try:
            self.app.record_activity(
                self.unit,
                finding_id=self.finding_id,
                kind="大扫除",
                occurred_on="2025-09-01",
                count=1,
                description=key,
                idempotency_key=key,
            )
            answer = Answer(key, "ACCEPTED")
        except Conflict as error:
            assert "nothing was appended" in error.message, error.message
            answer = Answer(key, "NOTHING_APPENDED", error.message)
        except StoreFault as error:
            assert error.reason in ("UNAVAILABLE", "TIMED_OUT", "READ_ONLY", "DISK_FULL"), error.reason
            kind = "MAYBE_APPENDED" if error.may_have_appended else "NOTHING_APPENDED"
            assert ("may have been appended" in error.message) == error.may_have_appended, error.message
            answer = Answer(key, kind, error.message)
        self.answers[key] = answer
        self.history.append(answer)
        return answer

    def run(self, keys: list[str], threads: int = 4, during: Callable[[], None] | None = None) -> None:
        """Sends the keys from `threads` threads; `during` runs once a third of them were answered."""
        pending = list(keys)
        lock = threading.Lock()
        third = threading.Event()

        def worker() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    key = pending.pop(0)
                self.send(key)
                if len(self.answers) >= len(keys) // 3:
                    third.set()

        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for w in workers:
            w.start()
        if during is not None:
            third.wait(60)
            during()
        for w in workers:
            w.join(120)

    def stored(self) -> list[str]:
        """The descriptions in the log, one per activity recorded (read from the store, not a cache)."""
        finding: Any = self.app.repository.get(self.finding_id)
        return [a.description for a in finding.activities]

    def check_truthful(self) -> None:
        """Every Accepted answer is stored; no 'nothing appended' answer is."""
        stored = set(self.stored())
        for answer in self.answers.values():
            if answer.kind == "ACCEPTED":
                assert answer.key in stored, answer
            if answer.kind == "NOTHING_APPENDED":
                assert answer.key not in stored, answer

    def resend_until_accepted(self, within: float) -> float:
        """Resends every key not accepted, with the same key, until each is; the seconds it took."""
        began = time.monotonic()
        for key, answer in list(self.answers.items()):
            while answer.kind != "ACCEPTED":
                assert time.monotonic() - began < within, f"not accepted within {within} s: {answer}"
                time.sleep(0.05)
                answer = self.send(key)
        return time.monotonic() - began

    def check_once_each(self, keys: list[str]) -> None:
        stored = self.stored()
        missing = set(keys) - set(stored)
        doubled = {k for k in stored if stored.count(k) > 1}
        assert not missing and not doubled and len(stored) == len(keys), (
            missing,
            doubled,
            [a for a in self.history if a.key in missing | doubled],
        )


def world(app: RectifyApplication) -> tuple[Actor, UUID]:
    """A unit, its round (feedback delivered) and one finding with responsibility assigned."""
    unit_id = app.register_unit(SYSTEM, name="中共松园社区委员会").entity_id
    round_id = app.open_round(
        INSPECTOR,
        authority="区委",
        district="罗湖区",
        team="第四巡察组",
        unit_ids=[unit_id],
        stationed_from="2025-03-26",
        stationed_to="2025-06-13",
    ).entity_id
    app.deliver_feedback(INSPECTOR, round_id=round_id, occurred_on="2025-08-12")
    app.define_category(INSPECTOR, round_id=round_id, path=[2], title="全面从严治党方面")
    finding_id = app.raise_finding(
        INSPECTOR, round_id=round_id, unit_id=unit_id, category=[2], ordinal=1, heading="公章", problem="登记"
    ).entity_id
    unit = Actor("松园", Role.UNIT, unit_id)
    app.assign_responsibility(
        unit,
        finding_id=finding_id,
        department="党建办",
        leader="书记",
        person="张某",
        deadline_kind="DATE",
        due_on="2025-11-12",
    )
    return unit, finding_id


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (root can mount one; elsewhere the test is skipped, naming why)."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mountpoint)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {done.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
