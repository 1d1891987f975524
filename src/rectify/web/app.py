"""The Starlette app served by uvicorn: /graphql (HTTP and graphql-transport-ws), assets, health."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import GraphQLError, OperationType, parse
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from rectify.access import PUBLIC, Actor
from rectify.bootstrap import System, open_system
from rectify.graphql.context import Context
from rectify.graphql.guard import CostExceeded, vet
from rectify.graphql.resolvers import LOG_FIELDS
from rectify.graphql.schema import build_schema
from rectify.settings import Limits, Settings
from rectify.web.feed import Feed
from rectify.web.notices import NoticePages

log = logging.getLogger(__name__)

HERE = Path(__file__).parent


@dataclass(frozen=True)
class WebSettings:
    max_body_bytes: int = 64 * 1024
    allowed_origins: tuple[str, ...] = ()
    connection_init_timeout: float | None = None  # None: the RECTIFY_WS_INIT_TIMEOUT setting
    max_subscriptions: int = 10
    token_cache_seconds: float = 5.0
    response_cache_entries: int = 2048
    limits: Limits = field(default_factory=Limits)
    assets: Path | None = None  # node_modules with graphiql, react, react-dom


class Tokens:
    """Bearer tokens to actors, remembered for a few seconds (a revocation takes effect within them)."""

    def __init__(self, system: System, ttl: float) -> None:
        self.system = system
        self.ttl = ttl
        self._known: OrderedDict[str, tuple[float, Actor | None]] = OrderedDict()
        self._lock = threading.Lock()  # lookups run in the thread pool

    MISS = object()

    def remembered(self, secret: str) -> Actor | None | object:
        """The actor of a token looked up in the last few seconds, or MISS (no store access)."""
        with self._lock:
            hit = self._known.get(secret)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else self.MISS

    async def resolve(self, secret: str) -> Actor | None:
        """The token's actor; only a token not remembered is looked up in the store, in a thread."""
        actor = self.remembered(secret)
        if actor is self.MISS:
            return await run_in_threadpool(self.lookup, secret)
        return actor  # type: ignore[return-value] # not MISS here, so an Actor or None

    def lookup(self, secret: str) -> Actor | None:
        now = time.monotonic()
        actor = self.system.app.authenticate(secret)
        with self._lock:
            self._known[secret] = (now + self.ttl, actor)
            while len(self._known) > 10_000:
                self._known.popitem(last=False)
        return actor


def bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class GraphQLView(GraphQL):
    """Strawberry's ASGI view, with our context, token check on connection_init, and our IDE page."""

    def __init__(self, state: AppState, **kwargs: Any) -> None:
        super().__init__(state.schema, **kwargs)
        self.state = state

    async def get_context(self, request: Any, response: Any) -> Context:  # type: ignore[override] # strawberry declares None; the context it hands on may be any object
        actor = request.scope.get("state", {}).get("actor", PUBLIC)
        return Context(system=self.state.system, feed=self.state.feed, actor=actor, request=request, response=response)

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override] # strawberry declares the context None; ours is a Context
        params = context.connection_params or {}
        secret = bearer(str(params.get("authorization") or params.get("Authorization") or "")) or params.get("token")
        secret = secret or bearer(context.request.headers.get("authorization"))
        if secret:
            actor = await self.state.tokens.resolve(str(secret))
            if actor is None:
                raise ConnectionRejectionError({"message": "invalid or revoked token"})
            context.actor = actor
            context.recheck = lambda: self.state.tokens.resolve(str(secret))
        return {"role": context.actor.role.value}

    def encode_json(self, data: object) -> str:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    async def render_graphql_ide(self, request: Any) -> HTMLResponse:
        return HTMLResponse((HERE / "static" / "graphiql.html").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Operation:
    type: OperationType
    root_fields: frozenset[str]  # the top-level fields it selects, through fragments too


@lru_cache(maxsize=1024)
def operation_of(query: str, operation_name: str | None) -> Operation | None:
    """The operation a request would run, or None if it cannot be told (then: not cached)."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if len(chosen) != 1:
        return None
    return Operation(chosen[0].operation, frozenset(root_fields(document, chosen[0].selection_set)))


def root_fields(
    document: DocumentNode, selection_set: SelectionSetNode, seen: frozenset[str] = frozenset()
) -> set[str]:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names: set[str] = set()
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            names |= root_fields(document, selection.selection_set, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                names |= root_fields(document, fragment.selection_set, seen | {selection.name.value})
    return names


class Endpoint:
    """/graphql: body cap, bearer token, and the response cache in front of Strawberry.

    A query's answer depends on its document and variables, the caller (role, unit, and the
    name `me` shows), the log position of the views and today's date (for lights): with all of
    these in the key, a cached answer is the answer. Answers that read the log itself rather than
    the views (the head, the event pages) move without the views and are never cached.
    """

    def __init__(self, state: AppState, view: ASGIApp) -> None:
        self.state = state
        self.view = view
        self.cache: OrderedDict[tuple[Any, ...], tuple[int, list[tuple[bytes, bytes]], bytes]] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.view(scope, receive, send)
            return
        headers = dict(scope["headers"])
        state = scope.setdefault("state", {})
        secret = bearer(headers.get(b"authorization", b"").decode("latin-1"))
        if secret:
            actor = await self.state.tokens.resolve(secret)
            if actor is None:
                await JSONResponse({"errors": [{"message": "invalid or revoked token"}]}, 401)(scope, receive, send)
                return
            state["actor"] = actor
        if scope["method"] != "POST":
            await self.view(scope, receive, send)
            return
        body = await self._body(scope, receive, send, headers)
        if body is None:
            return
        refused = await self._over_cost(body)
        if refused is not None:
            await refused(scope, receive, send)
            return
        actor = state.get("actor", PUBLIC)
        key = (body, actor, self.state.feed.position, self.state.system.read.today())
        cached = self.cache.get(key)
        if cached is not None:
            self.cache.move_to_end(key)
            status, response_headers, content = cached
            await send({"type": "http.response.start", "status": status, "headers": response_headers})
            await send({"type": "http.response.body", "body": content})
            return
        captured: dict[str, Any] = {"chunks": []}

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], message["headers"]
            elif message["type"] == "http.response.body":
                captured["chunks"].append(message.get("body", b""))
            await send(message)

        await self.view(scope, replay, capture)
        content = b"".join(captured["chunks"])
        if captured.get("status") == 200 and self._cacheable(body, content):
            self.cache[key] = (200, captured["headers"], content)
            while len(self.cache) > self.state.web.response_cache_entries:
                self.cache.popitem(last=False)

    async def _over_cost(self, body: bytes) -> Response | None:
        """A 400 for a document over its cost limits, worked out in a worker thread (the event loop
        stays free whatever the document); None for anything else, which the schema then answers."""
        try:
            request = json.loads(body)
        except ValueError:
            return None
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return None
        errors = await run_in_threadpool(vet, self.state.schema._schema, request["query"], self.state.web.limits)
        over = [e for e in errors if isinstance(e, CostExceeded)]
        if not over:
            return None
        return JSONResponse({"errors": [e.formatted for e in over]}, 400)

    async def _body(self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]) -> bytes | None:
        limit = self.state.web.max_body_bytes
        declared = headers.get(b"content-length")
        too_large = PlainTextResponse(f"request body over {limit} bytes", 413)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await too_large(scope, receive, send)
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_large(scope, receive, send)
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    @staticmethod
    def _cacheable(body: bytes, content: bytes) -> bool:
        try:
            request = json.loads(body)
        except ValueError:
            return False
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return False
        operation = operation_of(request["query"], request.get("operationName"))
        if operation is None or operation.type is not OperationType.QUERY or operation.root_fields & LOG_FIELDS:
            return False
        return b'"errors"' not in content


@dataclass
class AppState:
    settings: Settings
    web: WebSettings
    system: System
    feed: Feed
    tokens: Tokens
    schema: Any


class StallWatch:
    """Notices views that stay behind the log without moving for longer than `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._views = -1
        self._since = 0.0

    def observe(self, head: int, views: int, now: float) -> float | None:
        """The seconds the views have been stuck behind, once that is longer than allowed; else None."""
        if views >= head or views != self._views:
            self._views, self._since = views, now
            return None
        stuck = now - self._since
        return stuck if stuck > self.seconds else None


def create_app(
    settings: Settings,
    web: WebSettings = WebSettings(),
    *,
    run_projector: bool = True,
    today: Callable[[], date] | None = None,
) -> Starlette:
    """The app; the system (store, views, runner, feed) is opened at startup and closed at shutdown."""
    holder: dict[str, AppState] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        system = await run_in_threadpool(
            open_system, settings, run_projector=run_projector, maintain_views=run_projector, today=today
        )
        feed = Feed(system).start()
        state = AppState(settings, web, system, feed, Tokens(system, web.token_cache_seconds), build_schema(web.limits))
        holder["state"] = state
        app.state.rectify = state
        view = GraphQLView(
            state,
            graphql_ide="graphiql",
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(
                seconds=web.connection_init_timeout
                if web.connection_init_timeout is not None
                else settings.ws_init_timeout
            ),
            max_subscriptions_per_connection=web.max_subscriptions,
            allowed_origins=web.allowed_origins,
        )
        holder["endpoint"] = Endpoint(state, view)  # type: ignore[assignment] # the holder keeps the endpoint beside the state
        try:
            yield
        finally:
            feed.stop()
            await run_in_threadpool(system.close)

    class GraphQLRoute:
        """The endpoint, built at startup (it needs the opened system)."""

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await holder["endpoint"](scope, receive, send)  # type: ignore[operator] # the endpoint, put there at startup

    graphql = GraphQLRoute()

    stalls = StallWatch(settings.stall_seconds)

    async def health(request: Request) -> Response:
        """Fails (503) while this process's projector keeps failing, or while the views stay behind
        the log without moving (no worker keeps them: `serve --no-projector` needs `rectify project`)."""
        state = holder["state"]
        head, views = await run_in_threadpool(lambda: (state.system.app.head(), state.system.store.tracking_position()))
        problems = []
        runner = state.system.runner
        if runner is not None and runner.error is not None:
            problems.append("the projector's last batch failed; it is being retried")
        stalled = stalls.observe(head, views, time.monotonic())
        if stalled is not None:
            problems.append(f"the views have stayed {head - views} events behind the log for {stalled:.0f} s")
        answer = {"ok": not problems, "head": head, "views": views, "problems": problems}
        return JSONResponse(answer, status_code=503 if problems else 200)

    async def home(request: Request) -> Response:
        return RedirectResponse("/dashboard")

    async def dashboard(request: Request) -> Response:
        return FileResponse(HERE / "static" / "dashboard.html", media_type="text/html; charset=utf-8")

    pages = NoticePages(lambda: holder["state"].system.notices, lambda: holder["state"].system.read.today())
    routes: list[Any] = [
        Route("/", home),
        Route("/health", health),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/dashboard", dashboard),
        Mount("/dashboard", app=StaticFiles(directory=HERE / "static"), name="dashboard-files"),
        Route("/assets/plotly.min.js", plotly_bundle),
        *pages.routes(),
    ]
    assets = web.assets or default_assets()
    if assets is not None and assets.is_dir():
        routes.append(Mount("/assets", app=StaticFiles(directory=assets), name="assets"))
    return Starlette(routes=routes, lifespan=lifespan)


async def plotly_bundle(request: Request) -> Response:
    """plotly.js, as the plotly Python package ships it (a declared dependency; no CDN)."""
    return FileResponse(plotly_js(), media_type="application/javascript", headers={"Cache-Control": "max-age=86400"})


@lru_cache(maxsize=1)
def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def default_assets() -> Path | None:
    """The front-end packages the project declares in package.json, installed by `npm ci`."""
    for candidate in (HERE.parents[2] / "node_modules", Path.cwd() / "node_modules"):
        if candidate.is_dir():
            return candidate
    return None
