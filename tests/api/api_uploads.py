"""Multipart requests (the GraphQL multipart request spec) as a client sends them, for the upload tests."""

from __future__ import annotations

import json
from typing import Any

from api_harness import HttpClient

PREFLIGHT = {"GraphQL-Require-Preflight": "1"}


def upload(
    http: HttpClient,
    query: str,
    variables: dict[str, Any],
    files: dict[str, tuple[str, bytes]],
    *,
    headers: dict[str, str] | None = None,
) -> Any:
    """Posts `query` with each file of `files` (variable path → (name, bytes)) in a part of its own, mapped to
    its variable (set to null in `operations`, as the spec has it). The response, unread."""
    placed = json.loads(json.dumps(variables))
    for path in files:
        holder = placed
        *steps, last = path.split(".")
        for step in steps:
            holder = holder[step]
        holder[last] = None
    operations = json.dumps({"query": query, "variables": placed}, ensure_ascii=False)
    mapping = json.dumps({str(i): [f"variables.{path}"] for i, path in enumerate(files)})
    parts = {str(i): (name, data, "application/octet-stream") for i, (name, data) in enumerate(files.values())}
    return http.post(
        "/graphql",
        data={"operations": operations, "map": mapping},
        files=parts,
        headers=PREFLIGHT if headers is None else headers,
    )


def answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = json.loads(response.text)
    assert "errors" not in body, body
    return body["data"]


ATTACH = """
mutation($input: AttachEvidenceInput!, $file: Upload!) {
  attachEvidence(input: $input, file: $file) {
    __typename
    ... on Accepted { position id replayed }
    ... on InvalidInput { field reason message }
    ... on NotFound { message }
    ... on Forbidden { message }
    ... on IllegalTransition { message }
    ... on Conflict { message }
  }
}"""

IMPORT = """
mutation($round: ID!, $file: Upload!, $dryRun: Boolean!, $progress: String) {
  importLedger(roundId: $round, file: $file, dryRun: $dryRun, progressId: $progress) {
    __typename
    ... on LedgerImported {
      dryRun events unchanged lines firstPosition lastPosition
      rows { row code events { event column says } }
    }
    ... on SheetRefused { message errors { sheet row column reason } }
    ... on InvalidInput { field reason }
    ... on NotFound { message }
    ... on Forbidden { message }
    ... on Conflict { message }
    ... on IllegalTransition { message }
  }
}"""
