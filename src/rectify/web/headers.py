"""The headers every answer carries: no sniffing, no framing, no referrer, and a content security policy.

Each kind of page has its own policy, set where the page is answered; anything else (the API's
JSON, assets, /health, errors) gets the strictest one, which loads nothing and runs nothing. No
page runs inline script: every script is a file the app serves itself. Styles may be inline on
the pages whose libraries set them (Plotly and GraphiQL write style attributes) and on notice
pages, whose one stylesheet is in the page.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Everywhere: no other site may frame a page, and nothing may change where a form or <base> points.
_LOCKED = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

#: The API's JSON, assets, /health and errors: a document that loads and runs nothing.
STRICT = f"default-src 'none'; {_LOCKED}"

#: The dashboard: its own scripts and styles, Plotly's inline styles and images, and its own
#: origin for GraphQL over HTTP and the WebSocket.
DASHBOARD = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    f"font-src 'self' data:; connect-src 'self'; object-src 'none'; {_LOCKED}"
)

#: GraphiQL: the same as the dashboard (its editor and React set inline styles too).
GRAPHIQL = DASHBOARD

#: Notice pages (HTML): text and their own stylesheet; no script at all, whatever a notice holds.
NOTICE = f"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; {_LOCKED}"

#: A notice's Markdown: text, shown in a sandbox if a browser shows it at all.
MARKDOWN = f"default-src 'none'; sandbox; {_LOCKED}"

#: A notice's PDF: the browser's own viewer shows it; a stricter policy blocks that viewer in some
#: browsers (it counts as a plugin), and a PDF's scripts run in the viewer's sandbox anyway.
PDF = _LOCKED

ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",  # frame-ancestors, for browsers that predate it
}


class SecurityHeaders:
    """ASGI middleware: adds the headers above to every HTTP answer (a page's own policy wins)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers[name] = value
                if "content-security-policy" not in headers:
                    headers["content-security-policy"] = STRICT
            await send(message)

        await self.app(scope, receive, with_headers)
