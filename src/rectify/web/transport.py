"""GraphQL over HTTP at /graphql, as the GraphQL-over-HTTP spec says, with the response cache in front.

What a client gets (the spec's draft as the graphql-http audit checks it, 61 of 61):

- The answer comes as `application/graphql-response+json` when the `Accept` header prefers it,
  else as `application/json` (no `Accept`, `*/*`, or `application/json`); an `Accept` that allows
  neither gets 406. Both are UTF-8.
- A request error (the document does not parse, fails validation or a cost limit, names no
  operation it holds, or has variables of the wrong type) is answered without `data`: with 400 in
  `application/graphql-response+json`, with 200 in `application/json`, which legacy clients expect
  for every well-formed request. A field error during execution is 200 in both, with `data`.
- A request that is not a well-formed GraphQL request is refused with a 4xx in either media type,
  with one error naming what is wrong, and nothing runs: a body that is not UTF-8, not JSON, not a
  JSON object, nested too deep, over the size cap (413), without a string `query`, or with an
  `operationName`, `variables` or `extensions` of the wrong type (400); a content type other than
  `application/json` or `multipart/form-data` (415); a mutation over GET (405) or a subscription over
  HTTP (400: they are served over the WebSocket); a malformed or unknown bearer token (401, with `WWW-Authenticate`).
- Files come as the GraphQL multipart request spec has them (`multipart/form-data` with an `operations`
  field, a `map` field and one part per file; one operation, not a batch). A form can be posted
  across sites without a preflight, so a multipart request must carry a header no form can send:
  `GraphQL-Require-Preflight` or the bearer token; without one it is refused (400) before its body is
  read. Each file streams into a temporary file as it arrives (only the first part of it in memory);
  a file over the per-file limit (RECTIFY_EVIDENCE_MAX_BYTES) is read to its end and dropped, and the
  mutation it was for answers with an InvalidInput naming its field; a body over the whole-request cap
  (that limit times the files allowed, plus the JSON cap) is refused with 413 as it streams in, and so
  is one that declares such a length. Multipart answers are never kept in the response cache.
- GET runs queries (`?query=…&variables=…`), and with `Accept: text/html` and no query it shows
  GraphiQL; OPTIONS answers with the methods allowed (cross-origin preflights are the CORS
  middleware's).

The response cache keeps answers to queries: an answer depends on the request (document,
operation, variables, extensions), the caller (role, unit, and the name `me` shows), the views'
log position, today's date (for lights) and the media type it is encoded in. With all of these in
the key, a cached answer is the answer. Only well-formed `application/json` requests reach it, so
a body that would be refused (sent as text/plain, a form or multipart) never meets a cached
answer. Answers that read the log itself rather than the views (the head, the event pages) move
without the views and are never kept. The cache is bounded by bytes (RECTIFY_RESPONSE_CACHE_BYTES).

Client mistakes are logged at INFO on one line each; nothing here logs a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, OperationType, get_operation_ast
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.types.graphql import OperationType as RunAs

from rectify.access import PUBLIC, Actor
from rectify.caching import BoundedCache
from rectify.graphql.guard import parse_document, vet, vetted
from rectify.graphql.resolvers import LOG_FIELDS
from rectify.graphql.scalars import UploadedFile

if TYPE_CHECKING:
    from rectify.web.app import AppState, GraphQLView

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MULTIPART = "multipart/form-data"
#: A header no HTML form can send: a multipart request without it (or a token) is refused (CSRF).
PREFLIGHT_HEADER = "graphql-require-preflight"
ALLOWED_METHODS = "GET, POST, OPTIONS"


class Refused(Exception):
    """A request that cannot be served as asked: its status, one clear message, and headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# -- credentials -----------------------------------------------------------------------------------


class BadCredentials(Refused):
    """401 with the `WWW-Authenticate` challenge of RFC 6750 (`invalid_request` or `invalid_token`)."""

    def __init__(self, message: str, error: str = "invalid_request") -> None:
        quoted = message.replace("\\", "\\\\").replace('"', '\\"')
        challenge = f'Bearer realm="rectify", error="{error}", error_description="{quoted}"'
        super().__init__(401, message, {"WWW-Authenticate": challenge})


def bearer(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None when no credentials were given (None).

    Anything else given as credentials (another scheme, `Bearer` with no token, a token with spaces)
    raises BadCredentials: a caller who meant to authenticate must never be served as the public.
    """
    if value is None:
        return None
    if not value.strip():
        raise BadCredentials("the credentials are empty: send Authorization: Bearer <token>")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        named = f"the {scheme} scheme" if scheme.isascii() and scheme.isalnum() and len(scheme) <= 20 else "that scheme"
        raise BadCredentials(f"{named} is not supported: send Authorization: Bearer <token>")
    token = token.strip()
    if not token:
        raise BadCredentials("the bearer token is empty")
    if len(token.split(maxsplit=1)) > 1:  # whitespace inside (str.split splits where str.isspace says)
        raise BadCredentials("the bearer token has spaces in it")
    return token


def INVALID_TOKEN() -> BadCredentials:  # noqa: N802 - reads as the refusal it is
    return BadCredentials("invalid or revoked token", "invalid_token")


# -- the request --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None

    def canonical(self) -> str:
        """The request as one string, the same for every body that means the same request."""
        parts = [self.query, self.operation_name, self.variables, self.extensions]
        return json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def kind_of(value: object) -> str:
    """How JSON would name a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def nests_deeper_than(value: object, limit: int) -> bool:
    """Whether a decoded JSON value nests objects and arrays more than `limit` levels deep
    (walked without recursion, so that no value can exhaust the stack)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def decode_json(text: str | bytes, limit: int) -> object:
    """Decodes a JSON text (UTF-8 if bytes) nested at most `limit` levels; ValueError with a clear
    message for anything else (bad UTF-8, bad JSON, NaN, deep nesting, a number too long)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"not valid UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise ValueError(f"nested more than {limit} levels deep") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise ValueError(f"not usable JSON: {error}") from None
    if nests_deeper_than(value, limit):
        raise ValueError(f"nested more than {limit} levels deep")
    return value


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def graphql_request(params: object, *, json_fields: bool = False, nesting: int) -> GraphQLRequest:
    """The request's parameters checked for their types; Refused (400) names the first one wrong.

    With `json_fields` (GET), `variables` and `extensions` come as JSON text, decoded here."""
    if isinstance(params, list):
        raise Refused(400, "batched operations are not supported: send one operation per request")
    if not isinstance(params, dict):
        raise Refused(400, f"the request must be a JSON object with a `query`, not {kind_of(params)}")
    query = params.get("query")
    if query is None:
        raise Refused(400, "the request has no `query`")
    if not isinstance(query, str):
        raise Refused(400, f"`query` must be a string, not {kind_of(query)}")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise Refused(400, f"`operationName` must be a string or null, not {kind_of(operation_name)}")
    fields: dict[str, dict[str, Any] | None] = {}
    for name in ("variables", "extensions"):
        value = params.get(name)
        if json_fields and isinstance(value, str) and value:
            try:
                value = decode_json(value, nesting)
            except ValueError as error:
                raise Refused(400, f"`{name}` is {error}") from None
        if json_fields and value == "":
            value = None
        if value is not None and not isinstance(value, dict):
            raise Refused(400, f"`{name}` must be an object or null, not {kind_of(value)}")
        fields[name] = value
    return GraphQLRequest(query, operation_name, fields["variables"], fields["extensions"])


def media_type(header: str) -> tuple[str, dict[str, str]]:
    """A Content-Type or Accept item split into its lower-cased type and its parameters."""
    kind, *parameters = header.split(";")
    params = {}
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), params


def negotiate(accept: str | None) -> str:
    """The media type to answer in: the most preferred of ours that `Accept` allows (406 if none).

    No `Accept`, or only wildcards, gets application/json: what a legacy client can read."""
    if accept is None or not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    wildcard = 0.0
    for index, item in enumerate(accept.split(",")):
        kind, params = media_type(item)
        try:
            weight = float(params.get("q", "1"))
        except ValueError:
            weight = 0.0
        if kind in (GRAPHQL_RESPONSE, JSON):
            if weight > 0 and (best is None or (weight, -index) > (best[0], -best[1])):
                best = (weight, index, kind)
        elif kind in ("*/*", "application/*"):
            wildcard = max(wildcard, weight)
    if best is not None and best[0] >= wildcard:
        return best[2]
    if wildcard > 0:
        return JSON
    if best is not None:
        return best[2]
    raise Refused(406, f"cannot answer in any type `Accept` allows: ask for {GRAPHQL_RESPONSE} or {JSON}")


# -- the operation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    type: OperationType
    root_fields: frozenset[str]  # the top-level fields it selects, through fragments too


def operation_of(document: DocumentNode, operation_name: str | None) -> Operation | str:
    """The operation a request runs, or why none can be chosen (a GraphQL request error)."""
    chosen = get_operation_ast(document, operation_name)
    if chosen is None:
        if operation_name is not None:
            return f"Unknown operation named '{operation_name}'."
        return "The document holds several operations: name the one to run in `operationName`."
    return Operation(chosen.operation, frozenset(root_fields(document, chosen.selection_set)))


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


def is_request_error(errors: list[GraphQLError] | None, data: object) -> bool:
    """Errors raised before execution (no data, and no error at a field's path)."""
    return data is None and bool(errors) and all(error.path is None for error in errors or ())


# -- multipart requests (the GraphQL multipart request spec) -------------------------------------------


class LimitedParts(MultiPartParser):
    """Starlette's streaming multipart parser, with each file's bytes counted as they come: past `limit`
    they are dropped (the file is marked over the limit); what is kept streams into a temporary file."""

    spool_max_size = 64 * 1024  # a file is held in memory up to this, then on disk

    def __init__(self, *args: Any, limit: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit = limit
        self.over: set[int] = set()
        self.seen: dict[int, int] = {}

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is None:
            super().on_part_data(data, start, end)
            return
        key = id(part.file)
        size = self.seen.get(key, 0) + (end - start)
        self.seen[key] = size
        if size > self.limit:
            self.over.add(key)
            return
        super().on_part_data(data, start, end)


async def capped(stream: AsyncGenerator[bytes, None], cap: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused with 413 as soon as more than `cap` bytes came."""
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > cap:
            raise Refused(413, f"the multipart request is over {cap} bytes")
        yield chunk


def place_files(variables: dict[str, Any] | None, mapping: object, files: dict[str, UploadedFile]) -> dict[str, Any]:
    """The variables with each file put where `map` says (`variables.file`, `variables.files.0`); 400 for a
    map that is not an object of paths, a path into nothing or not at a null, or a file mapped nowhere."""
    if not isinstance(mapping, dict):
        raise Refused(400, f"`map` must be a JSON object of file names to paths, not {kind_of(mapping)}")
    placed: dict[str, Any] = json.loads(json.dumps(variables or {}))
    for name, paths in mapping.items():
        if name not in files:
            raise Refused(400, f"`map` names the file {name[:40]!r}, but no part of the request has it")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise Refused(400, f"`map` must give the file {name[:40]!r} a list of paths")
        for path in paths:
            _put(placed, path, files[name])
    unmapped = sorted(set(files) - set(mapping))
    if unmapped:
        raise Refused(400, f"the file part {unmapped[0][:40]!r} is not in `map`")
    return placed


def _put(variables: dict[str, Any], path: str, file: UploadedFile) -> None:
    head, *steps = path.split(".")
    if head != "variables" or not steps:
        raise Refused(400, f"a `map` path must start with `variables.`: {path[:80]!r}")
    holder: Any = variables
    for step in steps[:-1]:
        holder = _step(holder, step, path)
    last = steps[-1]
    if isinstance(holder, list) and last.isdigit() and int(last) < len(holder):
        index: int | str = int(last)
    elif isinstance(holder, dict) and last in holder:
        index = last
    else:
        raise Refused(400, f"the `map` path {path[:80]!r} leads to no variable")
    if holder[index] is not None:
        raise Refused(400, f"the `map` path {path[:80]!r} must lead to a null, where the file goes")
    holder[index] = file


def _step(holder: Any, step: str, path: str) -> Any:
    if isinstance(holder, dict) and step in holder:
        return holder[step]
    if isinstance(holder, list) and step.isdigit() and int(step) < len(holder):
        return holder[int(step)]
    raise Refused(400, f"the `map` path {path[:80]!r} leads to no variable")


# -- the endpoint --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    content: bytes
    media: str
    errors: bool = True  # whether it carries errors (then it is never kept)

    def response(self) -> Response:
        headers = {"Cache-Control": "no-store", "Vary": "Accept, Authorization"}
        return Response(self.content, self.status, headers=headers, media_type=f"{self.media}; charset=utf-8")


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Endpoint:
    """/graphql: HTTP as described above; WebSocket connections go to Strawberry's view."""

    def __init__(self, state: AppState, view: GraphQLView) -> None:
        self.state = state
        self.view = view
        self.responses: BoundedCache[tuple[Any, ...], Answer] = BoundedCache(state.settings.response_cache_bytes)
        self._answers_at = 0  # the views' position of the answers kept

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.view(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.answer(request)
        except Refused as refused:
            log.info("%s %s refused with %d: %s", request.method, request.url.path, refused.status, refused.message)
            body = encode({"errors": [{"message": refused.message}]})
            response = Response(body, refused.status, headers=refused.headers, media_type=f"{JSON}; charset=utf-8")
        except ClientDisconnect:
            return
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        method = request.method
        if method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": ALLOWED_METHODS})
        if method not in ("GET", "HEAD", "POST"):
            raise Refused(405, f"{method} is not served here", {"Allow": ALLOWED_METHODS})
        if method in ("GET", "HEAD") and "query" not in request.query_params and self._wants_html(request):
            return await self.view.render_graphql_ide(request)
        media = negotiate(request.headers.get("accept"))
        actor = await self._caller(request)
        nesting = self.state.web.max_json_nesting
        files: list[UploadedFile] = []
        try:
            if method == "POST" and self._content_type(request)[0] == MULTIPART:
                parsed = await self._multipart(request, files)
            elif method == "POST":
                params = await self._posted(request)
                parsed = graphql_request(params, nesting=nesting)
            else:
                parsed = graphql_request(dict(request.query_params), json_fields=True, nesting=nesting)
            return await self._answer_parsed(request, media, actor, parsed, uploads=bool(files))
        finally:
            for file in files:
                file.file.close()

    async def _answer_parsed(
        self, request: Request, media: str, actor: Actor, parsed: GraphQLRequest, *, uploads: bool
    ) -> Response:
        method = request.method
        key: tuple[Any, ...] = ()
        if not uploads:  # an answer to a request with files is never kept (nor is such a request a key)
            key = (media, parsed.canonical(), actor, self.state.feed.position, self.state.system.read.today())
            cached = self.responses.get(key)
            if cached is not None:
                return cached.response()

        limits = self.state.web.limits
        schema = self.state.schema._schema
        errors = vetted(schema, parsed.query, limits)  # a document vetted before: no thread needed
        if errors is None:
            errors = await run_in_threadpool(vet, schema, parsed.query, limits)
        if errors:
            return self._request_errors(request, media, errors).response()
        operation = operation_of(parse_document(parsed.query, limits.max_tokens), parsed.operation_name)
        if isinstance(operation, str):
            return self._request_errors(request, media, [GraphQLError(operation)]).response()
        if operation.type is OperationType.SUBSCRIPTION:
            raise Refused(400, "subscriptions are served over the WebSocket at /graphql (graphql-transport-ws)")
        if operation.type is OperationType.MUTATION and method != "POST":
            raise Refused(405, "a mutation is sent with POST", {"Allow": "POST"})

        answer = await self._execute(request, media, parsed, operation, actor)
        if key and answer.status == 200 and self._cacheable(operation, answer):
            if key[3] > self._answers_at:
                # Answers are keyed by the views' position, so once it moves on no request asks for the
                # earlier ones again; under a stream of writes they would fill the cache to its bound.
                self._answers_at = key[3]
                self.responses.clear()
            self.responses.put(key, answer, len(answer.content) + len(key[1]) + 64)
        return answer.response()

    async def _execute(
        self, request: Request, media: str, parsed: GraphQLRequest, operation: Operation, actor: Actor
    ) -> Answer:
        request.scope.setdefault("state", {})["actor"] = actor
        context = await self.view.get_context(request, None)
        allowed = {RunAs.QUERY, RunAs.MUTATION} if request.method == "POST" else {RunAs.QUERY}
        result = await self.state.schema.execute(
            parsed.query,
            variable_values=parsed.variables,
            context_value=context,
            operation_name=parsed.operation_name,
            allowed_operation_types=allowed,
            operation_extensions=parsed.extensions,
        )
        if is_request_error(result.errors, result.data):
            return self._request_errors(request, media, result.errors or [], logged=True)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        return Answer(200, encode(payload), media, errors=bool(result.errors))

    @staticmethod
    def _request_errors(request: Request, media: str, errors: list[GraphQLError], *, logged: bool = False) -> Answer:
        """No data, only errors: 400 when the client reads application/graphql-response+json."""
        if not logged:  # the schema logs what it ran into itself
            for error in errors:
                log.info("%s %s: %s", request.method, request.url.path, error.message.replace("\n", " "))
        status = 400 if media == GRAPHQL_RESPONSE else 200
        return Answer(status, encode({"errors": [error.formatted for error in errors]}), media)

    async def _caller(self, request: Request) -> Actor:
        given = request.headers.getlist("authorization")
        if len(given) > 1:
            raise BadCredentials("send one Authorization header, not several")
        secret = bearer(given[0] if given else None)
        if secret is None:
            return PUBLIC
        actor = await self.state.tokens.resolve(secret)
        if actor is None:
            raise INVALID_TOKEN()
        return actor

    async def _posted(self, request: Request) -> object:
        """The body, checked for type, size and encoding, and decoded."""
        kind, params = self._content_type(request)
        if kind != JSON:
            named = f"content type '{kind}'" if kind else "a request without a content type"
            raise Refused(415, f"{named} is not supported: send the request as {JSON} (files as {MULTIPART})")
        if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            raise Refused(415, f"charset '{params['charset']}' is not supported: send UTF-8")
        limit = self.state.web.max_body_bytes
        too_large = Refused(413, f"the request body is over {limit} bytes")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        body = b"".join(chunks)
        if not body.strip():
            raise Refused(400, "the request body is empty: send a JSON object with a `query`")
        try:
            return decode_json(body, self.state.web.max_json_nesting)
        except ValueError as error:
            raise Refused(400, f"the request body is {error}") from None

    @staticmethod
    def _content_type(request: Request) -> tuple[str, dict[str, str]]:
        header = request.headers.get("content-type")
        return media_type(header) if header else ("", {})

    async def _multipart(self, request: Request, files: list[UploadedFile]) -> GraphQLRequest:
        """A request of the GraphQL multipart request spec: its operation, with the files (appended to `files`
        as they are taken, for the caller to close) put into its variables where `map` says."""
        if not request.headers.get(PREFLIGHT_HEADER) and not request.headers.get("authorization"):
            raise Refused(
                400,
                "a multipart request must carry a GraphQL-Require-Preflight header (or a bearer token): "
                "a header no cross-site form can send",
            )
        limit = self.state.settings.evidence_max_bytes
        most = self.state.web.max_upload_files
        cap = limit * most + self.state.web.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise Refused(413, f"the multipart request is over {cap} bytes")
        parser = LimitedParts(
            request.headers,
            capped(request.stream(), cap),
            max_files=most,
            max_fields=2,  # `operations` and `map`
            max_part_size=self.state.web.max_body_bytes,
            limit=limit,
        )
        try:
            form = await parser.parse()
        except MultiPartException as error:
            raise Refused(400, f"the multipart request cannot be read: {error.message}") from None
        fields: dict[str, str] = {}
        taken: dict[str, UploadedFile] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                upload = UploadedFile(
                    file_name=value.filename or name,
                    file=value.file,
                    size=parser.seen.get(id(value), 0),
                    limit=limit,
                    over_limit=id(value) in parser.over,
                    content_type=value.content_type or "",
                )
                files.append(upload)
                if name in taken:
                    raise Refused(400, f"two file parts are named {name[:40]!r}")
                taken[name] = upload
            else:
                fields[name] = value
        decoded: dict[str, object] = {}
        for name in ("operations", "map"):
            if name not in fields:
                raise Refused(400, f"the multipart request has no `{name}` field (the GraphQL multipart request spec)")
            try:
                decoded[name] = decode_json(fields[name], self.state.web.max_json_nesting)
            except ValueError as error:
                raise Refused(400, f"`{name}` is {error}") from None
        parsed = graphql_request(decoded["operations"], nesting=self.state.web.max_json_nesting)
        variables = place_files(parsed.variables, decoded["map"], taken)
        return dataclasses.replace(parsed, variables=variables)

    @staticmethod
    def _wants_html(request: Request) -> bool:
        return any(media_type(item)[0] == "text/html" for item in request.headers.get("accept", "").split(","))

    @staticmethod
    def _cacheable(operation: Operation, answer: Answer) -> bool:
        if operation.type is not OperationType.QUERY or operation.root_fields & LOG_FIELDS:
            return False
        return not answer.errors
