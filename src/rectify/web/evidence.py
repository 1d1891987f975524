"""Evidence downloads: a file and an image's thumbnail, for whoever may see the attachment, and never run.

`GET /findings/{finding}/evidence/{attachment}` sends the file as an attachment (Content-Disposition, with its
name), `…/thumbnail` a small JPEG of an image inline. The caller is who the `Authorization: Bearer` token says
(the public without one); the front door's read policy decides, and anything the caller may not see (an internal
attachment, another unit's internal finding, a withdrawn attachment for the public) is a 404 like no such thing.
Every answer carries nosniff (as every answer does) and a content security policy that runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from rectify.access import PUBLIC, Actor
from rectify.evidence.sniff import download_name
from rectify.web.transport import BadCredentials, bearer

if TYPE_CHECKING:
    from rectify.web.app import AppState

#: A file is shown by the browser's own viewer at most, in a sandbox: no script, no plugin, nothing loaded.
FILE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"


def content_disposition(kind: str, name: str) -> str:
    """RFC 6266: an ASCII fallback name, and the real one in UTF-8 (filename*)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name) or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class EvidenceDownloads:
    def __init__(self, state: Callable[[], AppState]) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/findings/{finding_id}/evidence/{attachment_id}", self.file),
            Route("/findings/{finding_id}/evidence/{attachment_id}/thumbnail", self.thumbnail),
        ]

    async def _caller(self, request: Request) -> Actor:
        secret = bearer(request.headers.get("authorization"))
        if secret is None:
            return PUBLIC
        actor = await self.state().tokens.resolve(secret)
        if actor is None:
            raise BadCredentials("invalid or revoked token", "invalid_token")
        return actor

    async def _attachment(self, request: Request) -> tuple[Any, Response | None]:
        try:
            actor = await self._caller(request)
        except BadCredentials as refused:
            return None, PlainTextResponse(refused.message, status_code=401, headers=refused.headers)
        try:
            finding_id = UUID(request.path_params["finding_id"])
            attachment_id = UUID(request.path_params["attachment_id"])
        except ValueError:
            return None, not_found()
        reading = self.state().system.queries.reading(actor)
        found = await run_in_threadpool(reading.attachment, finding_id, attachment_id)
        return found, (None if found is not None else not_found())

    async def file(self, request: Request) -> Response:
        found, refusal = await self._attachment(request)
        if refusal is not None:
            return refusal
        files = self.state().system.app.files
        assert files is not None
        headers = {
            "Content-Disposition": content_disposition("attachment", download_name(found.file_name, found.media_type)),
            "Content-Length": str(found.size),
            "Content-Security-Policy": FILE_POLICY,
            "ETag": f'"{found.sha256}"',
            "Cache-Control": "private, no-cache",
        }
        return StreamingResponse(files.chunks(found.sha256), media_type=found.media_type, headers=headers)

    async def thumbnail(self, request: Request) -> Response:
        found, refusal = await self._attachment(request)
        if refusal is not None:
            return refusal
        files = self.state().system.app.files
        assert files is not None
        image = await run_in_threadpool(files.thumbnail, found.sha256)
        if image is None:
            return not_found("no thumbnail: not an image rectify can read")
        headers = {
            "Content-Disposition": content_disposition("inline", f"{found.file_name}.thumbnail.jpg"),
            "Content-Security-Policy": FILE_POLICY,
            "ETag": f'"{found.sha256}-thumbnail"',
            "Cache-Control": "private, no-cache",
        }
        return Response(image, media_type="image/jpeg", headers=headers)


def not_found(message: str = "no such evidence") -> Response:
    return PlainTextResponse(message, status_code=404)
