"""One timing helper for every paced loop: per-section timings and a summary.

Usage::

    timer = CycleTimer()
    with timer.section("pose"):
        ...
    timer.end_cycle()
    timer.summary()  # {"pose": {"p50_ms": .., "p95_ms": .., "mean_ms": .., "n": ..}, "cycle": ...}

Benchmarks reuse it. Only a bounded window of recent samples is kept per section.
"""

from __future__ import annotations

import time
from collections import deque
from contextlib import contextmanager
from typing import Iterator

import numpy as np


class CycleTimer:
    """Collects per-section durations (monotonic ns) over a sliding window of cycles."""

    def __init__(self, window: int = 1000) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._window = window
        self._samples: dict[str, deque[int]] = {}
        self._cycle_start_ns: int | None = None
        self._n_cycles = 0
        self._first_cycle_ns: int | None = None
        self._last_cycle_ns: int | None = None

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Time the body of the with-block under ``name``."""
        t0 = time.monotonic_ns()
        if self._cycle_start_ns is None:
            self._cycle_start_ns = t0
        try:
            yield
        finally:
            self.add(name, time.monotonic_ns() - t0)

    def add(self, name: str, duration_ns: int) -> None:
        """Record one duration measured elsewhere (e.g. capture-to-display latency)."""
        self._samples.setdefault(name, deque(maxlen=self._window)).append(int(duration_ns))

    def end_cycle(self) -> None:
        """Close one loop iteration: records its total duration under 'cycle' and counts it for fps."""
        now = time.monotonic_ns()
        if self._cycle_start_ns is not None:
            self.add("cycle", now - self._cycle_start_ns)
        self._cycle_start_ns = None
        self._n_cycles += 1
        if self._first_cycle_ns is None:
            self._first_cycle_ns = now
        self._last_cycle_ns = now

    @property
    def n_cycles(self) -> int:
        return self._n_cycles

    def fps(self) -> float:
        """Cycles per second between the first and the last completed cycle (0 with fewer than 2)."""
        if self._n_cycles < 2 or self._first_cycle_ns is None or self._last_cycle_ns is None:
            return 0.0
        span_s = (self._last_cycle_ns - self._first_cycle_ns) / 1e9
        return (self._n_cycles - 1) / span_s if span_s > 0 else 0.0

    def p50_ms(self) -> dict[str, float]:
        """Median per section in milliseconds (what a heartbeat carries)."""
        return {k: float(np.median(v)) / 1e6 for k, v in self._samples.items() if v}

    def summary(self) -> dict[str, dict[str, float]]:
        """p50, p95, mean (ms) and sample count per section."""
        out: dict[str, dict[str, float]] = {}
        for name, values in self._samples.items():
            if not values:
                continue
            arr = np.asarray(values, dtype=np.float64) / 1e6
            out[name] = {
                "p50_ms": float(np.percentile(arr, 50)),
                "p95_ms": float(np.percentile(arr, 95)),
                "mean_ms": float(arr.mean()),
                "n": int(arr.size),
            }
        return out
