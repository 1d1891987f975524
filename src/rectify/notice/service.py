"""Drafting, publishing, re-rendering and verifying notices over the read side (who may read one: rectify.access)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from rectify.domain import NotFound, Round
from rectify.domain.values import Edition, Publication
from rectify.notice import render
from rectify.notice.model import Notice, build, digest, window_end
from rectify.projections.views import ReadModels


@dataclass(frozen=True)
class Rendered:
    notice: Notice
    markdown: str
    version: str

    @property
    def sha256(self) -> str:
        return digest(self.markdown)

    def html(self) -> str:
        return render.html(self.notice, self.version)

    def pdf(self) -> bytes:
        return render.pdf(self.html())


@dataclass(frozen=True)
class Check:
    """A published notice rendered again at its position, against the digest recorded then."""

    publication: Publication
    rendered: Rendered

    @property
    def ok(self) -> bool:
        return self.rendered.sha256 == self.publication.sha256


class Notices:
    def __init__(self, read: ReadModels) -> None:
        self.read = read

    def render(
        self,
        round_id: UUID,
        unit_id: UUID,
        edition: Edition,
        position: int,
        published_on: date,
        window_until: date,
        version: str = render.CURRENT_VERSION,
    ) -> Rendered:
        """The notice as of `position`, from the round's own events (the same fold as every view)."""
        state = self.read.rounds_as_of((round_id,), position)
        notice = build(
            state,
            round_id=round_id,
            unit_id=unit_id,
            edition=edition,
            published_on=published_on,
            window_until=window_until,
        )
        return Rendered(notice, render.markdown(notice, version), version)

    def draft(
        self, round_id: UUID, unit_id: UUID, edition: Edition, position: int, published_on: date, window_days: int
    ) -> Rendered:
        return self.render(round_id, unit_id, edition, position, published_on, window_end(published_on, window_days))

    def for_publication(
        self, round_id: UUID, unit_id: UUID, edition: Edition, position: int, published_on: date, window_until: date
    ) -> tuple[str, str, str]:
        """The application's notice renderer: (Markdown text, title, template version) to publish."""
        rendered = self.render(round_id, unit_id, edition, position, published_on, window_until)
        return rendered.markdown, rendered.notice.title, rendered.version

    def publications(self) -> Iterator[tuple[Round, Publication]]:
        with self.read.view() as view:
            rounds = view.aggregates(Round)
        for round_ in rounds:
            for publication in round_.publications:
                yield round_, publication

    def find(self, notice_id: UUID) -> tuple[Round, Publication]:
        for round_, publication in self.publications():
            if publication.notice_id == notice_id:
                return round_, publication
        raise NotFound("notice", notice_id)

    def rebuild(self, notice_id: UUID) -> Check:
        """A published notice rendered again from the log at its recorded position and template version."""
        round_, publication = self.find(notice_id)
        rendered = self.render(
            round_.id,
            publication.unit_id,
            publication.edition,
            publication.position,
            publication.published_on,
            publication.window_until,
            publication.template_version,
        )
        return Check(publication, rendered)
