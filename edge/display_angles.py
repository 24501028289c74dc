"""The live joint angles shown to the user on the overlay, in degrees.

Inputs: a ``Kinematics`` coordinate vector (33 BIGE coordinates, degrees / metres, order
``edge.messages.BIGE_COORDINATES``) and, for frontal knee alignment, MediaPipe image landmarks
(33 x 3, x and y normalised to [0, 1]). Outputs: plain floats in degrees; every function returns NaN
(never raises) when its inputs are NaN, missing or degenerate, so the display shows a dash.

- Hip, knee and ankle flexion are read straight from the model coordinates (OpenSim signs: hip
  flexion +, knee flexion +, ankle dorsiflexion +).
- Frontal knee alignment is the frontal-plane projection angle (FPPA) of hip-knee-ankle, computed
  from the *image* landmarks: FPPA is by definition a 2-D angle measured on a frontal camera view
  (the clinical drop-jump / single-leg-squat screen), and MediaPipe's image x/y are its most accurate
  output, while its world landmarks carry a learned depth that is noisiest exactly along the knee's
  medial-lateral travel. Sign: valgus (knee inside the hip-ankle line) positive, varus negative.
  "Inside" is the side of the hip-ankle line on which the other hip lies, so the sign is right for a
  subject facing the camera or facing away, whichever way the image is mirrored. A projected angle
  from an oblique camera mixes in knee flexion, so the display hides FPPA when the pelvis is turned
  more than a set yaw from the camera (``view_yaw_deg``, from MediaPipe's camera-aligned world
  landmarks).
- Trunk lean is taken from the kinematics, not from the world landmarks: the model coordinates live
  in the ground frame (gravity-aligned by the floor calibration), whereas MediaPipe's world frame is
  tied to the camera and tilts with it. The torso's long axis (model torso y axis) is rotated by the
  pelvis joint (tilt about z, list about x, rotation about y) and the back joint (extension about z,
  bending about x, rotation about y), both body-fixed sequences as in the OpenSim model; the lean is
  its angle from ground vertical (0 upright, 90 horizontal, any direction).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from edge.messages import BIGE_COORDINATES, N_COORDINATES, N_LANDMARKS

Side = Literal["l", "r"]

_COORD_INDEX = {name: i for i, name in enumerate(BIGE_COORDINATES)}

# MediaPipe BlazePose landmark indices ("left" is the subject's left).
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_KNEE, RIGHT_KNEE = 25, 26
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12


def _check_side(side: str) -> None:
    if side not in ("l", "r"):
        raise ValueError(f"side must be 'l' or 'r', got {side!r}")


def _coordinate(coordinates_deg: np.ndarray, name: str) -> float:
    q = np.asarray(coordinates_deg, dtype=np.float64)
    if q.shape != (N_COORDINATES,):
        raise ValueError(f"coordinates: expected shape ({N_COORDINATES},) in BIGE order, got {q.shape}")
    return float(q[_COORD_INDEX[name]])


def hip_flexion_deg(coordinates_deg: np.ndarray, side: Side) -> float:
    """Hip flexion of one side (flexion positive).

    Args:
        coordinates_deg: (33,) BIGE coordinates of one frame (``Kinematics.coordinates``).
        side: 'l' or 'r'.

    Returns:
        Degrees; NaN if the coordinate is NaN.

    Raises:
        ValueError: wrong shape or side.
    """
    _check_side(side)
    return _coordinate(coordinates_deg, f"hip_flexion_{side}")


def knee_flexion_deg(coordinates_deg: np.ndarray, side: Side) -> float:
    """Knee flexion of one side (0 straight, positive flexed); see ``hip_flexion_deg`` for Args/Raises."""
    _check_side(side)
    return _coordinate(coordinates_deg, f"knee_angle_{side}")


def ankle_flexion_deg(coordinates_deg: np.ndarray, side: Side) -> float:
    """Ankle dorsiflexion of one side (positive dorsiflexion); see ``hip_flexion_deg`` for Args/Raises."""
    _check_side(side)
    return _coordinate(coordinates_deg, f"ankle_angle_{side}")


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def trunk_lean_deg(coordinates_deg: np.ndarray) -> float:
    """Angle of the torso's long axis from ground vertical (0 upright; direction-free, >= 0).

    Args:
        coordinates_deg: (33,) BIGE coordinates of one frame.

    Returns:
        Degrees in [0, 180]; NaN if any pelvis or lumbar rotation is NaN.

    Raises:
        ValueError: wrong shape.
    """
    names = ("pelvis_tilt", "pelvis_list", "pelvis_rotation",
             "lumbar_extension", "lumbar_bending", "lumbar_rotation")
    tilt, lst, rot, ext, bend, lrot = (math.radians(_coordinate(coordinates_deg, n)) for n in names)
    if any(math.isnan(a) for a in (tilt, lst, rot, ext, bend, lrot)):
        return float("nan")
    R = _rot_z(tilt) @ _rot_x(lst) @ _rot_y(rot) @ _rot_z(ext) @ _rot_x(bend) @ _rot_y(lrot)
    up_y = float(R[1, 1])  # ground-y component of the torso y axis
    return math.degrees(math.acos(max(-1.0, min(1.0, up_y))))


def frontal_knee_alignment_deg(image_xyz: np.ndarray, side: Side,
                               image_size_px: tuple[int, int]) -> float:
    """Frontal-plane projection angle (FPPA) of hip-knee-ankle on the image, valgus positive.

    FPPA = 180 deg minus the image angle hip-knee-ankle, i.e. the deviation of the shank from the
    thigh's line (0 for a straight leg). Positive when the knee lies on the medial side of the
    hip-ankle line (the side of the other hip), negative (varus) on the lateral side.

    Args:
        image_xyz: (33, 3) MediaPipe image landmarks, x, y normalised to [0, 1] (``Pose.image_xyz``).
        side: 'l' or 'r' (the subject's side).
        image_size_px: (width, height) of the image, to undo the normalisation's aspect change.

    Returns:
        Degrees in [-180, 180]; NaN if a needed landmark is NaN or two of them coincide.

    Raises:
        ValueError: wrong shape, side or image size.
    """
    _check_side(side)
    lm = np.asarray(image_xyz, dtype=np.float64)
    if lm.shape != (N_LANDMARKS, 3):
        raise ValueError(f"image_xyz: expected shape ({N_LANDMARKS}, 3), got {lm.shape}")
    width, height = image_size_px
    if width <= 0 or height <= 0:
        raise ValueError(f"image_size_px must be positive, got {image_size_px}")
    hip_i, knee_i, ankle_i, other_hip_i = (
        (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE, RIGHT_HIP) if side == "l"
        else (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE, LEFT_HIP))
    scale = np.array([width, height], dtype=np.float64)
    hip, knee, ankle, other_hip = (lm[i, :2] * scale for i in (hip_i, knee_i, ankle_i, other_hip_i))
    thigh, shank = knee - hip, ankle - knee
    n_thigh, n_shank = math.hypot(*thigh), math.hypot(*shank)
    if not (n_thigh > 1e-9 and n_shank > 1e-9):  # also False for NaN
        return float("nan")
    cos_a = float(np.dot(thigh, shank)) / (n_thigh * n_shank)
    magnitude = math.degrees(math.acos(max(-1.0, min(1.0, cos_a))))
    # Which side of the hip-ankle line the knee and the other hip are on (2-D cross products).
    axis = ankle - hip
    knee_side = axis[0] * (knee - hip)[1] - axis[1] * (knee - hip)[0]
    medial_side = axis[0] * (other_hip - hip)[1] - axis[1] * (other_hip - hip)[0]
    if math.isnan(medial_side) or medial_side == 0.0:
        return float("nan")
    return magnitude if knee_side * medial_side > 0 else -magnitude


def view_yaw_deg(world_xyz: np.ndarray) -> float:
    """How far the pelvis is turned from facing the camera: 0 frontal (or from behind), 90 side-on.

    Uses MediaPipe's world landmarks, whose axes follow the camera (x right, y down, z depth): the
    angle of the hip-to-hip line out of the image plane, atan2(|dz|, |dx|).

    Args:
        world_xyz: (33, 3) MediaPipe world landmarks (``Pose.world_xyz``), metres.

    Returns:
        Degrees in [0, 90]; NaN if a hip is NaN or the hips coincide.

    Raises:
        ValueError: wrong shape.
    """
    lm = np.asarray(world_xyz, dtype=np.float64)
    if lm.shape != (N_LANDMARKS, 3):
        raise ValueError(f"world_xyz: expected shape ({N_LANDMARKS}, 3), got {lm.shape}")
    d = lm[LEFT_HIP] - lm[RIGHT_HIP]
    if not np.linalg.norm(d[[0, 2]]) > 1e-9:
        return float("nan")
    return math.degrees(math.atan2(abs(d[2]), abs(d[0])))


MAX_PLAUSIBLE_FPPA_DEG = 40.0
"""Largest frontal-plane knee angle shown; dynamic valgus in squats stays well below (~10-25 deg)."""


def live_angles_deg(coordinates_deg: np.ndarray | None, image_xyz: np.ndarray | None,
                    image_size_px: tuple[int, int], world_xyz: np.ndarray | None = None,
                    max_view_yaw_deg: float = 30.0) -> dict[str, float]:
    """All displayed angles of one frame, keyed 'hip_l', 'hip_r', 'knee_l', 'knee_r', 'ankle_l',
    'ankle_r', 'fppa_l', 'fppa_r', 'trunk'; NaN where the input is None or unusable.

    FPPA is only meaningful on a roughly frontal view: when ``world_xyz`` is given and the pelvis
    is turned more than ``max_view_yaw_deg`` from the camera (``view_yaw_deg``), both FPPAs are NaN.
    It is also NaN beyond ``MAX_PLAUSIBLE_FPPA_DEG``: with the knees bent toward the camera (seated,
    deep squat) the 2-D hip-knee-ankle angle is a projection artefact, not a knee alignment.

    Args:
        coordinates_deg: (33,) BIGE coordinates, or None when no valid kinematics.
        image_xyz: (33, 3) normalised image landmarks, or None when no person is detected.
        image_size_px: (width, height) the landmarks were normalised by.
        world_xyz: (33, 3) MediaPipe world landmarks for the view check, or None to skip it.
        max_view_yaw_deg: largest view yaw at which FPPA is still shown.

    Returns:
        Angle name -> degrees.
    """
    nan = float("nan")
    out: dict[str, float] = {}
    frontal = image_xyz is not None and (
        world_xyz is None or view_yaw_deg(world_xyz) <= max_view_yaw_deg)  # NaN yaw -> not frontal
    for s in ("l", "r"):
        have_q = coordinates_deg is not None
        out[f"hip_{s}"] = hip_flexion_deg(coordinates_deg, s) if have_q else nan
        out[f"knee_{s}"] = knee_flexion_deg(coordinates_deg, s) if have_q else nan
        out[f"ankle_{s}"] = ankle_flexion_deg(coordinates_deg, s) if have_q else nan
        fppa = frontal_knee_alignment_deg(image_xyz, s, image_size_px) if frontal else nan
        out[f"fppa_{s}"] = fppa if abs(fppa) <= MAX_PLAUSIBLE_FPPA_DEG else nan
    out["trunk"] = trunk_lean_deg(coordinates_deg) if coordinates_deg is not None else nan
    return out
