"""The Unit aggregate: an organisation inspected (被巡察党组织) and how the public reaches it."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from rectify.domain.values import Contact


class Unit(Aggregate):
    """被巡察党组织, e.g. 中共深圳市罗湖区桂园街道松园社区委员会 (short: 松园社区党委)."""

    class Event(Aggregate.Event):
        actor: str

    class Registered(Event, Aggregate.Created):
        name: str
        short_name: str
        contact: Contact

        def apply(self, unit: Unit) -> None:
            unit.name = self.name
            unit.short_name = self.short_name
            unit.contact = self.contact

    class ContactChanged(Event):
        contact: Contact

        def apply(self, unit: Unit) -> None:
            unit.contact = self.contact

    def __init__(self) -> None:
        # State comes from the created event's apply(); see the attribute list below.
        pass

    name: str
    short_name: str
    contact: Contact

    @classmethod
    def register(cls, *, unit_id: UUID, name: str, short_name: str, contact: Contact, actor: str) -> Unit:
        return cls._create(cls.Registered, id=unit_id, name=name, short_name=short_name, contact=contact, actor=actor)

    def change_contact(self, contact: Contact, *, actor: str) -> None:
        self.trigger_event(self.ContactChanged, contact=contact, actor=actor)
