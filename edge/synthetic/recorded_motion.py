"""A recorded motion (an OpenSim ``.mot`` file) as the synthetic subject's motion.

Inputs: a ``.mot`` file with the 33 BIGE coordinates (degrees or radians, 33 or 35 columns, any
rate), a frame rate, and the forward kinematics of the rendered model. Output: frame times and BIGE
coordinates at that rate, ready to render: real kinematics (lumbar flexion, arm swing, asymmetry, the
subject's own timing) with exact truth, filmed from any viewpoint.

Algorithm: read and keep the BIGE columns (``edge.motion_io``), resample to the frame rate, then move
the pelvis so that the feet stay where they stood: the file's pelvis path belongs to the recorded
subject's own model, and on the rendered model, whose segments are longer or shorter, it would slide
the feet and sink them into the floor. Per frame the pelvis translates by minus the drift of the
centre of the sole points from the first frame, and by one constant so that the lowest sole point of
the first frame touches the floor (y = 0). The joint angles and the pelvis orientation, i.e. every
reported angle, stay exactly as recorded. This suits motions done on planted feet (squats, sit to
stand), not steps. The subject keeps the lab's heading (the trials in ``../shared/data`` face ground +x
within 15 deg), so the viewpoint's azimuth is measured from the lab's x axis.
"""

from __future__ import annotations

import os

import numpy as np

from edge.messages import BIGE_COORDINATES
from edge.motion_io import read_mot, resample, to_bige33
from edge.synthetic.body import BodyKinematics, points_in_ground, sole_points


def recorded_motion(path: str | os.PathLike[str], fps: float,
                    kinematics: BodyKinematics | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The motion of a ``.mot`` file at ``fps``, standing on the floor.

    Args:
        path: the file (BIGE coordinates; see module docstring).
        fps: frame rate of the output, frames per second.
        kinematics: forward kinematics of the rendered model (default: ``BodyKinematics.default()``).

    Returns:
        time_s (T,) from 0; coords_bige (T, 33) degrees / metres in BIGE order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is malformed, lacks BIGE columns or has fewer than 2 frames (named).
    """
    motion = resample(to_bige33(read_mot(path)), fps)
    kinematics = kinematics or BodyKinematics.default()
    coords = motion.values.copy()
    transforms = kinematics.transforms(coords)  # (T, n_bodies, 4, 4)
    soles = np.stack([points_in_ground(transforms, kinematics.index(body), local)
                      for side in ("r", "l") for body, local in sole_points(side).values()], axis=1)  # (T, P, 3)
    drift = soles.mean(axis=1) - soles[:1].mean(axis=1)  # (T, 3)
    drift[:, 1] += soles[0, :, 1].min()  # and the first frame's lowest sole point onto the floor
    translation = [BIGE_COORDINATES.index(c) for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    coords[:, translation] -= drift
    return motion.time_s - motion.time_s[0], coords
