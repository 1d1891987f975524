"""Files over GraphQL, in process on each store: evidence attached with attachEvidence and a 台账 imported with
importLedger (multipart requests), the ledger and its template downloaded, and amounts as the Decimal scalar.

The transport itself (a real server, a real HTTP client) is tested in test_upload_transport.py."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from typing import Any

import pytest
from api_harness import STORES, World, open_world, per_store
from api_uploads import ATTACH, IMPORT, answer, upload
from openpyxl import load_workbook

from evidence_files import WEB_PAGE, pdf, photo
from rectify.domain.values import Disclosure
from rectify.examples import songyuan

CLEAN_UPS = "人居环境品质有效提升"
INTERNAL = next(plan for plan in songyuan.FINDINGS if plan.disclosure is Disclosure.INTERNAL)
LIMIT = 256 * 1024  # the evidence limit of this module's worlds (RECTIFY_EVIDENCE_MAX_BYTES)


@pytest.fixture(scope="module", params=STORES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from per_store(
        request, tmp_path_factory, functools.partial(open_world, env={"RECTIFY_EVIDENCE_MAX_BYTES": str(LIMIT)})
    )


def attach(world: World, role: str, name: str, data: bytes, **input_: Any) -> dict[str, Any]:
    variables = {"input": {"findingId": world.finding_ids[CLEAN_UPS], "target": "REPORT", **input_}}
    return answer(upload(world.http(role), ATTACH, variables, {"file": (name, data)}))["attachEvidence"]


def evidence_names(world: World, role: str) -> list[str]:
    query = "query($id: ID!) { finding(id: $id) { evidence { fileName } } }"
    found = world.client(role).data(query, {"id": world.finding_ids[CLEAN_UPS]})["finding"]
    return [e["fileName"] for e in found["evidence"]]


def import_ledger(world: World, role: str, data: bytes, *, dry_run: bool, name: str = "台账.xlsx") -> dict[str, Any]:
    variables = {"round": str(world.loaded.round_id), "dryRun": dry_run}
    return answer(upload(world.http(role), IMPORT, variables, {"file": (name, data)}))["importLedger"]


# -- attachEvidence ------------------------------------------------------------------------------------


def test_a_photo_uploaded_with_attach_evidence_is_stored_and_shown_and_can_be_downloaded(world: World) -> None:
    attached = attach(world, "UNIT", "大扫除现场照片.jpg", photo(colour=(10, 120, 30)))
    assert attached["__typename"] == "Accepted", attached
    assert "大扫除现场照片.jpg" in evidence_names(world, "PUBLIC")
    downloaded = world.http("PUBLIC").get(f"/findings/{world.finding_ids[CLEAN_UPS]}/evidence/{attached['id']}")
    assert downloaded.status_code == 200
    assert downloaded.content == photo(colour=(10, 120, 30))
    assert downloaded.headers["x-content-type-options"] == "nosniff"


def test_internal_evidence_uploaded_through_the_api_never_reaches_the_public(world: World) -> None:
    attached = attach(world, "UNIT", "内部核查记录.pdf", pdf(), disclosure="INTERNAL")
    assert attached["__typename"] == "Accepted", attached
    assert "内部核查记录.pdf" in evidence_names(world, "UNIT")
    assert "内部核查记录.pdf" not in evidence_names(world, "PUBLIC")
    url = f"/findings/{world.finding_ids[CLEAN_UPS]}/evidence/{attached['id']}"
    assert world.http("PUBLIC").get(url).status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("现场照片.jpg", pdf(), "the name says .jpg, but the content is a PDF"),
        ("说明.pdf", WEB_PAGE, "is not evidence rectify keeps"),
        ("扫描件.pdf", pdf(padding=LIMIT + 1), f"larger than the limit of {LIMIT} bytes"),
    ],
    ids=["a false extension", "a type that is not evidence", "over the size limit"],
)
def test_an_upload_that_is_not_good_evidence_is_an_invalid_input_naming_the_file_and_appends_nothing(
    world: World, name: str, data: bytes, says: str
) -> None:
    head = world.client("INSPECTOR").head()
    refused = attach(world, "UNIT", name, data)
    assert refused["__typename"] == "InvalidInput", refused
    assert refused["field"] == "file"
    assert says in refused["reason"]
    assert world.client("INSPECTOR").head() == head
    assert name not in evidence_names(world, "UNIT")


def test_a_file_variable_sent_as_json_is_an_invalid_input_naming_the_file(world: World) -> None:
    variables = {"input": {"findingId": world.finding_ids[CLEAN_UPS], "target": "REPORT"}, "file": "not a file"}
    refused = world.client("UNIT").data(ATTACH, variables)["attachEvidence"]
    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == "file"
    assert "multipart" in refused["reason"]


def test_another_units_finding_is_not_found_and_nothing_is_stored(world: World) -> None:
    head = world.client("INSPECTOR").head()
    refused = attach(world, "OTHER_UNIT", "别人的.jpg", photo(colour=(1, 2, 3)))
    assert refused["__typename"] == "NotFound", refused
    assert world.client("INSPECTOR").head() == head


# -- importLedger and the downloads --------------------------------------------------------------------


def ledger(world: World, role: str, query: str = "") -> bytes:
    response = world.http(role).get(f"/rounds/{world.loaded.round_id}/ledger.xlsx{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    return bytes(response.content)


def cells(data: bytes) -> list[str]:
    book = load_workbook(io.BytesIO(data))
    return [str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None]


def with_measure_added(data: bytes, heading: str, measure: str) -> bytes:
    """The exported ledger with one more line in the 整改措施 of the finding with that heading."""
    book = load_workbook(io.BytesIO(data))
    sheet = book["台账"]
    header = {str(c.value): c.column for c in sheet[3] if c.value}
    for row in range(4, sheet.max_row + 1):
        if sheet.cell(row, header["问题标题"]).value == heading:
            cell = sheet.cell(row, header["整改措施"])
            cell.value = f"{cell.value}\n{measure}"
            break
    else:
        raise AssertionError(f"no row {heading}")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_public_download_of_the_ledger_never_shows_an_internal_finding(world: World) -> None:
    office = "\n".join(cells(ledger(world, "INSPECTOR")))
    public = "\n".join(cells(ledger(world, "PUBLIC")))
    assert INTERNAL.problem in office
    assert INTERNAL.problem not in public
    assert INTERNAL.heading not in public
    assert songyuan.FINDINGS[0].heading in public


def test_the_ledger_as_of_a_past_position_shows_the_record_then(world: World) -> None:
    early = "\n".join(cells(ledger(world, "INSPECTOR", "?asOf=1")))
    assert INTERNAL.problem not in early  # nothing was raised at position 1
    bad = world.http("INSPECTOR").get(f"/rounds/{world.loaded.round_id}/ledger.xlsx?asOf=yesterday")
    assert bad.status_code == 400
    assert "asOf" in bad.text


def test_the_template_download_is_titled_for_the_round_and_a_stranger_round_is_not_found(world: World) -> None:
    response = world.http("PUBLIC").get(f"/rounds/{world.loaded.round_id}/ledger-template.xlsx")
    assert response.status_code == 200
    assert "ledger-template" not in response.headers["content-disposition"]  # named in Chinese, for the office
    assert response.headers["x-content-type-options"] == "nosniff"
    book = load_workbook(io.BytesIO(response.content))
    assert "整改措施" in [c.value for row in book.worksheets[0].iter_rows(max_row=5) for c in row]
    missing = world.http("PUBLIC").get("/rounds/00000000-0000-4000-8000-000000000000/ledger-template.xlsx")
    assert missing.status_code == 404


def test_an_exported_ledger_imported_again_appends_nothing_and_an_edited_one_only_its_change(world: World) -> None:
    exported = ledger(world, "INSPECTOR")
    same = import_ledger(world, "UNIT", exported, dry_run=True)
    assert (same["__typename"], same["events"], same["rows"]) == ("LedgerImported", 0, [])

    edited = with_measure_added(exported, CLEAN_UPS, "三是每季度开展一次回头看")
    head = world.client("INSPECTOR").head()
    dry = import_ledger(world, "UNIT", edited, dry_run=True)
    assert dry["__typename"] == "LedgerImported", dry
    assert dry["dryRun"] is True
    assert [(e["event"], e["column"]) for r in dry["rows"] for e in r["events"]] == [
        ("Finding.MeasurePlanned", "E 整改措施")  # one unit: no 被巡察单位 column
    ]
    assert world.client("INSPECTOR").head() == head  # a dry run appends nothing

    done = import_ledger(world, "UNIT", edited, dry_run=False)
    assert done["__typename"] == "LedgerImported", done
    assert done["events"] == 1
    assert done["lastPosition"] is not None
    assert world.client("INSPECTOR").head() == head + 1
    again = import_ledger(world, "UNIT", edited, dry_run=False)
    assert again["events"] == 0
    assert world.client("INSPECTOR").head() == head + 1


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xe7\xbc\x96\xe5\x8f\xb7,\xe5\x85\xb7\xe4\xbd\x93\xe9\x97\xae\xe9\xa2\x98\n1,x\n", "plain text (a CSV?)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "(.xls)"),
    ],
    ids=["a CSV renamed .xlsx", "an .xls renamed .xlsx"],
)
def test_a_sheet_that_cannot_be_imported_names_its_problem_and_appends_nothing(
    world: World, data: bytes, says: str
) -> None:
    head = world.client("INSPECTOR").head()
    refused = import_ledger(world, "INSPECTOR", data, dry_run=False)
    assert refused["__typename"] == "SheetRefused", refused
    assert says in refused["errors"][0]["reason"]
    assert world.client("INSPECTOR").head() == head


def test_a_row_the_importers_role_may_not_change_is_named_with_its_row_and_column(world: World) -> None:
    exported = ledger(world, "INSPECTOR")
    edited = with_measure_added(exported, CLEAN_UPS, "四是建立长效机制")
    head = world.client("INSPECTOR").head()
    refused = import_ledger(world, "OTHER_UNIT", edited, dry_run=False)
    assert refused["__typename"] == "SheetRefused", refused
    first = refused["errors"][0]
    assert first["sheet"] == "台账"
    assert isinstance(first["row"], int) and first["row"] >= 4
    assert first["column"]
    assert world.client("INSPECTOR").head() == head


def test_the_progress_of_an_import_is_there_to_poll_for_its_importer_only(world: World) -> None:
    exported = with_measure_added(ledger(world, "INSPECTOR"), CLEAN_UPS, "五是完善制度")
    variables = {"round": str(world.loaded.round_id), "dryRun": False, "progress": "导入-1"}
    done = answer(upload(world.http("UNIT"), IMPORT, variables, {"file": ("台账.xlsx", exported)}))["importLedger"]
    assert done["events"] == 1
    query = 'query { ledgerImport(progressId: "导入-1") { stage done total } }'
    assert world.client("UNIT").data(query)["ledgerImport"] == {"stage": "DONE", "done": 1, "total": 1}
    assert world.client("INSPECTOR").data(query)["ledgerImport"] is None


# -- Decimal amounts -----------------------------------------------------------------------------------

ACTIVITY = """
mutation($input: RecordActivityInput!) {
  recordActivity(input: $input) { __typename ... on Accepted { id } ... on InvalidInput { field reason } }
}"""


def activity(world: World, amount: Any) -> dict[str, Any]:
    given = {"findingId": world.finding_ids[CLEAN_UPS], "kind": "清退资金", "occurredOn": "2026-03-01"}
    return world.client("UNIT").data(ACTIVITY, {"input": {**given, "amount": amount, "unit": "元"}})["recordActivity"]


def test_an_amount_given_as_a_float_is_refused_naming_the_field_and_saying_why(world: World) -> None:
    head = world.client("INSPECTOR").head()
    refused = activity(world, 12.5)
    assert refused == {"__typename": "InvalidInput", "field": "amount", "reason": refused["reason"]}
    assert "floats are refused" in refused["reason"]
    assert "binary float" in refused["reason"]
    literal = ACTIVITY.replace("$input", "$i").replace("(input: $i)", "(input: {findingId: $f, kind: \"清退资金\", "
                                                                      "occurredOn: \"2026-03-01\", amount: 12.50, "
                                                                      "unit: \"元\"})")  # fmt: skip
    literal = literal.replace("mutation($i: RecordActivityInput!)", "mutation($f: ID!)")
    inline = world.client("UNIT").data(literal, {"f": world.finding_ids[CLEAN_UPS]})["recordActivity"]
    assert inline["__typename"] == "InvalidInput" and inline["field"] == "amount"
    assert world.client("INSPECTOR").head() == head


def test_an_amount_given_as_a_string_is_taken_exactly(world: World) -> None:
    accepted = activity(world, "1582.07")
    assert accepted["__typename"] == "Accepted", accepted


def with_cells(data: bytes, heading: str, values: dict[str, Any]) -> tuple[bytes, int]:
    """The exported ledger with cells of the finding with that heading set, by column title; and its row."""
    book = load_workbook(io.BytesIO(data))
    sheet = book["台账"]
    header = {str(c.value): c.column for c in sheet[3] if c.value}
    row = next(r for r in range(4, sheet.max_row + 1) if sheet.cell(r, header["问题标题"]).value == heading)
    for title, value in values.items():
        sheet.cell(row, header[title]).value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), row


def test_a_units_import_never_verifies_nor_closes_and_the_refusal_names_the_row(world: World) -> None:
    closed, row = with_cells(
        ledger(world, "UNIT"), CLEAN_UPS, {"整改状态": "已销号", "完成日期": "2026-03-01", "整改进展": "已全部整改"}
    )
    head = world.client("INSPECTOR").head()
    refused = import_ledger(world, "UNIT", closed, dry_run=False)
    assert refused["__typename"] == "SheetRefused", refused
    (problem,) = refused["errors"]
    assert (problem["sheet"], problem["row"]) == ("台账", row)
    assert problem["column"].endswith("整改状态")
    assert "record_verification" in problem["reason"] and "unit role" in problem["reason"]
    assert world.client("INSPECTOR").head() == head
