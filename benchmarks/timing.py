"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def best_of(fn: Callable[[], T], repeat: int, warm_up: bool = False) -> tuple[float, T]:
    """(best wall-clock seconds over ``repeat`` calls, the last result); ``warm_up`` adds an untimed first
    call (numba loads or compiles a kernel on its first call)."""
    result = fn() if warm_up else None
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result
