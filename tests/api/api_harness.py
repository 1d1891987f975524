"""The API tests' harness: `rectify serve` (uvicorn) in a subprocess, and real clients over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
import websockets
from api_documents import mutation_document

from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import open_application
from rectify.examples import songyuan

SYSTEM = Actor("tests", Role.SYSTEM)
GRAPHQL_TRANSPORT_WS = "graphql-transport-ws"
#: The reference finding whose clean-ups (大扫除) the notice counts.
CLEAN_UPS = "人居环境品质有效提升"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """One `rectify serve` process; what it writes to stderr goes to a file (a pipe could fill and stall it)."""

    url: str
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]
    final_log: str = ""

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.graphql_url.replace("http://", "ws://")

    def log(self) -> str:
        """What the server wrote to stderr so far (all of it once stopped)."""
        if self.stderr.closed:
            return self.final_log
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def ws(self, token: str | None = None, **connect: Any) -> contextlib.AbstractAsyncContextManager[WsSession]:
        """A graphql-transport-ws session, acknowledged (the token, if any, sent in connection_init)."""
        return WsSession.open(self.ws_url, token, **connect)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.stderr.closed:
            self.final_log = self.log()
            self.stderr.close()


def start_server(database_url: str, *extra: str, env: dict[str, str] | None = None) -> Server:
    """`rectify serve` on a free port, once it answers /health (another try if the port was taken meanwhile)."""
    for attempt in itertools.count(1):
        port = free_port()
        environ = {**os.environ, "RECTIFY_TIMEZONE": "Asia/Shanghai", **(env or {})}
        command = [
            sys.executable,
            "-m",
            "rectify.cli",
            "--database-url",
            database_url,
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *extra,
        ]
        stderr = tempfile.TemporaryFile()
        process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=stderr)
        server = Server(f"http://127.0.0.1:{port}", process, stderr)
        try:
            wait_until_healthy(server.url, process, server.log)
        except RuntimeError:
            taken = "address already in use" in server.log().lower()
            server.stop()
            if taken and attempt < 3:
                continue
            raise
        return server
    raise AssertionError("unreachable")


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Callable[[], str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200 and process.poll() is None:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError("server did not come up in 30 s")


@dataclass
class World:
    """The reference scenario in a store, tokens for every role, and a server over it."""

    database_url: str
    loaded: songyuan.Loaded
    tokens: dict[str, str]
    server: Server
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, role: str = "PUBLIC") -> GraphQLClient:
        return self.client_for(self.server, role)

    def client_for(self, server: Server, role: str = "PUBLIC") -> GraphQLClient:
        headers = {} if role == "PUBLIC" else {"Authorization": f"Bearer {self.tokens[role]}"}
        http = httpx.Client(base_url=server.url, headers=headers, timeout=30)
        self.clients.append(http)
        return GraphQLClient(http)

    def ws(self, role: str = "PUBLIC", **connect: Any) -> contextlib.AbstractAsyncContextManager[WsSession]:
        return self.server.ws(self.tokens.get(role), **connect)

    def record_clean_up(self, client: GraphQLClient | None = None, occurred_on: str = "2026-03-01") -> dict[str, Any]:
        """The unit records one more clean-up (大扫除) on the reference finding that counts them."""
        return (client or self.client("UNIT")).mutate(
            "recordActivity",
            {"findingId": self.finding_ids[CLEAN_UPS], "kind": "大扫除", "occurredOn": occurred_on, "count": 1},
        )

    @property
    def finding_ids(self) -> dict[str, str]:
        """The reference findings' ids by heading."""
        return {heading: str(identifier) for heading, identifier in self.loaded.finding_ids.items()}

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.server.stop()


@dataclass
class GraphQLClient:
    http: httpx.Client

    def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post("/graphql", json={"query": query, "variables": variables or {}})

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.post(query, variables)
        assert response.status_code == 200, response.text
        return json.loads(response.text)

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self(query, variables)
        assert "errors" not in answer, answer
        return answer["data"]

    def errors(self, query: str, variables: dict[str, Any] | None = None) -> list[str]:
        """The messages of a request that must fail as a whole."""
        answer = self(query, variables)
        assert answer.get("errors"), answer
        return [error["message"] for error in answer["errors"]]

    def refused(self, query: str, variables: dict[str, Any] | None = None) -> list[str]:
        """The messages of a document refused before it runs (a request error, such as a cost limit):
        a 400 to a client that reads application/graphql-response+json (a legacy JSON client gets 200)."""
        body = {"query": query, "variables": variables or {}}
        response = self.http.post("/graphql", json=body, headers={"Accept": "application/graphql-response+json"})
        assert response.status_code == 400, response.text
        assert "data" not in response.json(), response.text
        return [error["message"] for error in response.json()["errors"]]

    def mutate(self, name: str, input: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        """The result union of one mutation, with every scalar field of whichever member it is."""
        return self.data(mutation_document(name), {"input": input})[name]

    def head(self) -> int:
        return int(self.data("{ head }")["head"])


class WsClosed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class WsSession:
    """One graphql-transport-ws connection: subscribe, then read each operation's messages in order."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self._ids = itertools.count(1)
        self._inbox: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.transcript: list[str] = []  # every message received, as sent
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, token: str | None = None, **connect: Any) -> AsyncIterator[WsSession]:
        async with websockets.connect(url, subprotocols=[GRAPHQL_TRANSPORT_WS], **connect) as socket:
            payload = {"authorization": f"Bearer {token}"} if token else {}
            await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert ack["type"] == "connection_ack", ack
            session = cls(socket)
            try:
                yield session
            finally:
                # Closed while the reader still drains the socket: a client that stops reading leaves the
                # server's close frame unread behind a full queue, and waits out its close timeout.
                await socket.close()
                await session._reader

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                self.transcript.append(raw)
                message = json.loads(raw)
                if "id" in message:
                    self._queue(message["id"]).put_nowait(message)
        except websockets.ConnectionClosed:
            pass
        closed = self.socket.close_code, self.socket.close_reason or ""
        for queue in self._inbox.values():
            queue.put_nowait({"type": "closed", "code": closed[0], "reason": closed[1]})

    def _queue(self, operation: str) -> asyncio.Queue[dict[str, Any]]:
        return self._inbox.setdefault(operation, asyncio.Queue())

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        operation = str(next(self._ids))
        self._queue(operation)
        message = {"id": operation, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        await self.socket.send(json.dumps(message))
        return operation

    async def message(self, operation: str, timeout: float = 10) -> dict[str, Any]:
        """The next message of an operation: `next`, `error` or `complete` (or `closed`)."""
        return await asyncio.wait_for(self._queue(operation).get(), timeout)

    async def next(self, operation: str, timeout: float = 10) -> dict[str, Any]:
        """The data of the operation's next result; fails on anything else."""
        message = await self.message(operation, timeout)
        if message["type"] == "closed":
            raise WsClosed(message["code"], message["reason"])
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]

    async def complete(self, operation: str) -> None:
        await self.socket.send(json.dumps({"id": operation, "type": "complete"}))


def issue_tokens(database_url: str, unit_id: Any) -> dict[str, str]:
    app = open_application(settings.load({}, database_url=database_url))
    try:
        tokens = {
            "INSPECTOR": app.issue_token(SYSTEM, role="INSPECTOR", label="巡察办").secret,
            "ADMIN": app.issue_token(SYSTEM, role="ADMIN", label="管理员").secret,
            "UNIT": app.issue_token(SYSTEM, role="UNIT", label="松园社区", unit_id=unit_id).secret,
        }
        other = app.register_unit(
            SYSTEM,
            name="中共深圳市罗湖区桂园街道其他社区委员会",
            short_name="其他社区党委",
            address="地址",
            phone="1",
            postcode="518000",
        ).entity_id
        tokens["OTHER_UNIT"] = app.issue_token(SYSTEM, role="UNIT", label="其他社区", unit_id=other).secret
        return tokens  # type: ignore[return-value]
    finally:
        app.close()


@contextlib.contextmanager
def open_world(database_url: str, *extra: str, env: dict[str, str] | None = None) -> Iterator[World]:
    """The reference scenario loaded into `database_url`, tokens issued, and a server started over it.

    On the way out, the server's log must show no unexpected (masked) error: each would be a bug.
    """
    app = open_application(settings.load({}, database_url=database_url))
    try:
        loaded = songyuan.load(app, SYSTEM)
    finally:
        app.close()
    tokens = issue_tokens(database_url, loaded.unit_id)
    built = World(database_url, loaded, tokens, start_server(database_url, *extra, env=env))
    try:
        yield built
    finally:
        built.close()
    assert "unexpected error" not in built.server.log(), built.server.log()
