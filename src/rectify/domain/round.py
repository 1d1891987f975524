"""The Round aggregate: one inspection (巡察) of one or more units, its categories and narratives."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate

from rectify.domain.errors import IllegalTransition, InvalidInput, NotFound
from rectify.domain.values import (
    ActivityKind,
    Category,
    MoneyRole,
    Narrative,
    NarrativeItem,
    NarrativeSection,
    Publication,
    RoundKind,
    money_role,
)

#: 回头看: months after a close-out that its relapse check falls due, unless the round sets otherwise.
DEFAULT_RELAPSE_CHECK_MONTHS = 6

#: Depth of the category tree: (一) 方面 → 1. 问题. Findings sit one level below a category.
MAX_CATEGORY_DEPTH = 2


class Round(Aggregate):
    """A round: e.g. 区委 sends 罗湖区第四巡察组 to 松园社区党委 (a 巡察: stationed, then feedback),
    or an audit's rectification, which has a title and findings but no stationed period."""

    class Event(Aggregate.Event):
        actor: str

    class Opened(Event, Aggregate.Created):
        """Version 2 added the title and kind, made the team a list of teams, and let a kind without
        a stationed period leave its dates out. Version 1 opened 巡察 rounds of one team."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["title"] = ""
            state["kind"] = RoundKind.INSPECTION
            state["teams"] = (state.pop("team"),)

        authority: str
        district: str
        title: str
        kind: RoundKind
        teams: tuple[str, ...]
        unit_ids: tuple[UUID, ...]
        stationed_from: date | None
        stationed_to: date | None

        def apply(self, round_: Round) -> None:
            round_.authority = self.authority
            round_.district = self.district
            round_.title = self.title
            round_.kind = self.kind
            round_.teams = tuple(self.teams)
            round_.unit_ids = tuple(self.unit_ids)
            round_.stationed_from = self.stationed_from
            round_.stationed_to = self.stationed_to
            round_.feedback_on = None
            round_.rectification_until = None
            round_.categories = ()
            round_.narratives = ()
            round_.publications = ()
            round_.activity_kinds = ()
            round_.evidence_required_for_close = False
            round_.relapse_check_months = DEFAULT_RELAPSE_CHECK_MONTHS

    class FeedbackDelivered(Event):
        occurred_on: date
        rectification_until: date | None  # None: the feedback set no end to the rectification period

        def apply(self, round_: Round) -> None:
            round_.feedback_on = self.occurred_on
            round_.rectification_until = self.rectification_until

    class CategoryDefined(Event):
        category: Category

        def apply(self, round_: Round) -> None:
            others = tuple(c for c in round_.categories if c.path != tuple(self.category.path))
            category = Category(tuple(self.category.path), self.category.title)
            round_.categories = tuple(sorted((*others, category), key=lambda c: c.path))

    class ActivityKindDefined(Event):
        """An entry of the round's catalogue of activity kinds, or a corrected one (the latest counts)."""

        activity_kind: ActivityKind

        def apply(self, round_: Round) -> None:
            defined = self.activity_kind
            others = tuple(k for k in round_.activity_kinds if k.name != defined.name)
            round_.activity_kinds = (*others, defined)

    class CloseOutEvidenceRuleSet(Event):
        """销号需佐证: whether a close-out (对账销号) needs evidence attached to the finding first."""

        required: bool

        def apply(self, round_: Round) -> None:
            round_.evidence_required_for_close = self.required

    class RelapseCheckIntervalSet(Event):
        """回头看: how long after a close-out its relapse check falls due."""

        months: int

        def apply(self, round_: Round) -> None:
            round_.relapse_check_months = self.months

    class NarrativeDrafted(Event):
        narrative: Narrative

        def apply(self, round_: Round) -> None:
            drafted = self.narrative
            others = tuple(n for n in round_.narratives if (n.unit_id, n.section) != (drafted.unit_id, drafted.section))
            round_.narratives = (*others, drafted)

    def __init__(self) -> None:
        # State comes from the created event's apply(); see the attribute list below.
        pass

    class NoticePublished(Event):
        publication: Publication

        def apply(self, round_: Round) -> None:
            round_.publications = (*round_.publications, self.publication)

    authority: str
    district: str
    title: str
    kind: RoundKind
    teams: tuple[str, ...]
    unit_ids: tuple[UUID, ...]
    stationed_from: date | None
    stationed_to: date | None
    feedback_on: date | None
    rectification_until: date | None
    categories: tuple[Category, ...]
    narratives: tuple[Narrative, ...]
    publications: tuple[Publication, ...]
    activity_kinds: tuple[ActivityKind, ...]
    # Defaults for state folded or snapshotted before these could be set.
    evidence_required_for_close: bool = False
    relapse_check_months: int = 6

    @classmethod
    def open(  # noqa: A003
        cls,
        *,
        round_id: UUID,
        authority: str,
        district: str,
        teams: tuple[str, ...],
        unit_ids: tuple[UUID, ...],
        stationed_from: date | None,
        stationed_to: date | None,
        actor: str,
        title: str = "",
        kind: RoundKind = RoundKind.INSPECTION,
    ) -> Round:
        if not unit_ids:
            raise InvalidInput("unit_ids", "a round inspects at least one unit")
        if len(set(unit_ids)) != len(unit_ids):
            raise InvalidInput("unit_ids", "a unit is listed twice")
        if not teams:
            raise InvalidInput("teams", "a round has at least one team")
        if len(set(teams)) != len(teams):
            raise InvalidInput("teams", "a team is listed twice")
        if (stationed_from is None) != (stationed_to is None):
            raise InvalidInput("stationed_to", "give both ends of the stationed period, or neither")
        if stationed_from is None and kind.stations_a_team:
            raise InvalidInput("stationed_from", f"a {kind.label} stations its team: give the stationed period")
        if stationed_from is not None and stationed_to is not None and stationed_to < stationed_from:
            raise InvalidInput("stationed_to", "must not be before stationed_from")
        return cls._create(
            cls.Opened,
            id=round_id,
            authority=authority,
            district=district,
            title=title,
            kind=kind,
            teams=teams,
            unit_ids=unit_ids,
            stationed_from=stationed_from,
            stationed_to=stationed_to,
            actor=actor,
        )

    def deliver_feedback(self, occurred_on: date, rectification_until: date | None, *, actor: str) -> None:
        if self.feedback_on is not None:
            raise IllegalTransition("FEEDBACK_DELIVERED", "feedback was already delivered for this round")
        if self.stationed_to is not None and occurred_on < self.stationed_to:
            raise InvalidInput("occurred_on", f"feedback comes after the stay ends ({self.stationed_to.isoformat()})")
        if rectification_until is not None and rectification_until <= occurred_on:
            raise InvalidInput("rectification_until", "must be after the feedback date")
        self.trigger_event(
            self.FeedbackDelivered, occurred_on=occurred_on, rectification_until=rectification_until, actor=actor
        )

    def define_category(self, path: tuple[int, ...], title: str, *, actor: str) -> None:
        """Defines a node of the category tree, or gives an existing node a corrected title."""
        if not 1 <= len(path) <= MAX_CATEGORY_DEPTH:
            raise InvalidInput("path", f"a category is 1 to {MAX_CATEGORY_DEPTH} levels deep")
        if any(n < 1 for n in path):
            raise InvalidInput("path", "ordinals start at 1")
        if len(path) > 1 and not self.has_category(path[:-1]):
            raise InvalidInput("path", f"parent category {_dotted(path[:-1])} is not defined")
        self.trigger_event(self.CategoryDefined, category=Category(path, title), actor=actor)

    def define_activity_kind(self, name: str, money: MoneyRole, *, actor: str) -> None:
        """Says what the amounts of an activity kind count as in this round (a later entry corrects one)."""
        if any(k.name == name and k.money is money for k in self.activity_kinds):
            raise InvalidInput("money", f"{name} already counts as {money.value} in this round")
        self.trigger_event(self.ActivityKindDefined, activity_kind=ActivityKind(name, money), actor=actor)

    def require_evidence_for_close(self, required: bool, *, actor: str) -> None:
        if required == self.evidence_required_for_close:
            raise InvalidInput("required", f"the round's rule 销号需佐证 is already {'on' if required else 'off'}")
        self.trigger_event(self.CloseOutEvidenceRuleSet, required=required, actor=actor)

    def set_relapse_check_interval(self, months: int, *, actor: str) -> None:
        if not 1 <= months <= 60:
            raise InvalidInput("months", f"a relapse check falls due 1 to 60 months after a close-out, not {months}")
        if months == self.relapse_check_months:
            raise InvalidInput("months", f"relapse checks already fall due {months} months after a close-out")
        self.trigger_event(self.RelapseCheckIntervalSet, months=months, actor=actor)

    def draft_narrative(
        self,
        *,
        unit_id: UUID,
        section: NarrativeSection,
        intro: str,
        items: tuple[NarrativeItem, ...],
        actor: str,
    ) -> None:
        self.require_unit(unit_id)
        narrative = Narrative(unit_id=unit_id, section=section, intro=intro, items=items)
        self.trigger_event(self.NarrativeDrafted, narrative=narrative, actor=actor)

    def publish_notice(self, publication: Publication, *, actor: str) -> None:
        self.require_publishable(publication.unit_id)
        assert self.feedback_on is not None
        if publication.published_on < self.feedback_on:
            raise InvalidInput("published_on", f"must not be before the feedback date {self.feedback_on.isoformat()}")
        if publication.window_until < publication.published_on:
            raise InvalidInput("window_days", "the publicity window must last at least one day")
        self.trigger_event(self.NoticePublished, publication=publication, actor=actor)

    def require_publishable(self, unit_id: UUID) -> None:
        """A notice of this unit can be built: the unit is inspected here, the feedback was
        delivered, and both narrative sections it prints are drafted."""
        self.require_unit(unit_id)
        if self.feedback_on is None:
            raise IllegalTransition("STATIONED", "a notice reports on rectification, which follows the feedback")
        for section in NarrativeSection:
            if not any(n.unit_id == unit_id and n.section is section for n in self.narratives):
                raise IllegalTransition("NOT_DRAFTED", f"draft the {section.value} narrative before publishing")

    # -- queries ----------------------------------------------------------------------------

    def has_category(self, path: tuple[int, ...]) -> bool:
        return any(c.path == tuple(path) for c in self.categories)

    def require_unit(self, unit_id: UUID) -> None:
        if unit_id not in self.unit_ids:
            raise InvalidInput("unit_id", f"unit {unit_id} is not inspected in this round")

    def require_feedback(self) -> date:
        if self.feedback_on is None:
            raise IllegalTransition("STATIONED", "findings are raised once the feedback is delivered")
        return self.feedback_on

    def publication(self, notice_id: UUID) -> Publication:
        for publication in self.publications:
            if publication.notice_id == notice_id:
                return publication
        raise NotFound("notice", notice_id)

    def narrative(self, unit_id: UUID, section: NarrativeSection) -> Narrative:
        for narrative in self.narratives:
            if (narrative.unit_id, narrative.section) == (unit_id, section):
                return narrative
        raise NotFound("narrative", f"{section.value} of unit {unit_id}")

    def money_role(self, activity_kind: str) -> MoneyRole:
        return money_role(self.activity_kinds, activity_kind)

    @property
    def team(self) -> str:
        """The team, or the teams joined as a document lists them: 第一巡察组、第二巡察组."""
        return "、".join(self.teams)

    @property
    def team_name(self) -> str:
        """The team's full name, e.g. 罗湖区第四巡察组."""
        return f"{self.district}{self.team}"

    @property
    def kind_label(self) -> str:
        return self.kind.label


def _dotted(path: tuple[int, ...]) -> str:
    return ".".join(str(n) for n in path)
