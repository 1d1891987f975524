"""The public notice pages: what is within its publicity window, each at a stable URL (HTML, Markdown, PDF).

They read as the public through the read side's front door, which keeps each rebuilt notice once
made (a published notice never changes); every answer carries the SHA-256 recorded at publication
and whether the rebuilt text still matches it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from rectify.access import PUBLIC
from rectify.domain.errors import Unavailable
from rectify.notice.service import Check
from rectify.queries import Gone, Queries
from rectify.web import headers

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>巡察整改进展情况通报</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font-family: "Noto Sans CJK SC", "Source Han Sans SC", sans-serif; max-width: 52em; margin: 2em auto;
        padding: 0 1em; color: #111; line-height: 1.6; }}
 h1 {{ font-size: 1.5em; border-bottom: 2px solid #b00; padding-bottom: .3em; }}
 li {{ margin: .8em 0; }} .meta {{ color: #555; font-size: .9em; }} a {{ color: #0645ad; }}
</style></head><body>
<h1>巡察整改进展情况通报</h1>
<p class="meta">以下通报在公开期限内向社会公开。今日：{today}</p>
<ul>{items}</ul>
{empty}
</body></html>"""


class NoticePages:
    def __init__(self, queries: Callable[[], Queries]) -> None:
        self.queries = queries

    def routes(self) -> list[Route]:
        return [
            Route("/notices", self.index),
            Route("/notices/{notice_id}.md", self.markdown),
            Route("/notices/{notice_id}.pdf", self.pdf),
            Route("/notices/{notice_id}/proof", self.proof),
            Route("/notices/{notice_id}", self.page),
        ]

    async def index(self, request: Request) -> Response:
        reading = self.queries().reading(PUBLIC)
        current = await run_in_threadpool(reading.notices_now)
        items = "".join(
            f'<li><a href="/notices/{p.id}">{html.escape(p.title)}</a>'
            f'<div class="meta">公开期限：{p.published_on.isoformat()} 至 {p.window_until.isoformat()}　'
            f'<a href="/notices/{p.id}.md">Markdown</a>　<a href="/notices/{p.id}.pdf">PDF</a>　'
            f"SHA-256 {p.sha256[:16]}…</div></li>"
            for p in current
        )
        empty = "" if current else "<p>当前没有处于公开期限内的通报。</p>"
        page = PAGE.format(today=reading.today.isoformat(), items=items, empty=empty)
        return HTMLResponse(page, headers={"Content-Security-Policy": headers.NOTICE})

    async def _public(self, request: Request) -> Check | Response:
        try:
            notice_id = UUID(request.path_params["notice_id"])
        except ValueError:
            return PlainTextResponse("没有这份通报。", 404)
        found = await run_in_threadpool(self.queries().reading(PUBLIC).published, notice_id)
        if isinstance(found, Check):
            return found
        if isinstance(found, Gone):
            return PlainTextResponse(f"这份通报的公开期限已于 {found.window_until.isoformat()} 结束。", 410)
        return PlainTextResponse("没有这份通报。", 404)  # none, an internal edition, or not yet public

    def _headers(self, check: Check, policy: str) -> dict[str, str]:
        return {
            "X-Notice-SHA256": check.publication.sha256,
            "X-Notice-Verified": "true" if check.ok else "false",
            "X-Notice-Position": str(check.publication.position),
            "Cache-Control": "public, max-age=300",
            "Content-Security-Policy": policy,
        }

    @staticmethod
    def _file_name(check: Check, suffix: str) -> str:
        return f"notice-{check.publication.published_on.isoformat()}.{suffix}"

    async def page(self, request: Request) -> Response:
        """The notice as HTML: what a unit typed is escaped, and the page's policy runs no script at all."""
        found = await self._public(request)
        if isinstance(found, Response):
            return found
        return HTMLResponse(found.rendered.html(), headers=self._headers(found, headers.NOTICE))

    async def markdown(self, request: Request) -> Response:
        """The notice's Markdown as the text it is: a `<script>` a unit typed stands in it as typed, so
        no browser may run it: never sniffed as HTML (nosniff), shown in a sandbox that runs nothing."""
        found = await self._public(request)
        if isinstance(found, Response):
            return found
        disposition = {"Content-Disposition": f'inline; filename="{self._file_name(found, "md")}"'}
        return Response(
            found.rendered.markdown,
            media_type="text/markdown; charset=utf-8",
            headers=self._headers(found, headers.MARKDOWN) | disposition,
        )

    async def pdf(self, request: Request) -> Response:
        found = await self._public(request)
        if isinstance(found, Response):
            return found
        try:
            data = await run_in_threadpool(found.rendered.pdf)
        except RuntimeError as error:
            return PlainTextResponse(str(error), 501)
        disposition = {"Content-Disposition": f'inline; filename="{self._file_name(found, "pdf")}"'}
        return Response(data, media_type="application/pdf", headers=self._headers(found, headers.PDF) | disposition)

    async def proof(self, request: Request) -> Response:
        """The notice's proofs as JSON (`rectify verify-proof FILE --public-key KEY` checks them offline): that the
        log has only grown since the tree head the notice prints, to the signed head at the last position the
        public may see. The same 404 as for no notice when the public may not read it."""
        found = await self._public(request)
        if isinstance(found, Response):
            return found
        try:
            made = await run_in_threadpool(self.queries().reading(PUBLIC).notice_proof, found.publication.notice_id)
        except Unavailable as error:
            return PlainTextResponse(str(error), 503, headers={"Retry-After": "5"})
        if made is None:
            return PlainTextResponse("没有这份通报。", 404)
        disposition = {"Content-Disposition": f'inline; filename="{self._file_name(found, "proof.json")}"'}
        return JSONResponse(made.document, headers={"Cache-Control": "no-store"} | disposition)
