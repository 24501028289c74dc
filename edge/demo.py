"""``bige demo``: the pipeline on the built-in synthetic subject, scored against its exact truth.

The synthetic subject (``edge.synthetic``) is the skeletal model itself driven through squats and
rendered as a shaded mannequin; its coordinates are known exactly for every frame, so the lifter's
error can be measured without a motion-capture lab.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from edge.camera import SYNTHETIC_SPEC
from edge.messages import BIGE_COORDINATES, ImageEncoding
from edge.recorder import read_session
from edge.settings import StationSettings
from edge.synthetic.source import SyntheticSourceConfig, subject_motion

REPORTED = ("hip_flexion_r", "hip_flexion_l", "knee_angle_r", "knee_angle_l", "ankle_angle_r", "ankle_angle_l",
            "hip_adduction_r", "hip_adduction_l", "pelvis_tilt", "lumbar_extension")
SAGITTAL_LOWER = REPORTED[:6]


def demo_settings(settings: StationSettings, azimuth_deg: float, reps: int, motion_file: str = "") -> StationSettings:
    """``settings`` with the camera filming the synthetic subject from ``azimuth_deg``, paced in real time,
    doing ``reps`` squats or the recorded ``motion_file`` (a ``.mot``; "" = the squat set)."""
    synthetic = settings.camera.synthetic
    synthetic = dataclasses.replace(
        synthetic, realtime=True, loop=False, motion_file=motion_file,
        motion=dataclasses.replace(synthetic.motion, reps=reps),
        mannequin=dataclasses.replace(synthetic.mannequin, azimuth_deg=azimuth_deg))
    camera = dataclasses.replace(settings.camera, synthetic=synthetic, forward=ImageEncoding.BGR8,
                                 source=dataclasses.replace(settings.camera.source, spec=SYNTHETIC_SPEC))
    return dataclasses.replace(settings, camera=camera)


def truth_rmse(config: SyntheticSourceConfig, session_folder: Path) -> dict[str, float]:
    """RMSE (deg) of the recorded kinematics against the synthetic subject's exact coordinates.

    Frames are matched by frame index; invalid frames are left out. ``mean_sagittal_lower`` is the
    mean over hip, knee and ankle flexion of both sides (the figure docs and issues quote).
    """
    _, truth = subject_motion(config)
    records = read_session(session_folder).kinematics
    records = records[records["valid"].astype(bool) & (records["frame_index"] < len(truth))]
    if len(records) == 0:
        raise ValueError(f"{session_folder}: no valid kinematics to compare with the truth")
    out = rmse_table(records["coordinates"], truth[records["frame_index"]])
    out["frames_compared"] = int(len(records))
    return out


def rmse_table(estimate: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """RMSE (deg, rounded to 0.01) of each ``REPORTED`` coordinate between matched (N, 33) arrays, and
    ``mean_sagittal_lower``, the mean over hip, knee and ankle flexion of both sides."""
    out = {}
    for name in REPORTED:
        i = BIGE_COORDINATES.index(name)
        out[name] = round(float(np.sqrt(np.mean((estimate[:, i] - truth[:, i]) ** 2))), 2)
    out["mean_sagittal_lower"] = round(float(np.mean([out[k] for k in SAGITTAL_LOWER])), 2)
    return out
