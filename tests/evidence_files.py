"""Files the evidence tests attach: a real photo (made with Pillow), a PDF, and things that are not evidence."""

from __future__ import annotations

import io

from PIL import Image


def photo(width: int = 1200, height: int = 800, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A JPEG photo: a coloured field with a white band, so that its thumbnail shows something."""
    image = Image.new("RGB", (width, height), colour)
    image.paste((255, 255, 255), (0, height // 3, width, 2 * height // 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def png(size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (size, size), (0, 128, 255, 128)).save(out, "PNG")
    return out.getvalue()


def pdf(padding: int = 2000) -> bytes:
    """A small, well-formed PDF with one empty page (padded with a comment to a size)."""
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    )
    return body + b"%" + b"x" * padding + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"


WEB_PAGE = b"<!doctype html><html><body><script>alert(1)</script></body></html>" * 20
