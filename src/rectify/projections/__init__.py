"""Read models folded from the log: ledger, activities, progress, history; persisted or as of any position."""

from rectify.projections.fold import StateCodec


def codec() -> StateCodec:
    return StateCodec()
