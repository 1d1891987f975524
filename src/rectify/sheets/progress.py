"""How far the imports running in this process have got, for a client to poll while its import runs.

An import over the API names itself with a progress id the client chooses; while it runs, `ledgerImport(progressId)`
answers with its stage and the events appended so far, to the importer who started it and to no one else. The
record lives in the serving process only (a poll goes to the same server), bounded to the most recent imports.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from enum import Enum


class Stage(Enum):
    READING = "READING"
    IMPORTING = "IMPORTING"
    DONE = "DONE"
    REJECTED = "REJECTED"
    STOPPED = "STOPPED"


@dataclass(frozen=True)
class Progress:
    owner: str  # the importer, as its actor prints
    stage: Stage
    done: int = 0
    total: int = 0


class ImportProgress:
    """The progress of the last `keep` imports, by progress id."""

    def __init__(self, keep: int = 256) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._imports: OrderedDict[str, Progress] = OrderedDict()

    def start(self, progress_id: str, owner: str) -> bool:
        """Starts recording an import; False if the id is taken by a running import."""
        with self._lock:
            current = self._imports.get(progress_id)
            if current is not None and current.stage in (Stage.READING, Stage.IMPORTING):
                return False
            self._imports[progress_id] = Progress(owner, Stage.READING)
            self._imports.move_to_end(progress_id)
            while len(self._imports) > self.keep:
                self._imports.popitem(last=False)
            return True

    def update(self, progress_id: str, stage: Stage, done: int = 0, total: int = 0) -> None:
        with self._lock:
            current = self._imports.get(progress_id)
            if current is not None:
                self._imports[progress_id] = replace(current, stage=stage, done=done, total=total)

    def of(self, progress_id: str, owner: str) -> Progress | None:
        """The import's progress, for its owner only (None for anyone else, as for no such import)."""
        with self._lock:
            found = self._imports.get(progress_id)
        return found if found is not None and found.owner == owner else None


#: The imports of this process.
imports = ImportProgress()
