"""The API tests' harness: the reference scenario in a store, tokens for every role, and the app over it.

Two flavours of one `World`:
- `open_world` runs the real Starlette app in this process (its lifespan running: views, runner, feed) and
  answers through Starlette's test client: every API test that does not test the transport;
- `open_served_world` starts `rectify serve` (uvicorn) in a subprocess and talks real HTTP and WebSocket to
  it: transport, subscriptions, several processes, crashes.
Both read and write the real store (an SQLite file or a PostgreSQL schema); tests see the same interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import httpx
import pytest
import websockets
from api_documents import mutation_document
from starlette.testclient import TestClient

import store_templates
from rectify import settings
from rectify.bootstrap import open_application
from rectify.cli import web_app
from rectify.examples import songyuan
from scenario import SYSTEM as SYSTEM  # re-exported: API tests have taken the system actor from here
from scenario import issue_tokens, load_reference

GRAPHQL_TRANSPORT_WS = "graphql-transport-ws"
#: The reference finding whose clean-ups (大扫除) the notice counts.
CLEAN_UPS = "人居环境品质有效提升"
#: What both flavours set: the time zone the reference data's dates are meant in.
BASE_ENV = {"RECTIFY_TIMEZONE": "Asia/Shanghai"}


class HttpClient(Protocol):
    """What the tests use of an HTTP client: httpx's, or Starlette's test client (built on httpx2)."""

    headers: Any

    def get(self, url: str, **kwargs: Any) -> Any: ...
    def post(self, url: str, **kwargs: Any) -> Any: ...
    def close(self) -> None: ...


class Endpoint(Protocol):
    """Something that answers HTTP for the app: a real server, or the app in this process."""

    def http(self, headers: dict[str, str]) -> HttpClient: ...
    def log(self) -> str: ...
    def stop(self) -> None: ...


#: The TLS context of every HTTP client of the tests (the harness's, and httpx's one-off calls given it as
#: `verify=`): a client that builds its own spends some 25 ms of CPU on it, even for the plain HTTP of the tests,
#: and the tests make a client for each role they ask as and for many single requests.
TLS = httpx.create_ssl_context()
#: The client of the harness's own requests (health polls while a server starts or catches up, bursts of writes),
#: which come every 20 to 100 ms.
PROBE = httpx.Client(verify=TLS)


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

    def http(self, headers: dict[str, str]) -> HttpClient:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=TLS)

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


def start_worker(database_url: str, *args: str) -> subprocess.Popen[bytes]:
    """`rectify project`, the projection worker, over `database_url` (its stderr kept for a failing test)."""
    command = [sys.executable, "-m", "rectify.cli", "--database-url", database_url, "project", *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_server(database_url: str, *extra: str, env: dict[str, str] | None = None) -> Server:
    """`rectify serve` on a free port, once it answers /health (another try if the port was taken meanwhile)."""
    for attempt in itertools.count(1):
        port = free_port()
        environ = {**os.environ, **BASE_ENV, **(env or {})}
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


def wait_until_caught_up(health: Callable[[], Any]) -> None:
    """Until /health shows the views at the head of the log: a test starts from the scenario fully projected
    (just after startup a query could otherwise race the runner's first catch-up)."""
    deadline = time.monotonic() + 30
    while (answer := health().json())["views"] < answer["head"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the views did not catch up with the log in 30 s: {answer}")
        time.sleep(0.02)


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Callable[[], str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log()}")
        try:
            if PROBE.get(f"{url}/health", timeout=1).status_code == 200 and process.poll() is None:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # after a 503 too (the views still behind): asking again at once only spins
    process.kill()
    process.wait()
    raise RuntimeError("server did not come up in 30 s")


class LocalApp:
    """The app `rectify serve` serves, run in this process: its lifespan (store, views, runner, feed) runs on
    one event loop, as under one uvicorn worker, and every client sends its requests into that loop."""

    def __init__(self, config: settings.Settings, *, run_projector: bool = True) -> None:
        self.asgi = web_app(config, run_projector=run_projector)
        self.errors = ErrorLog()
        logging.getLogger("rectify").addHandler(self.errors)
        self.host = TestClient(self.asgi)
        try:
            self.host.__enter__()  # runs the lifespan: the app is up once this returns
        except BaseException:
            logging.getLogger("rectify").removeHandler(self.errors)
            raise
        if run_projector:
            try:
                wait_until_caught_up(lambda: self.host.get("/health"))
            except BaseException:
                self.stop()
                raise

    def http(self, headers: dict[str, str]) -> HttpClient:
        client = TestClient(self.asgi, headers=dict(headers))
        client.portal = self.host.portal  # the host's event loop, where the lifespan runs: one loop, one app
        return client

    def log(self) -> str:
        return self.errors.text()

    def stop(self) -> None:
        try:
            self.host.__exit__(None, None, None)
        finally:
            logging.getLogger("rectify").removeHandler(self.errors)


class ErrorLog(logging.Handler):
    """What the app logged at ERROR or above while it ran (as a served app's stderr would show it)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.records)


@dataclass
class World:
    """The reference scenario in a store, tokens for every role, and the app over it (see the module's doc)."""

    database_url: str
    loaded: songyuan.Loaded
    tokens: dict[str, str]
    endpoint: Endpoint
    clients: list[HttpClient] = field(default_factory=list)

    def client(self, role: str = "PUBLIC") -> GraphQLClient:
        return self.client_for(self.endpoint, role)

    def client_for(self, endpoint: Endpoint, role: str = "PUBLIC") -> GraphQLClient:
        """A client of another app or server over the same store (e.g. one started with other settings)."""
        return GraphQLClient(self.http(role, endpoint))

    def http(self, role: str = "PUBLIC", endpoint: Endpoint | None = None) -> HttpClient:
        """A plain HTTP client (for pages and raw requests), with the role's token if it has one."""
        headers = {} if role == "PUBLIC" else {"Authorization": f"Bearer {self.tokens[role]}"}
        http = (endpoint or self.endpoint).http(headers)
        self.clients.append(http)
        return http

    def get(self, path: str) -> Any:
        """A page, as the public asks for it."""
        return self.http().get(path)

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

    @property
    def server(self) -> Server:
        if isinstance(self.endpoint, Server):
            return self.endpoint
        raise AttributeError("this world runs the app in-process; a test of the transport takes `served_world`")

    def ws(self, role: str = "PUBLIC", **connect: Any) -> contextlib.AbstractAsyncContextManager[WsSession]:
        """A graphql-transport-ws session with the served app (subscriptions are the server's to test)."""
        return self.server.ws(self.tokens.get(role), **connect)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.endpoint.stop()


@dataclass
class GraphQLClient:
    http: HttpClient

    def post(self, query: str, variables: dict[str, Any] | None = None) -> Any:  # an httpx or httpx2 response
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


def write_world(database_url: str) -> tuple[songyuan.Loaded, dict[str, str]]:
    """The reference scenario written into `database_url`, and a token for every role."""
    app = open_application(settings.load({}, database_url=database_url))
    try:
        loaded = load_reference(app)
        return loaded, issue_tokens(app, loaded.unit_id)
    finally:
        app.close()


def load_world(database_url: str) -> tuple[songyuan.Loaded, dict[str, str]]:
    """The reference scenario in the empty store at `database_url`, and a token for every role: a copy of what
    `write_world` wrote once per process (see store_templates)."""
    return store_templates.fill(database_url, "world", write_world)


@contextlib.contextmanager
def checked(built: World) -> Iterator[World]:
    """The world, closed on the way out; its app's log must then show no unexpected (masked) error: each is a bug."""
    try:
        yield built
    finally:
        built.close()
    assert "unexpected error" not in built.endpoint.log(), built.endpoint.log()


@contextlib.contextmanager
def open_world(database_url: str, *, env: dict[str, str] | None = None, run_projector: bool = True) -> Iterator[World]:
    """The reference scenario in `database_url`, with the app over it in this process (settings from `env`;
    `run_projector=False` as `rectify serve --no-projector`)."""
    loaded, tokens = load_world(database_url)
    config = settings.load({**BASE_ENV, **(env or {})}, database_url=database_url)
    with checked(World(database_url, loaded, tokens, LocalApp(config, run_projector=run_projector))) as built:
        yield built


#: The stores a module-scoped world is opened on, each in turn.
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def per_store(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    opener: Callable[[str], contextlib.AbstractContextManager[World]],
) -> Iterator[World]:
    """For a fixture parametrised by STORES: the world `opener` opens on a fresh SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        with opener(f"sqlite:///{tmp_path_factory.mktemp('api') / 'rectify.db'}") as built:
            yield built
        return
    with request.getfixturevalue("postgres_schemas")() as url, opener(url) as built:
        yield built


@contextlib.contextmanager
def open_served_world(database_url: str, *serve_args: str, env: dict[str, str] | None = None) -> Iterator[World]:
    """The reference scenario in `database_url`, with `rectify serve` (uvicorn) over it in a subprocess."""
    loaded, tokens = load_world(database_url)
    server = start_server(database_url, *serve_args, env=env)
    with checked(World(database_url, loaded, tokens, server)) as built:
        if "--no-projector" not in serve_args:
            wait_until_caught_up(lambda: PROBE.get(f"{server.url}/health", timeout=10))
        yield built
