"""The notice (通报): a read model of a round as of a log position, rendered and published."""
