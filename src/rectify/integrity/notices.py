"""Every published notice rebuilt from the log alone (not the views), against the digest its publication recorded.

One pass over the log: the publications are found by their event type, then the log is folded once, in order,
and each notice is built when the fold reaches its position, rendered with its template version and (v2 on) the
tree head recorded at that position, and its SHA-256 compared with the one in its NoticePublished event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from uuid import UUID

from eventsourcing.utils import get_topic

from rectify.application import RectifyApplication
from rectify.domain import Round
from rectify.domain.errors import RectifyError
from rectify.domain.values import Publication
from rectify.integrity.keys import Checkpoint
from rectify.integrity.verify import Problem
from rectify.notice import render
from rectify.notice.model import build, digest
from rectify.notice.service import prints_tree_head, shown_head
from rectify.projections.fold import Fold, paused_garbage_collection
from rectify.projections.views import FoldedView

BATCH = 10_000


@dataclass(frozen=True)
class Published:
    event_position: int  # where the NoticePublished event stands
    round_id: UUID
    publication: Publication


@dataclass
class NoticesChecked:
    notices: int = 0
    problem: Problem | None = None


def publications(app: RectifyApplication) -> list[Published]:
    """Every NoticePublished event of the log, in log order (decoded from the log, not read from a view)."""
    topic = get_topic(Round.NoticePublished)
    found: list[Published] = []
    after = 0
    while batch := app.recorder.select_notifications(after, BATCH, topics=[topic], inclusive_of_start=False):
        for notification in batch:
            event = app.mapper.to_domain_event(notification)
            found.append(Published(notification.id, event.originator_id, event.publication))  # type: ignore[attr-defined] # a NoticePublished: its topic was asked for
        after = batch[-1].id
    return found


def verify_notices(app: RectifyApplication, recorded_head_at: Callable[[int], Checkpoint | None]) -> NoticesChecked:
    """Rebuilds every published notice from the log and compares its digest; the first that differs is the
    problem (at its NoticePublished event's position)."""
    checked = NoticesChecked()
    todo = sorted(publications(app), key=lambda p: (p.publication.position, p.event_position))
    fold, after = Fold(), 0
    with paused_garbage_collection():
        for published in todo:
            p = published.publication
            while after < p.position:
                batch = app.recorder.select_notifications(after, BATCH, stop=p.position, inclusive_of_start=False)
                if not batch:
                    break
                fold.apply_all(batch, app.mapper)
                after = batch[-1].id
            problem = _check(FoldedView(fold, p.position), published, recorded_head_at)
            checked.notices += 1
            if problem is not None:
                checked.problem = problem
                return checked
    return checked


def _check(
    view: FoldedView, published: Published, recorded_head_at: Callable[[int], Checkpoint | None]
) -> Problem | None:
    p = published.publication
    named = f"notice {p.notice_id} ({p.title}, built at position {p.position}, template {p.template_version})"
    head = None
    if prints_tree_head(p.template_version):
        head = recorded_head_at(p.position)
        if head is None:
            return Problem(published.event_position, "notice", f"{named}: the tree head it printed is missing")
    try:
        notice = build(
            view,
            round_id=published.round_id,
            unit_id=p.unit_id,
            edition=p.edition,
            published_on=p.published_on,
            window_until=p.window_until,
        )
        if head is not None:
            notice = replace(notice, tree_head=shown_head(head))
        text = render.markdown(notice, p.template_version)
    except (RectifyError, LookupError, ValueError) as error:
        return Problem(published.event_position, "notice", f"{named} cannot be rebuilt from the log: {error}")
    rebuilt = digest(text)
    if rebuilt != p.sha256:
        return Problem(
            published.event_position,
            "notice",
            f"{named} rebuilt from the log has SHA-256 {rebuilt}, but its publication recorded {p.sha256}",
        )
    return None
