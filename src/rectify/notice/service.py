"""Drafting, publishing, re-rendering and verifying notices over the read side (who may read one: rectify.access)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol
from uuid import UUID

from rectify.domain import NotFound, Round
from rectify.domain.errors import Unavailable
from rectify.domain.values import Edition, Publication
from rectify.integrity.keys import Checkpoint, note
from rectify.integrity.sealer import Unsealable
from rectify.notice import render
from rectify.notice.model import Notice, NoticeHead, build, digest, window_end
from rectify.projections.views import ReadModels

#: The first template version that prints the log's tree head at the notice's position.
WITH_TREE_HEAD = "v2"


class TreeHeads(Protocol):
    """Where notices get the log's tree head at a position: the sealer."""

    def head_at(self, position: int) -> Checkpoint:
        """Seals up to `position` and gives the head there, writing one if none was (for a publication)."""

    def recorded_head_at(self, position: int) -> Checkpoint | None:
        """The head written at `position`'s tree size, if any (for a rebuild: it writes nothing)."""


def shown_head(checkpoint: Checkpoint) -> NoticeHead:
    head = checkpoint.head
    return NoticeHead(
        origin=head.origin,
        size=head.size,
        position=head.position,
        root=base64.b64encode(head.root).decode(),
        signed_at=head.signed_at,
        fingerprint=checkpoint.key_fingerprint if checkpoint.signed else None,
        note=note(checkpoint),
    )


def prints_tree_head(version: str) -> bool:
    return version >= WITH_TREE_HEAD  # versions are v1, v2, …: compared as they sort (below v10)


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
    def __init__(self, read: ReadModels, heads: TreeHeads | None = None) -> None:
        self.read = read
        self.heads = heads

    def render(
        self,
        round_id: UUID,
        unit_id: UUID,
        edition: Edition,
        position: int,
        published_on: date,
        window_until: date,
        version: str = render.CURRENT_VERSION,
        head: Checkpoint | None = None,
    ) -> Rendered:
        """The notice as of `position`, from the round's own events (the same fold as every view); with
        `head`, the log's tree head there is printed (template v2 on)."""
        state = self.read.rounds_as_of((round_id,), position)
        notice = build(
            state,
            round_id=round_id,
            unit_id=unit_id,
            edition=edition,
            published_on=published_on,
            window_until=window_until,
        )
        if head is not None:
            notice = replace(notice, tree_head=shown_head(head))
        return Rendered(notice, render.markdown(notice, version), version)

    def draft(
        self, round_id: UUID, unit_id: UUID, edition: Edition, position: int, published_on: date, window_days: int
    ) -> Rendered:
        return self.render(round_id, unit_id, edition, position, published_on, window_end(published_on, window_days))

    def for_publication(
        self, round_id: UUID, unit_id: UUID, edition: Edition, position: int, published_on: date, window_until: date
    ) -> tuple[str, str, str]:
        """The application's notice renderer: (Markdown text, title, template version) to publish.

        The log is sealed up to `position` first, and the tree head there printed in the notice (so its
        digest covers the head). Without a sealer (a bare read side) the notice is rendered as v1, which
        prints no head. A log that cannot be sealed up to `position` refuses the publication."""
        if self.heads is None:
            rendered = self.render(round_id, unit_id, edition, position, published_on, window_until, "v1")
            return rendered.markdown, rendered.notice.title, rendered.version
        try:
            head = self.heads.head_at(position)
        except Unsealable as error:
            raise Unavailable(f"the notice cannot carry the log's tree head: {error}; run `rectify verify`") from None
        rendered = self.render(round_id, unit_id, edition, position, published_on, window_until, head=head)
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
        return self.rebuild_publication(round_.id, publication)

    def rebuild_publication(self, round_id: UUID, publication: Publication) -> Check:
        """A publication rendered again at its position and template version, with the tree head recorded at
        that position (v2 on; a head that is no longer there leaves the rebuilt text without it, and the
        digest then differs)."""
        head = None
        if prints_tree_head(publication.template_version) and self.heads is not None:
            head = self.heads.recorded_head_at(publication.position)
        rendered = self.render(
            round_id,
            publication.unit_id,
            publication.edition,
            publication.position,
            publication.published_on,
            publication.window_until,
            publication.template_version,
            head,
        )
        return Check(publication, rendered)
