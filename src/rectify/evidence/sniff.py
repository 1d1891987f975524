"""What a file is, sniffed from its first bytes (the `filetype` library's signatures), never taken from its name.

Evidence is PDF, an image, or an Office document (Microsoft's formats old and new, OpenDocument, RTF).
A name's extension is a claim about the content: one that names a type the content is not is refused,
so that a file cannot travel under a false name (an HTML page called photo.jpg, a PNG called report.pdf).
A name without a known extension is taken as it is, and the download gets the extension of its type.
"""

from __future__ import annotations

from dataclasses import dataclass

import filetype

from rectify.domain.errors import InvalidInput

#: The first bytes the signatures are read from (filetype looks at no more).
HEAD = 8192


@dataclass(frozen=True)
class Kind:
    media_type: str
    extension: str  # the usual one, given to a download whose name has none
    label: str  # how the refusal names it
    aliases: tuple[str, ...] = ()

    @property
    def extensions(self) -> tuple[str, ...]:
        return (self.extension, *self.aliases)

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


EVIDENCE = {
    kind.media_type: kind
    for kind in (
        Kind("application/pdf", "pdf", "a PDF document"),
        Kind("image/jpeg", "jpg", "a JPEG image", ("jpeg", "jpe", "jfif")),
        Kind("image/png", "png", "a PNG image"),
        Kind("image/gif", "gif", "a GIF image"),
        Kind("image/webp", "webp", "a WebP image"),
        Kind("image/tiff", "tif", "a TIFF image", ("tiff",)),
        Kind("image/bmp", "bmp", "a BMP image"),
        Kind("image/heic", "heic", "a HEIC photo", ("heif",)),
        Kind("application/msword", "doc", "a Word document", ("dot", "wps")),
        Kind("application/vnd.ms-excel", "xls", "an Excel workbook", ("xlt", "et")),
        Kind("application/vnd.ms-powerpoint", "ppt", "a PowerPoint presentation", ("pps", "dps")),
        Kind("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", "a Word document"),
        Kind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", "an Excel workbook"),
        Kind("application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx", "a PowerPoint file"),
        Kind("application/vnd.oasis.opendocument.text", "odt", "an OpenDocument text"),
        Kind("application/vnd.oasis.opendocument.spreadsheet", "ods", "an OpenDocument spreadsheet"),
        Kind("application/vnd.oasis.opendocument.presentation", "odp", "an OpenDocument presentation"),
        Kind("application/rtf", "rtf", "an RTF document"),
    )
}

#: Extensions that claim a type: every evidence type's, every type the signatures know, and common ones they
#: cannot tell (text, web pages, scripts), which can never be evidence.
CLAIMING = {ext for kind in EVIDENCE.values() for ext in kind.extensions} | {t.extension for t in filetype.types} | {
    "txt", "csv", "htm", "html", "xhtml", "svg", "js", "mjs", "json", "xml", "php", "sh", "bat", "cmd", "ps1",
    "exe", "dll", "msi", "com", "scr", "jar", "py", "md", "eml", "jpeg", "tiff", "heif",
}  # fmt: skip


def extension_of(file_name: str) -> str:
    stem, dot, extension = file_name.rpartition(".")
    return extension.lower() if dot and stem else ""


def sniff(head: bytes, file_name: str) -> Kind:
    """The evidence type of a file from its first bytes; InvalidInput (field `file`) for content that is not
    evidence, or for a name whose extension claims another type than the content has."""
    guessed = filetype.guess(head)
    kind = EVIDENCE.get(guessed.mime) if guessed is not None else None
    claimed = extension_of(file_name)
    if kind is None:
        found = f"its content is {guessed.mime}" if guessed is not None else "its content has no known signature"
        raise InvalidInput(
            "file",
            f"{file_name} is not evidence rectify keeps ({found}): give a PDF, an image or an Office document "
            "(the type is read from the content, not from the name)",
        )
    if claimed in CLAIMING and claimed not in kind.extensions:
        raise InvalidInput(
            "file",
            f"{file_name}: the name says .{claimed}, but the content is {kind.label} ({kind.media_type}); "
            f"name it .{kind.extension}",
        )
    return kind


def download_name(file_name: str, media_type: str) -> str:
    """The name a download is given: the uploaded name, with its type's extension if it has none."""
    kind = EVIDENCE.get(media_type)
    if kind is None or extension_of(file_name) in kind.extensions:
        return file_name
    return f"{file_name}.{kind.extension}"
