"""Fixtures for the muscle tests: OpenSim and pose2sim's models (skip when absent), real squat trials."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.paths import pose2sim_setup_dir, shared_dir


def opensim_or_skip():
    """The opensim module (console logging reduced), or skip the test."""
    try:
        from edge.skeleton.export import import_opensim
        return import_opensim()
    except ImportError as exc:
        pytest.skip(f"opensim not importable: {exc}")


def pose2sim_model(name: str) -> Path:
    """A model file of pose2sim's OpenSim_Setup, or skip."""
    try:
        path = pose2sim_setup_dir() / name
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    if not path.is_file():
        pytest.skip(f"pose2sim model missing: {path}")
    return path


def squat_trial_or_skip() -> Path:
    path = shared_dir() / "data" / "opencap_squats1" / "squats1_mocap.mot"
    if not path.is_file():
        pytest.skip(f"shared squat trial missing: {path}")
    return path


@pytest.fixture(scope="session")
def muscle_sampler():
    opensim_or_skip()
    from models.biomech.muscles.fit import OpenSimMuscleSampler
    return OpenSimMuscleSampler(pose2sim_model("Model_Pose2Sim_muscles_flex.osim"))


def synthetic_squat(model, n_frames: int = 120, fps: float = 60.0, depth_deg: float = 90.0):
    """One smooth squat on the model: (q, qd, qdd) analytic, (T, n), and the time vector.

    Knees flex to depth_deg, hips to depth_deg, ankles dorsiflex to depth_deg / 3, pelvis tilts forward,
    pelvis height follows so the feet stay roughly level; a raised cosine (0 -> 1 -> 0) drives it all.
    """
    t = np.arange(n_frames) / fps
    period = n_frames / fps
    w = 2 * np.pi / period
    s, sd, sdd = 0.5 * (1 - np.cos(w * t)), 0.5 * w * np.sin(w * t), 0.5 * w * w * np.cos(w * t)
    amp = np.zeros(model.n_coordinates)
    d = np.radians(depth_deg)
    for side in "rl":
        amp[model.coordinate_index(f"hip_flexion_{side}")] = d
        amp[model.coordinate_index(f"knee_angle_{side}")] = d
        amp[model.coordinate_index(f"ankle_angle_{side}")] = d / 3
    amp[model.coordinate_index("pelvis_tilt")] = -d / 3
    amp[model.coordinate_index("pelvis_ty")] = -0.35 * depth_deg / 90.0
    amp[model.coordinate_index("pelvis_tx")] = -0.1 * depth_deg / 90.0
    q0 = model.default_q()
    return q0 + s[:, None] * amp, sd[:, None] * amp, sdd[:, None] * amp, t
