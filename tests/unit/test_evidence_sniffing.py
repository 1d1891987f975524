"""Evidence types are sniffed from the content; a name's extension may not claim another type."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from evidence_files import WEB_PAGE, pdf, photo, png
from rectify.domain import InvalidInput
from rectify.evidence.sniff import HEAD, download_name, sniff
from rectify.evidence.thumbnails import make_thumbnail


def workbook() -> bytes:
    out = io.BytesIO()
    openpyxl.Workbook().save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "media_type"),
    [
        (pdf(), "验收意见.pdf", "application/pdf"),
        (photo(), "现场.JPEG", "image/jpeg"),
        (png(), "截图.png", "image/png"),
        (workbook(), "台账.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (pdf(), "没有扩展名", "application/pdf"),
        (png(), "名字里.有点", "image/png"),  # an extension that claims no type is no claim
    ],
)
def test_evidence_is_typed_by_its_content(data: bytes, name: str, media_type: str) -> None:
    assert sniff(data[:HEAD], name).media_type == media_type


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (WEB_PAGE, "photo.jpg", "not evidence"),
        (png(), "report.pdf", "the name says .pdf, but the content is a PNG image"),
        (pdf(), "scan.png", "the name says .png, but the content is a PDF document"),
        (b"plain words " * 100, "notes.docx", "not evidence"),
        (b"PK\x03\x04" + b"\0" * 100, "a.zip", "not evidence"),
    ],
)
def test_a_type_given_by_a_false_extension_or_content_that_is_no_evidence_is_refused(data, name, reason) -> None:
    with pytest.raises(InvalidInput) as refused:
        sniff(data[:HEAD], name)
    assert refused.value.field == "file" and reason in refused.value.reason


def test_a_download_gets_its_types_extension_when_its_name_has_none() -> None:
    assert download_name("验收意见", "application/pdf") == "验收意见.pdf"
    assert download_name("现场.jpeg", "image/jpeg") == "现场.jpeg"


def test_a_thumbnail_is_a_small_upright_jpeg_and_none_for_what_is_not_an_image() -> None:
    thumbnail = make_thumbnail(photo(1600, 900))
    assert thumbnail is not None and thumbnail[:2] == b"\xff\xd8"
    from PIL import Image

    with Image.open(io.BytesIO(thumbnail)) as image:
        assert image.size == (320, 180)
    assert make_thumbnail(pdf()) is None
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("x.txt", "x")
    assert make_thumbnail(archive.getvalue()) is None
