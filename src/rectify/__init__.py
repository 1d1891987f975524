"""rectify: the record of an inspection's rectification (巡察整改), kept as immutable events."""
