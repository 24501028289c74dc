"""Repetition segmentation of squats and sit-to-stand from the knee-flexion angle.

Purpose: cut a trial into repetitions, e.g. to build BIGE-style training windows or to count reps.
Inputs: a :class:`edge.motion_io.Motion` with ``knee_angle_r`` / ``knee_angle_l`` columns (degrees or
radians, any uniform frame rate), a (T, 33) array of BIGE coordinates in degrees, or a (T,) knee-flexion
trace in degrees; for arrays, the frame rate.
Outputs: a list of ``(start, end)`` frame indices, one per rep, ``end`` exclusive (``x[start:end]`` is
the rep), in time order; consecutive reps overlap at most in the one boundary frame they share.

Two methods (:class:`RepMethod`):

* ``EXCURSION`` (default, robust). The knee trace (mean of both knees) is smoothed with a
  Savitzky-Golay filter (order 3, ``smoothing_s`` = 0.35 s, i.e. 21 frames at 60 fps) and scaled to an
  *excursion* e in [0, 1] between its rest level (e = 0) and its far level (e = 1), taken as the 2nd and
  98th percentiles of the trace. The rest level is the one the trial starts and ends at: standing for
  squats (low knee flexion), seated for sit-to-stand (high knee flexion); ``RepBaseline`` can force it.
  A hysteresis state machine finds the excursions: a rep is entered when e rises above
  ``enter_fraction`` and left when e falls back below ``exit_fraction``, so noise must cross the whole
  band between the two thresholds to make a spurious rep. A rep must move the knee by at least
  ``min_excursion_deg`` from rest and last at least ``min_rep_s``; a trial whose knee range is below
  ``min_excursion_deg`` has no reps. Boundaries: a rep starts at the last frame before it where e was
  at rest (e <= ``rest_fraction``) and ends at the first frame after it where e is at rest again; where
  e does not come back to rest between two reps, both share the frame of the lowest e between them.
* ``VALLEYS`` (BIGE's segmentation, for comparison). The smoothed flexion of the more-flexed knee
  (Savitzky-Golay, 21 frames at 100 Hz in BIGE, here ``smoothing_s``) is searched for valleys (local
  minima, ``scipy.signal.find_peaks`` on the negated trace) lying within the lowest 10% of its range and
  at least 0.1 s apart; consecutive valleys bound the reps. BIGE's notes speak of the knee-flexion
  *angular velocity*, but its public code applies the valley search to the smoothed angle (its
  differencing step is disabled), and valleys of the angle are what mark standing between squats.
  BIGE then picked the best N of these candidate segments with a cross-trial search; this module
  returns every consecutive pair, so noise in the rest phase over-segments (see the tests).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks, savgol_filter

from edge.messages import BIGE_COORDINATES
from edge.motion_io import Motion

KNEE_COLUMNS = ("knee_angle_r", "knee_angle_l")
_KNEE_INDEX = tuple(BIGE_COORDINATES.index(c) for c in KNEE_COLUMNS)


class RepMethod(enum.Enum):
    """Segmentation algorithm (see the module docstring)."""

    EXCURSION = "excursion"
    VALLEYS = "valleys"


class RepBaseline(enum.Enum):
    """Which knee-flexion level is rest: found from the trial's ends, or given."""

    AUTO = "auto"
    STANDING = "standing"  # rest = low knee flexion (squats)
    SEATED = "seated"  # rest = high knee flexion (sit-to-stand starting seated)


@dataclass(frozen=True)
class RepConfig:
    """Settings of :func:`segment_reps`.

    Attributes:
        method: segmentation algorithm.
        baseline: rest level (EXCURSION only).
        smoothing_s: Savitzky-Golay window length in seconds (order 3); 0.35 s = 21 frames at 60 fps.
        enter_fraction: excursion (fraction of the knee range) above which a rep begins (EXCURSION).
        exit_fraction: excursion below which a rep is over (EXCURSION); < enter_fraction.
        rest_fraction: excursion at or below which the knee counts as at rest, for rep boundaries
            (EXCURSION); <= exit_fraction.
        min_excursion_deg: smallest knee excursion from rest that counts as a rep (EXCURSION).
        min_rep_s: shortest rep (EXCURSION).
        valley_fraction: valleys must lie within this fraction of the range above the minimum (VALLEYS).
        min_valley_gap_s: minimum spacing of valleys (VALLEYS).
    """

    method: RepMethod = RepMethod.EXCURSION
    baseline: RepBaseline = RepBaseline.AUTO
    smoothing_s: float = 0.35
    enter_fraction: float = 0.5
    exit_fraction: float = 0.25
    rest_fraction: float = 0.1
    min_excursion_deg: float = 20.0
    min_rep_s: float = 0.5
    valley_fraction: float = 0.1
    min_valley_gap_s: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.method, RepMethod):
            raise ValueError(f"RepConfig.method must be a RepMethod, got {self.method!r}")
        if not isinstance(self.baseline, RepBaseline):
            raise ValueError(f"RepConfig.baseline must be a RepBaseline, got {self.baseline!r}")
        for name in ("smoothing_s", "min_excursion_deg", "min_rep_s", "min_valley_gap_s"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"RepConfig.{name} must be > 0, got {value}")
        if not 0 <= self.rest_fraction <= self.exit_fraction < self.enter_fraction < 1:
            raise ValueError("RepConfig: need 0 <= rest_fraction <= exit_fraction < enter_fraction < 1, "
                             f"got {self.rest_fraction}, {self.exit_fraction}, {self.enter_fraction}")
        if not 0 < self.valley_fraction < 1:
            raise ValueError(f"RepConfig.valley_fraction must be in (0, 1), got {self.valley_fraction}")


def knee_trace(motion_or_coords: Motion | np.ndarray, fps: float | None = None) -> tuple[np.ndarray, float]:
    """Both knees' flexion (T, 2) in degrees and the frame rate, from any accepted input.

    A (T,) trace is returned as (T, 1).

    Raises:
        ValueError: wrong shape, non-finite values, missing knee columns, missing or bad fps, or a
            Motion whose time steps are not uniform (resample it first).
    """
    if isinstance(motion_or_coords, Motion):
        motion = motion_or_coords
        where = motion.source or "motion"
        missing = [c for c in KNEE_COLUMNS if c not in motion.columns]
        if missing:
            raise ValueError(f"{where}: no column {missing[0]!r}: cannot segment reps")
        knees = np.column_stack([motion.column(c) for c in KNEE_COLUMNS])
        if not motion.in_degrees:
            knees = np.rad2deg(knees)
        steps = np.diff(motion.time_s)
        if steps.size == 0 or np.any(steps <= 0) or np.ptp(steps) > 0.01 * np.median(steps):
            raise ValueError(f"{where}: time steps are not uniform; resample the motion first")
        motion_fps = 1.0 / float(np.median(steps))
        if fps is not None and abs(fps - motion_fps) > 0.01 * motion_fps:
            raise ValueError(f"{where}: fps={fps} disagrees with the motion's own {motion_fps:.3f} fps")
        fps = motion_fps
    else:
        x = np.asarray(motion_or_coords, dtype=float)
        if x.ndim == 2 and x.shape[1] == len(BIGE_COORDINATES):
            knees = x[:, list(_KNEE_INDEX)]
        elif x.ndim == 1:
            knees = x[:, None]
        else:
            raise ValueError(f"coordinates: expected (T, {len(BIGE_COORDINATES)}) BIGE coordinates or a "
                             f"(T,) knee-flexion trace, got shape {x.shape}")
        if fps is None:
            raise ValueError("fps is required when segmenting an array")
    if not (fps is not None and np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if not np.all(np.isfinite(knees)):
        raise ValueError("knee flexion has non-finite values")
    return knees, float(fps)


def _smooth(x: np.ndarray, window_s: float, fps: float) -> np.ndarray:
    """Savitzky-Golay (order 3) along axis 0 with an odd window of about window_s seconds."""
    window = int(round(window_s * fps)) | 1
    window = min(window, x.shape[0] if x.shape[0] % 2 else x.shape[0] - 1)
    if window <= 3:
        return x.copy()
    return savgol_filter(x, window_length=window, polyorder=3, axis=0)


def segment_reps(motion_or_coords: Motion | np.ndarray, fps: float | None = None,
                 config: RepConfig = RepConfig()) -> list[tuple[int, int]]:
    """Find the repetitions of a squat or sit-to-stand trial.

    Args:
        motion_or_coords: a Motion with knee_angle_r/l (degrees or radians, uniform time steps), a
            (T, 33) array of BIGE coordinates in degrees, or a (T,) knee-flexion trace in degrees.
        fps: frame rate; required for arrays, checked against the Motion's time steps otherwise.
        config: algorithm and thresholds.

    Returns:
        ``[(start, end), ...]`` frame indices, ``end`` exclusive, in time order.

    Raises:
        ValueError: see :func:`knee_trace`.
    """
    knees, fps = knee_trace(motion_or_coords, fps)
    if knees.shape[0] < 3:
        return []
    if config.method is RepMethod.VALLEYS:
        return _valley_reps(knees, fps, config)
    return _excursion_reps(knees, fps, config)


def _valley_reps(knees: np.ndarray, fps: float, config: RepConfig) -> list[tuple[int, int]]:
    flexion = _smooth(knees, config.smoothing_s, fps).max(axis=1)  # (T,) the more-flexed knee
    lo, hi = float(flexion.min()), float(flexion.max())
    ceiling = lo + config.valley_fraction * (hi - lo)
    distance = max(1, int(round(config.min_valley_gap_s * fps)))
    valleys, _ = find_peaks(-flexion, height=-ceiling, distance=distance)
    return [(int(a), int(b) + 1) for a, b in zip(valleys[:-1], valleys[1:])]


def _excursion_reps(knees: np.ndarray, fps: float, config: RepConfig) -> list[tuple[int, int]]:
    flexion = _smooth(knees.mean(axis=1), config.smoothing_s, fps)  # (T,)
    lo, hi = np.percentile(flexion, [2.0, 98.0])
    span = float(hi - lo)
    if span < config.min_excursion_deg:
        return []
    seated = _rest_is_high(flexion, lo, span, fps) if config.baseline is RepBaseline.AUTO \
        else config.baseline is RepBaseline.SEATED
    excursion = (hi - flexion) / span if seated else (flexion - lo) / span  # (T,) 0 = rest

    # Hysteresis: active spans [a, b) from rising above enter to falling below exit.
    spans: list[tuple[int, int]] = []
    active, a = False, 0
    for t, e in enumerate(excursion):
        if not active and e > config.enter_fraction:
            active, a = True, t
        elif active and e < config.exit_fraction:
            spans.append((a, t))
            active = False
    if active:
        spans.append((a, excursion.shape[0]))

    rest = excursion <= config.rest_fraction
    n = excursion.shape[0]
    reps: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(spans):
        peak_deg = float(excursion[a:b].max()) * span
        lo_gap = spans[i - 1][1] if i > 0 else 0
        hi_gap = spans[i + 1][0] if i + 1 < len(spans) else n
        start = _last_rest_before(rest, excursion, lo_gap, a)
        end = _first_rest_after(rest, excursion, b, hi_gap)
        if peak_deg >= config.min_excursion_deg and (end - start) / fps >= config.min_rep_s:
            reps.append((start, end))
    return reps


def _rest_is_high(flexion: np.ndarray, lo: float, span: float, fps: float) -> bool:
    """True if the trial's ends (first and last 0.5 s) sit nearer the high-flexion level."""
    k = max(1, int(round(0.5 * fps)))
    ends = np.concatenate([flexion[:k], flexion[-k:]])
    return float(np.median((ends - lo) / span)) > 0.5


def _last_rest_before(rest: np.ndarray, excursion: np.ndarray, lo: int, a: int) -> int:
    """Rep start: last rest frame in [lo, a); else the lowest-excursion frame there (or lo)."""
    idx = np.flatnonzero(rest[lo:a])
    if idx.size:
        return lo + int(idx[-1])
    return lo + int(np.argmin(excursion[lo:a])) if a > lo else lo


def _first_rest_after(rest: np.ndarray, excursion: np.ndarray, b: int, hi: int) -> int:
    """Rep end (exclusive): first rest frame in [b, hi) + 1; else after the lowest-excursion frame."""
    idx = np.flatnonzero(rest[b:hi])
    if idx.size:
        return b + int(idx[0]) + 1
    if b >= hi:
        return hi
    return b + int(np.argmin(excursion[b:hi])) + 1
