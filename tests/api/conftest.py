"""A real uvicorn server (`rectify serve` in a subprocess) and a real GraphQL client over HTTP and WebSocket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from rectify import settings
from rectify.access import Actor, Role
from rectify.bootstrap import open_application
from rectify.examples import songyuan

SYSTEM = Actor("tests", Role.SYSTEM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """One `rectify serve` process."""

    url: str
    process: subprocess.Popen[bytes]

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.graphql_url.replace("http://", "ws://")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


def start_server(database_url: str, *extra: str, env: dict[str, str] | None = None) -> Server:
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
    process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Server(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
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
        headers = {} if role == "PUBLIC" else {"Authorization": f"Bearer {self.tokens[role]}"}
        http = httpx.Client(base_url=self.server.url, headers=headers, timeout=30)
        self.clients.append(http)
        return GraphQLClient(http)


@dataclass
class GraphQLClient:
    http: httpx.Client

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        return json.loads(response.text)

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self(query, variables)
        assert "errors" not in answer, answer
        return answer["data"]


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


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    app = open_application(settings.load({}, database_url=database_url))
    try:
        loaded = songyuan.load(app, SYSTEM)
    finally:
        app.close()
    tokens = issue_tokens(database_url, loaded.unit_id)
    server = start_server(database_url)
    built = World(database_url, loaded, tokens, server)
    yield built
    for client in built.clients:
        client.close()
    server.stop()
