"""Timing helpers shared by the benchmarks: best-of-N wall time and a ratio table."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    """One line of a benchmark table: ``ours / reference`` wall time of the same work."""

    name: str
    ours_s: float
    reference_s: float
    reference: str = "torch"

    @property
    def ratio(self) -> float:
        return self.ours_s / self.reference_s


def best_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """The fastest of ``repeat`` runs of ``fn`` in seconds, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"{'case':<44}{'course_lib [ms]':>16}{'reference [ms]':>16}{'ratio':>8}  reference")
    for r in rows:
        print(f"{r.name:<44}{r.ours_s * 1e3:>16.2f}{r.reference_s * 1e3:>16.2f}"
              f"{r.ratio:>8.2f}  {r.reference}")
