"""Rendering a notice: Markdown (what is hashed), HTML, and PDF; every template version is kept.

A publication records the template version it was rendered with, and a later rendering of that
publication uses the same version: changing a template means adding a new version folder, never
editing an old one (tests/notice checks that published versions' templates do not change).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2

from rectify.notice.model import Notice

TEMPLATES = Path(__file__).parent / "templates"
#: The version new publications are rendered with.
CURRENT_VERSION = "v2"


class TemplateMissing(LookupError):
    """A publication names a template version this installation does not have."""


def versions() -> list[str]:
    return sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir())


def md_escape(text: str) -> str:
    """Escapes the characters Markdown would take as formatting (e.g. the _ of an email address)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|])", r"\\\1", text)


@cache
def environment(version: str, *, html: bool) -> jinja2.Environment:
    folder = TEMPLATES / version
    if not folder.is_dir():
        raise TemplateMissing(f"notice template version {version!r} is not installed (have: {', '.join(versions())})")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md_escape"] = md_escape
    return env


def markdown(notice: Notice, version: str = CURRENT_VERSION) -> str:
    text = environment(version, html=False).get_template("notice.md.j2").render(n=notice)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def html(notice: Notice, version: str = CURRENT_VERSION) -> str:
    return environment(version, html=True).get_template("notice.html.j2").render(n=notice)


def pdf(html_text: str) -> bytes:
    """The HTML as an A4 PDF (needs the `pdf` extra: WeasyPrint, and a CJK font such as Noto CJK)."""
    try:
        from weasyprint import HTML
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise RuntimeError("PDF needs the pdf extra: pip install 'rectify[pdf]' and a CJK font") from error
    return HTML(string=html_text).write_pdf()
