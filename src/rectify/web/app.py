"""The Starlette app served by uvicorn: routes and middleware, the WebSocket side of /graphql, assets, health."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.websocket_origin import normalize_allowed_origins
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler

from rectify.access import PUBLIC
from rectify.bootstrap import System, open_system
from rectify.graphql.context import Context
from rectify.graphql.schema import build_schema
from rectify.projections.feed import Feed
from rectify.settings import Limits, Settings
from rectify.web import headers
from rectify.web.evidence import EvidenceDownloads
from rectify.web.headers import SecurityHeaders
from rectify.web.health import HealthCheck
from rectify.web.ledger import LedgerDownloads
from rectify.web.notices import NoticePages
from rectify.web.tokens import Tokens
from rectify.web.transport import BadCredentials, Endpoint, bearer, decode_json, kind_of

log = logging.getLogger(__name__)

HERE = Path(__file__).parent


@dataclass(frozen=True)
class WebSettings:
    max_body_bytes: int = 64 * 1024
    max_upload_files: int = 4  # files in one multipart request (each up to RECTIFY_EVIDENCE_MAX_BYTES)
    allowed_origins: tuple[str, ...] = ()
    connection_init_timeout: float | None = None  # None: the RECTIFY_WS_INIT_TIMEOUT setting
    max_subscriptions: int = 10
    token_cache_seconds: float = 5.0
    max_json_nesting: int = 32  # levels of objects and arrays in a request body or WebSocket message
    limits: Limits = field(default_factory=Limits)
    assets: Path | None = None  # node_modules with graphiql, react, react-dom


@dataclass(frozen=True)
class Malformed:
    """A WebSocket message that cannot be handled, and why (the connection is closed with 4400)."""

    reason: str


def malformed(message: object) -> str | None:
    """Why a decoded graphql-transport-ws message cannot be handled, or None if it can."""
    if isinstance(message, Malformed):
        return message.reason
    if not isinstance(message, dict):
        return f"a message must be a JSON object, not {kind_of(message)}"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a string `type`"
    payload = message.get("payload")
    if kind in ("subscribe", "complete"):
        identifier = message.get("id")
        if not isinstance(identifier, str) or not identifier:
            return f"a {kind} message needs a string `id`"
    if kind != "subscribe":
        return None
    if not isinstance(payload, dict):
        return "a subscribe message needs a `payload` object"
    if not isinstance(payload.get("query"), str):
        return "a subscribe payload needs a string `query`"
    if not isinstance(payload.get("operationName"), str | None):
        return "`operationName` must be a string or null"
    for name in ("variables", "extensions"):
        if not isinstance(payload.get(name), dict | None):
            return f"`{name}` must be an object or null"
    return None


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, closing with 4400 (and why) on any message it cannot handle."""

    async def handle_message(self, message: Any) -> None:
        problem = malformed(message)
        if problem is not None:
            log.info("WebSocket message refused: %s", problem)
            await self.handle_invalid_message(problem.encode("utf-8")[:123].decode("utf-8", "ignore"))
            return
        await super().handle_message(message)


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view for the WebSocket (graphql-transport-ws): our context, the token checked
    on connection_init, and malformed messages refused. HTTP is the transport module's Endpoint."""

    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, state: AppState, **kwargs: Any) -> None:
        super().__init__(state.schema, **kwargs)
        self.state = state

    async def get_context(self, request: Any, response: Any) -> Context:
        actor = request.scope.get("state", {}).get("actor", PUBLIC)
        system = self.state.system
        return Context(system.app, system.queries, self.state.feed, actor=actor, request=request, response=response)

    async def on_ws_connect(self, context: Context) -> Any:
        try:
            secret = connection_secret(context.connection_params or {}, context.request.headers)
        except BadCredentials as refused:
            log.info("WebSocket connection refused: %s", refused.message)
            raise ConnectionRejectionError({"message": refused.message}) from None
        if secret is not None:
            actor = await self.state.tokens.resolve(secret)
            if actor is None:
                log.info("WebSocket connection refused: the token is invalid or revoked")
                raise ConnectionRejectionError({"message": "invalid or revoked token"})
            context.actor = actor
            context.recheck = lambda: self.state.tokens.resolve(secret)
        return {"role": context.actor.role.value}

    def decode_json(self, data: str | bytes) -> object:
        """A WebSocket message, decoded; Malformed (not an exception, which would drop the connection
        without a close code) when it is too large, not JSON, or nested too deep."""
        limit = self.state.web.max_body_bytes
        if len(data) > limit // 4 and len(data.encode("utf-8") if isinstance(data, str) else data) > limit:
            return Malformed(f"the message is over {limit} bytes")
        try:
            return decode_json(data, self.state.web.max_json_nesting)
        except ValueError as error:
            return Malformed(f"the message is {error}")

    def encode_json(self, data: object) -> str:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    async def render_graphql_ide(self, request: Any) -> HTMLResponse:
        page = (HERE / "static" / "graphiql.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers={"Content-Security-Policy": headers.GRAPHIQL})


def connection_secret(params: Mapping[str, Any], handshake: Mapping[str, str]) -> str | None:
    """The token a WebSocket presents: `authorization` (any case) or `token` in connection_init, else
    the handshake's Authorization header; None if none. BadCredentials for anything malformed."""
    given = [value for name, value in params.items() if name.lower() == "authorization"]
    if "token" in params:
        given.append(params["token"] if not isinstance(params["token"], str) else f"Bearer {params['token']}")
    if len(given) > 1:
        raise BadCredentials("connection_init gives more than one credential")
    if given:
        value = given[0]
        if not isinstance(value, str):
            raise BadCredentials(f"`authorization` must be a string, not {kind_of(value)}")
        return bearer(value)
    return bearer(handshake.get("authorization"))


@dataclass
class AppState:
    settings: Settings
    web: WebSettings
    system: System
    feed: Feed
    tokens: Tokens
    schema: Any
    health: HealthCheck


def create_app(
    settings: Settings,
    web: WebSettings = WebSettings(),
    *,
    run_projector: bool = True,
    today: Callable[[], date] | None = None,
    started: Callable[[], None] | None = None,
) -> Starlette:
    """The app; the system (store, views, runner, feed) is opened at startup and closed at shutdown.
    `started` is called once it is open, before the first request (`rectify serve` settles its heap)."""
    holder: dict[str, AppState] = {}
    endpoints: dict[str, Endpoint] = {}  # the GraphQL endpoint, put there at startup

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        system = await run_in_threadpool(
            open_system, settings, run_projector=run_projector, maintain_views=run_projector, today=today
        )
        feed = Feed(system.app, system.store, system.runner).start()
        tokens = Tokens(system.app.authenticate, web.token_cache_seconds)
        feed.revocation_listeners.append(tokens.forget)  # a revocation heard anywhere ends the token here
        state = AppState(
            settings, web, system, feed, tokens, build_schema(web.limits), HealthCheck(system, settings.health)
        )
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
        endpoints["graphql"] = app.state.endpoint = Endpoint(state, view)
        if started is not None:
            started()
        try:
            yield
        finally:
            feed.stop()
            state.health.close()
            await run_in_threadpool(system.close)

    class GraphQLRoute:
        """The endpoint, built at startup (it needs the opened system)."""

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await endpoints["graphql"](scope, receive, send)

    graphql = GraphQLRoute()

    async def health(request: Request) -> Response:
        return await holder["state"].health.answer()  # rectify.web.health

    async def home(request: Request) -> Response:
        return RedirectResponse("/dashboard")

    async def dashboard(request: Request) -> Response:
        page = HERE / "static" / "dashboard.html"
        csp = {"Content-Security-Policy": headers.DASHBOARD}
        return FileResponse(page, media_type="text/html; charset=utf-8", headers=csp)

    pages = NoticePages(lambda: holder["state"].system.queries)
    evidence = EvidenceDownloads(lambda: holder["state"])
    ledgers = LedgerDownloads(lambda: holder["state"])
    routes: list[Any] = [
        Route("/", home),
        Route("/health", health),
        Route("/graphql", graphql, methods=["GET", "POST", "OPTIONS"]),
        WebSocketRoute("/graphql", graphql),
        Route("/dashboard", dashboard),
        Mount("/dashboard", app=StaticFiles(directory=HERE / "static"), name="dashboard-files"),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        Route("/assets/plotly.min.js", plotly_bundle),
        *pages.routes(),
        *evidence.routes(),
        *ledgers.routes(),
    ]
    assets = web.assets or default_assets()
    if assets is not None and assets.is_dir():
        # Only the packages the pages load (package.json's dependencies), not every installed one.
        routes += [Mount(f"/assets/{name}", app=StaticFiles(directory=assets / name)) for name in ASSET_PACKAGES]
    middleware = [
        Middleware(SecurityHeaders),
        # Same origin only, unless RECTIFY_ALLOWED_ORIGINS names others (as for the WebSocket).
        Middleware(
            CORSMiddleware,
            allow_origins=sorted(normalize_allowed_origins(web.allowed_origins)),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept", "GraphQL-Require-Preflight"],
            max_age=600,
        ),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


#: The npm packages of package.json's dependencies, which the pages load from /assets/<name>/.
ASSET_PACKAGES = ("graphiql", "graphql-ws", "react", "react-dom")


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
