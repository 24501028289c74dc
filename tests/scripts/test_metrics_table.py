"""scripts/metrics_table.py: the synthetic row (padding to BIGE's window, determinism, floor metrics)."""

from __future__ import annotations

import numpy as np
import pytest

from models.biomech import metrics as bm
from scripts.metrics_table import standing_windows, synthetic_reps, synthetic_row


def test_standing_windows_pad_short_reps_and_cut_long_ones() -> None:
    rep = np.cumsum(np.ones((150, 33)), axis=0)  # (150, 33), every frame distinct
    windows = standing_windows(rep)
    assert windows.shape == (1, bm.WINDOW_FRAMES, 33)
    np.testing.assert_array_equal(windows[0, :23], np.repeat(rep[:1], 23, axis=0))  # held first pose
    np.testing.assert_array_equal(windows[0, 23:173], rep)
    np.testing.assert_array_equal(windows[0, 173:], np.repeat(rep[-1:], 23, axis=0))  # held last pose
    long = np.cumsum(np.ones((300, 33)), axis=0)
    np.testing.assert_array_equal(standing_windows(long), bm.cut_windows(long))


def test_synthetic_row_is_deterministic_and_planted() -> None:
    reps, labels, _ = synthetic_reps(3, seed=4)
    again, _, _ = synthetic_reps(3, seed=4)
    assert len(reps) == len(labels) == 3
    for a, b in zip(reps, again):
        np.testing.assert_array_equal(a, b)
    real = np.concatenate([standing_windows(r) for r in reps]) + 1.0  # any reference set will do
    row = synthetic_row(3, 4, real, weights=None)
    assert row["true_reps"] == 3 and row["reps_excursion"] == 3  # one rep found in each
    assert row["clean_reps"] + sum(1 for lab in labels if lab) == 3
    assert row["fidelity"] == pytest.approx(1.0, abs=1e-9)  # the same values shifted by 1: mean differs by 1
    # planted feet: at the simulated reference's level (BIGE: 0.003 cm, 0.000 cm, 0.035 m/s)
    assert row["penetration_cm"] < 0.5 and row["floating_cm"] < 0.5 and row["sliding_m_s"] < 0.05
    assert row["pelvis_tilt_at_peak_activation_deg"] is None  # no surrogate weights given
