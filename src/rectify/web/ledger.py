"""台账 downloads: a round's ledger as an .xlsx workbook, now or as of a point, and the empty template to fill in.

`GET /rounds/{round}/ledger.xlsx?asOf=…` is the ledger as the caller may see it (the front door shapes it: the
public never sees an internal finding, nor its figures, nor the position of an event it may not see); `asOf` is a
log position (1200) or a record time (2026-03-12T18:00). `GET /rounds/{round}/ledger-template.xlsx` is the
template titled for the round, with its units and categories to pick. The caller is who the `Authorization:
Bearer` token says, the public without one; a round the caller may not see is a 404 like no such round. Both are
attachments (Content-Disposition) and, as every answer, nosniff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from rectify.domain.errors import InvalidInput
from rectify.projections.progress import Scope
from rectify.queries import Reading
from rectify.web.evidence import FILE_POLICY, EvidenceDownloads, content_disposition, not_found
from rectify.web.transport import BadCredentials

if TYPE_CHECKING:
    from rectify.web.app import AppState

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class LedgerDownloads(EvidenceDownloads):
    """Tells the caller as the evidence downloads do (the bearer token, or the public)."""

    def __init__(self, state: Callable[[], AppState]) -> None:
        super().__init__(state)

    def routes(self) -> list[Route]:
        return [
            Route("/rounds/{round_id}/ledger.xlsx", self.ledger),
            Route("/rounds/{round_id}/ledger-template.xlsx", self.template),
        ]

    async def _reading(self, request: Request) -> tuple[Reading, UUID, None] | tuple[None, None, Response]:
        try:
            actor = await self._caller(request)
        except BadCredentials as refused:
            return None, None, PlainTextResponse(refused.message, status_code=401, headers=refused.headers)
        try:
            round_id = UUID(request.path_params["round_id"])
        except ValueError:
            return None, None, not_found("no such round")
        return self.state().system.queries.reading(actor), round_id, None

    async def ledger(self, request: Request) -> Response:
        reading, round_id, refusal = await self._reading(request)
        if refusal is not None:
            return refusal
        assert reading is not None and round_id is not None
        at = None
        given = request.query_params.get("asOf")
        if given:
            from rectify.sheets import writer  # openpyxl: imported on the first export, not by every server start

            try:
                at = writer.as_of(given, self.state().settings.timezone)
            except InvalidInput as error:
                return PlainTextResponse(error.message, status_code=400)
        found = await run_in_threadpool(reading.round, round_id)
        if found is None:
            return not_found("no such round")
        try:
            exported = await run_in_threadpool(reading.ledger_workbook, Scope(round_id=round_id), at)
        except InvalidInput as error:  # e.g. a position past the log's head
            return PlainTextResponse(error.message, status_code=400)
        name = f"整改台账-{round_id}-{exported.position}.xlsx"
        return workbook(exported.data, name)

    async def template(self, request: Request) -> Response:
        reading, round_id, refusal = await self._reading(request)
        if refusal is not None:
            return refusal
        assert reading is not None and round_id is not None
        data = await run_in_threadpool(reading.ledger_template, round_id)
        if data is None:
            return not_found("no such round")
        return workbook(data, f"整改台账模板-{round_id}.xlsx")


def workbook(data: bytes, name: str) -> Response:
    headers = {
        "Content-Disposition": content_disposition("attachment", name),
        "Content-Security-Policy": FILE_POLICY,
        "Cache-Control": "private, no-cache",
    }
    return Response(data, media_type=XLSX, headers=headers)
