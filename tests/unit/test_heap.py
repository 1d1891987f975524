"""The collector's settings for a long-running process: what it started with is left alone, cycles still go."""

from __future__ import annotations

import subprocess
import sys

SETTLED = """
import gc
from rectify import heap

started_with = [[] for _ in range(1000)]
heap.settle()
assert gc.get_freeze_count() >= 1000, gc.get_freeze_count()
assert gc.get_threshold() == heap.THRESHOLDS, gc.get_threshold()

class Node:
    pass

for _ in range(10):
    node = Node()
    node.itself = node
    del node
assert gc.collect() >= 10, "cycles made after settling must still be collected"
print("settled")
"""


def test_a_settled_process_leaves_what_it_started_with_to_the_collector_no_more_and_still_collects_cycles() -> None:
    # in a process of its own: freezing the heap of the test process would keep every later test's garbage
    ran = subprocess.run([sys.executable, "-c", SETTLED], capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "settled"
