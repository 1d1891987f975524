"""Benchmark of a finding's activities held packed: memory against speed, beside the same sequence unpacked.

    python bench/activities.py                     # 500, 2,000, 10,000 and 30,000 activities
    python bench/activities.py --sizes 1000 50000

`rectify.domain.values.Activities` keeps all but a finding's last LOOSE full chunks packed as compressed
bytes. For each size, in one run, the same activities (as the domain makes them: one object per activity,
kinds, units and days shared) are held two ways: packed, as rectify holds them, and all as objects (LOOSE
raised past the size, the baseline). It prints, for both and as the ratio packed / objects:
  1. the memory a sequence holds per activity once built (tracemalloc; what stays alive);
  2. recording one more (`appended`), per call, over the last 2,000 of the history;
  3. a figure over the whole history (`activity_figures`, what progress and filled measure texts do),
     which decodes every packed chunk.
Figures over a finding of a few hundred activities pack nothing, so its ratio is 1. Timings on a shared
machine are noisy: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from rectify.domain.values import Activities, Activity, shared
from rectify.projections.ledger import activity_figures

KINDS = (("入户走访", "户"), ("大扫除", "次"), ("整改资金", "万元"))


def made(n: int) -> list[Activity]:
    """n activities as a district's would be: three kinds over two years, a description of a few words."""
    start = date(2025, 1, 1)
    found = []
    for i in range(n):
        kind, unit = KINDS[i % 3]
        found.append(
            Activity(
                uuid.uuid4(),
                kind,
                start + timedelta(days=i % 730),
                unit,
                f"第{i}次，{kind}，覆盖第{i % 17}网格",
                count=None if unit == "万元" else 1 + i % 5,
                amount=Decimal("1.25") if unit == "万元" else None,
            )
        )
    return found


def grown(items: list[Activity], loose: int) -> Activities:
    """The sequence the domain's fold makes (one `appended` per event), keeping `loose` chunks as objects."""
    Activities.LOOSE = loose
    sequence = Activities()
    for item in items:
        sequence = sequence.appended(item)
    return sequence


def per_call(work: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def measure(n: int, loose: int) -> dict[str, float]:
    gc.collect()
    tracemalloc.start()  # before the activities are made: what of them stays alive is counted
    items = [shared(a) for a in made(n)]
    first = items[0].activity_id
    kept = grown(items, loose)
    del items  # only the sequence holds them now, as the write side's cache would
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] / n
    tracemalloc.stop()
    tail = made(2000)
    appended = per_call(lambda: [kept.appended(a) for a in tail], 3) / len(tail)
    figures = per_call(lambda: activity_figures(a for a in kept if not a.retracted), 5)
    assert len(kept) == n and kept[0].activity_id == first
    return {"bytes": held, "append_us": appended * 1e6, "figures_ms": figures * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 10_000, 30_000])
    args = parser.parse_args()
    loose = Activities.LOOSE
    kept_alive = made(800)  # every day, kind and unit made once: the first size measured is not charged them
    print(f"{'activities':>10}  {'held per activity':>26}  {'append one':>24}  {'a figure over all':>27}")
    for n in args.sizes:
        packed = measure(n, loose)
        objects = measure(n, 10**9)
        Activities.LOOSE = loose
        cells = [
            f"{packed[k]:{w}} vs {objects[k]:{w}} {unit} ({packed[k] / objects[k]:.2f})"
            for k, w, unit in (("bytes", "6.0f", "B"), ("append_us", "5.2f", "µs"), ("figures_ms", "7.1f", "ms"))
        ]
        print(f"{n:>10,}  " + "  ".join(cells))
    assert kept_alive


if __name__ == "__main__":
    main()
