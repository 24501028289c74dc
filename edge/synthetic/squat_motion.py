"""Synthetic bodyweight squats in BIGE coordinates, with the feet planted on the floor.

Inputs: a ``SquatMotionConfig`` (reps, depth, tempo, pauses, stance, trunk lean, knee valgus, heel
lift, arm pose, frame rate, seed) and forward kinematics of the skeletal model (``BodyKinematics``).
Output: ``time_s`` (T,) and ``coords_bige`` (T, 33), degrees and metres in BIGE order, starting and
ending with the subject standing still.

Algorithm: a smooth depth profile s(t) in [0, 1] (quintic ease down, short hold, ease up, standing
pause) with rep-to-rep variation of depth, tempo and lean drawn from ``seed``. Each frame gets a
nominal pose from s: knee flexion, trunk lean shared between anterior pelvis tilt and lumbar flexion,
ankle dorsiflexion solved on a planar segment model so the centre of mass stays over the feet, hip
flexion closing the sagittal chain, arms per the arm pose.
Then a batched damped Gauss-Newton inverse kinematics (forward kinematics, finite-difference
Jacobian) moves the pelvis translation and the leg coordinates (hip, knee, ankle, subtalar, mtp) as
little as possible from the nominal pose while the sole points of both feet stay exactly where they
were in the first (flattened) standing frame: no sliding, no floor penetration. The model's knee has
no ab/adduction and its foot is rigid, so with planted feet the legs keep a single free (sagittal)
degree of freedom: knee valgus is therefore expressed as the feet rolling onto their medial edges
(pronation, which carries the knees inwards), and a heel lift rotates the heel targets about the
forefoot contact line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from edge.messages import BIGE_COORDINATES
from edge.synthetic.body import BodyKinematics, points_in_ground, sole_points

_IDX = {name: i for i, name in enumerate(BIGE_COORDINATES)}

# Sagittal segment model (metres, mass fractions after Dempster/Winter) for the balance solve.
_SHANK_M, _THIGH_M = 0.43, 0.41
_HIP_TO_LUMBAR_M = np.array([-0.030, 0.148])  # pelvis frame, hip centre -> L5/S1
_MASS = {"foot": 0.029, "shank": 0.093, "thigh": 0.200, "pelvis": 0.142, "trunk": 0.355,
         "head": 0.081, "upper_arm": 0.056, "forearm_hand": 0.044}
_TRUNK_COM_M, _HEAD_COM_M, _SHOULDER_M = 0.24, 0.62, 0.45  # along the trunk from L5/S1
_UPPER_ARM_COM_M, _FOREARM_COM_M = 0.13, 0.42  # along the arm from the shoulder
_STANDING_KNEE_DEG = 3.0
_HIP_HALF_WIDTH_M, _LEG_LENGTH_M = 0.0835, 0.86

# Inverse kinematics: what it may move, and how strongly each coordinate is held to its nominal value.
_IK_FREE = ("pelvis_tx", "pelvis_ty", "pelvis_tz",
            "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r",
            "subtalar_angle_r", "mtp_angle_r",
            "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "ankle_angle_l",
            "subtalar_angle_l", "mtp_angle_l")
_IK_HOLD_PER_DEG = {"knee_angle": 10.0, "hip_flexion": 3.0, "hip_adduction": 0.3, "hip_rotation": 0.1,
                    "ankle_angle": 3.0, "subtalar_angle": 0.1, "mtp_angle": 0.3}
_IK_FOOT_PER_MM = 20.0
_IK_COM_PER_MM = 2.0
_COM_ALONG_FOOT = 0.3  # centre-of-mass target, fraction of the heel-to-toe distance
_IK_TOLERANCE_MM = 0.5


class ArmPose(enum.Enum):
    """Where the arms are during the squat."""

    FORWARD = "forward"  # raised forward for balance as the subject descends
    CROSSED = "crossed"  # hands on the opposite shoulders
    SIDES = "sides"  # hanging at the sides


@dataclass(frozen=True)
class SquatMotionConfig:
    """Shape of the synthetic squat set.

    reps: number of squats. depth_deg: peak knee flexion of a rep. tempo_s: duration of one rep
    (down, hold, up). pause_s: standing pause between reps. stand_start_s / stand_end_s: standing
    still before the first and after the last rep (the lifter scales the subject from standing).
    stance_width_m: distance between the ankle centres. trunk_lean_deg: forward trunk inclination
    from vertical at full depth. knee_valgus_deg: knees-in at full depth, as the angle by which the
    feet roll onto their medial edges (0 = knees track the toes; ~3 mm of knee travel per degree).
    heel_lift_deg: heels rise by this angle about the forefoot at full depth (0 = flat feet).
    arm_pose: see ArmPose. fps: frame rate. variation: relative rep-to-rep spread (standard
    deviation) of depth, tempo and lean. seed: random seed of that variation.
    """

    reps: int = 5
    depth_deg: float = 100.0
    tempo_s: float = 2.5
    pause_s: float = 0.6
    stand_start_s: float = 2.5
    stand_end_s: float = 1.5
    stance_width_m: float = 0.32
    trunk_lean_deg: float = 35.0
    knee_valgus_deg: float = 0.0
    heel_lift_deg: float = 0.0
    arm_pose: ArmPose = ArmPose.FORWARD
    fps: float = 30.0
    variation: float = 0.04
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.reps >= 1, f"reps must be >= 1, got {self.reps}"),
            (20.0 <= self.depth_deg <= 140.0, f"depth_deg must be in [20, 140], got {self.depth_deg}"),
            (0.8 <= self.tempo_s <= 20.0, f"tempo_s must be in [0.8, 20], got {self.tempo_s}"),
            (0.0 <= self.pause_s <= 20.0, f"pause_s must be in [0, 20], got {self.pause_s}"),
            (self.stand_start_s >= 2.0, f"stand_start_s must be >= 2 (standing to scale the subject from), "
                                        f"got {self.stand_start_s}"),
            (0.0 <= self.stand_end_s <= 60.0, f"stand_end_s must be in [0, 60], got {self.stand_end_s}"),
            (0.17 <= self.stance_width_m <= 0.60, f"stance_width_m must be in [0.17, 0.60], got {self.stance_width_m}"),
            (0.0 <= self.trunk_lean_deg <= 60.0, f"trunk_lean_deg must be in [0, 60], got {self.trunk_lean_deg}"),
            (0.0 <= self.knee_valgus_deg <= 20.0, f"knee_valgus_deg must be in [0, 20], got {self.knee_valgus_deg}"),
            (0.0 <= self.heel_lift_deg <= 25.0, f"heel_lift_deg must be in [0, 25], got {self.heel_lift_deg}"),
            (isinstance(self.arm_pose, ArmPose), f"arm_pose must be an ArmPose, got {self.arm_pose!r}"),
            (5.0 <= self.fps <= 240.0, f"fps must be in [5, 240], got {self.fps}"),
            (0.0 <= self.variation <= 0.2, f"variation must be in [0, 0.2], got {self.variation}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"SquatMotionConfig: {message}")


@dataclass(frozen=True)
class DepthProfile:
    """Per-frame squat phase: s in [0, 1] (0 standing, 1 full depth) and the rep's own targets."""

    time_s: np.ndarray  # (T,)
    s: np.ndarray  # (T,)
    rep_index: np.ndarray  # (T,) int, -1 while standing before/after/between reps
    depth_deg: np.ndarray  # (T,) peak knee flexion of the current rep (of the nearest rep when standing)
    lean_deg: np.ndarray  # (T,) peak trunk lean of the current rep


def depth_profile(config: SquatMotionConfig) -> DepthProfile:
    """Squat phase per frame, with rep-to-rep variation drawn from ``config.seed``.

    Args:
        config: the squat set.

    Returns:
        DepthProfile at ``config.fps``, standing for ``stand_start_s`` first and ``stand_end_s`` last.
    """
    rng = np.random.default_rng(config.seed)

    def jitter() -> float:
        return float(np.clip(1.0 + config.variation * rng.standard_normal(), 0.8, 1.2))

    reps = [(config.depth_deg * jitter(), config.tempo_s * jitter(), config.trunk_lean_deg * jitter())
            for _ in range(config.reps)]
    reps = [(min(d, 140.0), t, min(lean, 60.0)) for d, t, lean in reps]
    starts = []
    t = config.stand_start_s
    for _, tempo, _ in reps:
        starts.append(t)
        t += tempo + config.pause_s
    duration_s = t - config.pause_s + config.stand_end_s
    n = int(round(duration_s * config.fps)) + 1
    time_s = np.arange(n) / config.fps
    s = np.zeros(n)
    rep_index = np.full(n, -1)
    depth = np.full(n, reps[0][0])
    lean = np.full(n, reps[0][2])
    for i, ((d, tempo, ln), t0) in enumerate(zip(reps, starts)):
        u = (time_s - t0) / tempo  # 0..1 over the rep: 45 % down, 10 % hold, 45 % up
        inside = (u >= 0.0) & (u <= 1.0)
        down = np.clip(u / 0.45, 0.0, 1.0)
        up = np.clip((1.0 - u) / 0.45, 0.0, 1.0)
        s[inside] = ease(np.minimum(down, up))[inside]
        rep_index[inside] = i
        depth[time_s >= t0] = d
        lean[time_s >= t0] = ln
    return DepthProfile(time_s, s, rep_index, depth, lean)


def ease(u: np.ndarray) -> np.ndarray:
    """Quintic smoothstep: 0 -> 1 with zero velocity and acceleration at both ends."""
    return u * u * u * (u * (6.0 * u - 15.0) + 10.0)


def nominal_coordinates(config: SquatMotionConfig, profile: DepthProfile) -> np.ndarray:
    """Nominal BIGE coordinates per frame (before the feet are planted by inverse kinematics).

    Args:
        config: the squat set.
        profile: from ``depth_profile(config)``.

    Returns:
        (T, 33) degrees/metres; pelvis translations are placeholders that the IK replaces.
    """
    s = profile.s
    q = np.zeros((len(s), len(BIGE_COORDINATES)))
    knee = _STANDING_KNEE_DEG + s * (profile.depth_deg - _STANDING_KNEE_DEG)
    lean = s * profile.lean_deg
    pelvis_tilt = -0.6 * lean  # anterior tilt is negative
    lumbar = -0.4 * lean  # flexion is negative extension
    arm_flex, arm_add, arm_rot, elbow = _arm_angles(config.arm_pose, s, lean)
    ankle = balanced_ankle_deg(knee, pelvis_tilt, pelvis_tilt + lumbar, arm_flex)
    hip = knee - ankle - pelvis_tilt
    abduction = np.degrees(np.arcsin(np.clip((config.stance_width_m / 2 - _HIP_HALF_WIDTH_M) / _LEG_LENGTH_M,
                                             -0.5, 0.5)))
    valgus = s * config.knee_valgus_deg  # hip adduction/internal rotation that goes with it
    heel = s * config.heel_lift_deg
    q[:, _IDX["pelvis_tilt"]] = pelvis_tilt
    q[:, _IDX["pelvis_ty"]] = 0.95
    q[:, _IDX["lumbar_extension"]] = lumbar
    for side in ("r", "l"):
        q[:, _IDX[f"hip_flexion_{side}"]] = hip
        q[:, _IDX[f"hip_adduction_{side}"]] = -abduction + valgus
        q[:, _IDX[f"hip_rotation_{side}"]] = valgus
        q[:, _IDX[f"knee_angle_{side}"]] = knee
        q[:, _IDX[f"ankle_angle_{side}"]] = ankle - heel
        q[:, _IDX[f"mtp_angle_{side}"]] = heel
        q[:, _IDX[f"arm_flex_{side}"]] = arm_flex
        q[:, _IDX[f"arm_add_{side}"]] = arm_add
        q[:, _IDX[f"arm_rot_{side}"]] = arm_rot
        q[:, _IDX[f"elbow_flex_{side}"]] = elbow
        q[:, _IDX[f"pro_sup_{side}"]] = 80.0
    return q


def _arm_angles(pose: ArmPose, s: np.ndarray, lean_deg: np.ndarray) -> tuple[np.ndarray, ...]:
    """Shoulder flexion, shoulder adduction, shoulder rotation and elbow flexion (degrees) per frame."""
    if pose is ArmPose.FORWARD:
        return 15.0 + 70.0 * s, np.full_like(s, -5.0), np.zeros_like(s), 15.0 - 5.0 * s
    if pose is ArmPose.CROSSED:  # hands in front of the opposite shoulders (solved once on the model)
        return np.full_like(s, 56.5), np.full_like(s, 19.3), np.full_like(s, 77.6), np.full_like(s, 109.5)
    return lean_deg.copy(), np.full_like(s, -8.0), np.zeros_like(s), np.full_like(s, 10.0)  # hang vertically


def balanced_ankle_deg(knee_deg: np.ndarray, pelvis_tilt_deg: np.ndarray, trunk_rot_deg: np.ndarray,
                       arm_flex_deg: np.ndarray) -> np.ndarray:
    """Ankle dorsiflexion that keeps the whole-body centre of mass where it is when standing.

    Planar model with flat feet, ankle at the origin. Angles are rotations about the ground z axis
    (positive: the distal end moves forward); the trunk's rotation is pelvis tilt + lumbar extension.
    Solved per frame by bisection (the centre of mass moves forward monotonically with dorsiflexion).

    Args:
        knee_deg, pelvis_tilt_deg, trunk_rot_deg, arm_flex_deg: (T,) per frame, degrees.

    Returns:
        (T,) ankle angle, degrees, in [-10, 50]; the reference is the frame with the least knee flexion.
    """
    def com_x(ankle: np.ndarray) -> np.ndarray:
        a, k = np.radians(ankle), np.radians(knee_deg)
        p, r = np.radians(pelvis_tilt_deg), np.radians(trunk_rot_deg)
        knee_x = -_SHANK_M * np.sin(-a)  # shank leans forward by the dorsiflexion
        hip_x = knee_x - _THIGH_M * np.sin(k - a)
        lumbar_x = hip_x + np.cos(p) * _HIP_TO_LUMBAR_M[0] - np.sin(p) * _HIP_TO_LUMBAR_M[1]
        up_x = -np.sin(r)  # trunk up-vector, x component
        shoulder_x = lumbar_x + _SHOULDER_M * up_x
        arm_x = np.sin(r + np.radians(arm_flex_deg))  # arm down-vector, x component
        parts = [
            (_MASS["foot"] * 2, np.full_like(a, 0.05)),
            (_MASS["shank"] * 2, knee_x / 2),
            (_MASS["thigh"] * 2, (knee_x + hip_x) / 2),
            (_MASS["pelvis"], hip_x),
            (_MASS["trunk"], lumbar_x + _TRUNK_COM_M * up_x),
            (_MASS["head"], lumbar_x + _HEAD_COM_M * up_x),
            (_MASS["upper_arm"] * 2, shoulder_x + _UPPER_ARM_COM_M * arm_x),
            (_MASS["forearm_hand"] * 2, shoulder_x + _FOREARM_COM_M * arm_x),
        ]
        return sum(m * x for m, x in parts) / sum(m for m, _ in parts)

    standing = com_x(np.zeros_like(knee_deg))
    target = standing[np.argmin(knee_deg)]  # the most upright frame
    lo, hi = np.full_like(knee_deg, -10.0), np.full_like(knee_deg, 50.0)
    for _ in range(40):
        mid = (lo + hi) / 2
        forward = com_x(mid) > target
        hi = np.where(forward, mid, hi)
        lo = np.where(forward, lo, mid)
    return (lo + hi) / 2


def plant_feet(nominal: np.ndarray, kinematics: BodyKinematics, heel_lift_deg: np.ndarray | None = None,
               foot_roll_deg: np.ndarray | None = None, max_iterations: int = 30) -> np.ndarray:
    """Adjust pelvis translation and leg coordinates so both feet stay planted on y = 0.

    The first frame is solved with its sole points pulled onto the floor (flat feet); its sole points
    become the targets of every frame. ``foot_roll_deg`` rolls each foot onto its medial edge
    (pronation, which carries the knees inwards); ``heel_lift_deg`` then rotates the heel up about the
    forefoot contact line (toes stay down).

    Args:
        nominal: (T, 33) nominal BIGE coordinates; frame 0 must be a standing pose.
        kinematics: forward kinematics of the skeletal model.
        heel_lift_deg: (T,) heel rise per frame, or None for flat feet.
        foot_roll_deg: (T,) pronation per frame, or None for none.
        max_iterations: Gauss-Newton iteration limit.

    Returns:
        (T, 33) coordinates with the feet planted.

    Raises:
        RuntimeError: the feet could not be held within tolerance (a pose the legs cannot reach).
    """
    nominal = np.asarray(nominal, dtype=np.float64)
    feet = _FootModel(kinematics)
    # Frame 0: drop the nominal sole points onto the floor, then solve for them.
    first = nominal[:1].copy()
    first[:, _IDX["pelvis_ty"]] -= feet.points(kinematics.transforms(first))[..., 1].min()
    flat = feet.points(kinematics.transforms(first))
    flat[..., 1] = 0.0
    # Centre of mass over the mid-foot: 30 % of the way from the heels to the toes, between the feet.
    heel_x, toe_x = flat[0, feet.heels, 0].mean(), flat[0, feet.toes, 0].mean()
    com_target = np.array([heel_x + _COM_ALONG_FOOT * (toe_x - heel_x), flat[0, :, 2].mean()])
    first = _solve_ik(first, first, flat, com_target, feet, kinematics, max_iterations)
    reference = feet.points(kinematics.transforms(first))[0]  # (n_points, 3)
    targets = np.repeat(reference[None], len(nominal), axis=0)
    if foot_roll_deg is not None:  # pronation: roll onto the medial edge (heel-met1 line)
        roll = np.asarray(foot_roll_deg, dtype=np.float64)
        targets = feet.tilt(targets, ("heel", "met1"), np.array([1.0, 0.0, 0.0]), {"r": -roll, "l": roll})
    if heel_lift_deg is not None:  # heels up about the forefoot (met1-met5 line)
        lift = np.asarray(heel_lift_deg, dtype=np.float64)
        targets = feet.tilt(targets, ("met1", "met5"), np.array([0.0, 0.0, 1.0]), {"r": -lift, "l": -lift})
    start = nominal.copy()
    for name in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
        start[:, _IDX[name]] = first[0, _IDX[name]]
    solved = _solve_ik(start, nominal, targets, com_target, feet, kinematics, max_iterations)
    miss = feet.points(kinematics.transforms(solved)) - targets  # (T, n_points, 3)
    miss[:, feet.y_only, 0::2] = 0.0  # toe tips are only held on the floor
    error_mm = 1000 * np.linalg.norm(miss, axis=-1)
    worst = np.unravel_index(np.argmax(error_mm), error_mm.shape)
    if error_mm[worst] > _IK_TOLERANCE_MM:
        raise RuntimeError(f"plant_feet: foot point {feet.names[worst[1]]} of frame {worst[0]} misses its "
                           f"target by {error_mm[worst]:.1f} mm (pose out of the legs' reach?)")
    return solved


class _FootModel:
    """Sole points of both feet: which are held in 3-D and which only kept on the floor."""

    def __init__(self, kinematics: BodyKinematics) -> None:
        self.names: list[str] = []
        self._bodies: list[int] = []
        self._local: list[np.ndarray] = []
        for side in ("r", "l"):
            for name, (body, local) in sole_points(side).items():
                self.names.append(f"{name}_{side}")
                self._bodies.append(kinematics.index(body))
                self._local.append(local)
        # The toe tip rides on the mtp joint: keep it on the floor, let it roll forward/back freely.
        self.y_only = np.array([n.startswith("toe_") for n in self.names])
        self.heels = np.array([n.startswith("heel_") for n in self.names])
        self.toes = self.y_only

    def points(self, transforms: np.ndarray) -> np.ndarray:
        """(T, n_points, 3) ground positions of the sole points."""
        return np.stack([points_in_ground(transforms, b, p) for b, p in zip(self._bodies, self._local)], axis=1)

    def tilt(self, targets: np.ndarray, pivot: tuple[str, str], axis_hint: np.ndarray,
             angle_deg: dict[str, np.ndarray]) -> np.ndarray:
        """Rotate each foot's calcaneus targets about the line through two of its sole points.

        Args:
            targets: (T, n_points, 3) sole-point targets.
            pivot: names of the two sole points on the rotation axis (e.g. "met1", "met5").
            axis_hint: world direction the axis is oriented along (the sign of the angle refers to it).
            angle_deg: side ("r"/"l") -> (T,) right-hand rotation angle per frame.

        Returns:
            (T, n_points, 3) rotated targets (the toe tip is left to the mtp joint).
        """
        out = targets.copy()
        for side, angle in angle_deg.items():
            i = {n: self.names.index(f"{n}_{side}") for n in ("heel", "met1", "met5")}
            a, b = targets[0, self.names.index(f"{pivot[0]}_{side}")], targets[0, self.names.index(f"{pivot[1]}_{side}")]
            axis = (b - a) / np.linalg.norm(b - a)
            axis = axis if axis @ axis_hint >= 0 else -axis
            for k in i.values():
                out[:, k] = a + _rotate(out[:, k] - a, axis, np.radians(angle))
        return out


def _rotate(v: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues rotation of vectors v (T, 3) about a unit axis by per-row angles (T,)."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return v * c + np.cross(axis, v) * s + axis * (v @ axis)[:, None] * (1 - c)


def _solve_ik(start: np.ndarray, nominal: np.ndarray, targets: np.ndarray, com_target_xz: np.ndarray,
              feet: _FootModel, kinematics: BodyKinematics, max_iterations: int) -> np.ndarray:
    """The squat set's IK: ``solve_contact_ik`` with its free coordinates, holds and toe-tip rule."""
    hold = np.array([0.0 if n.startswith("pelvis_t") else _IK_HOLD_PER_DEG[n.rsplit("_", 1)[0]] for n in _IK_FREE])
    point_weight = np.where(feet.y_only[:, None], [0.0, 1.0, 0.0], 1.0) * _IK_FOOT_PER_MM  # (n_points, 3)
    return solve_contact_ik(start, nominal, targets, point_weight, com_target_xz, feet.names, feet.points,
                            kinematics, _IK_FREE, hold, max_iterations)


def solve_contact_ik(start: np.ndarray, nominal: np.ndarray, targets: np.ndarray, point_weight: np.ndarray,
                     com_target_xz: np.ndarray, point_names: Sequence[str],
                     points_fn: Callable[[np.ndarray], np.ndarray], kinematics: BodyKinematics,
                     free: Sequence[str], hold_per_deg: np.ndarray, max_iterations: int = 30,
                     com_weight_per_mm: float = _IK_COM_PER_MM, step_tolerance: float = 1e-3) -> np.ndarray:
    """Batched damped Gauss-Newton over the free coordinates of every frame at once.

    Residuals: body-fixed contact points to their targets (weighted per axis, weight 0 = free), centre
    of mass (x, z) to its target, free coordinates to their nominal values. Unknowns are in
    millimetres (pelvis translation) and degrees. The Jacobian is analytic for the pelvis translation
    (it shifts every point and the centre of mass alike) and by forward differences for the other
    coordinates; the same leg coordinate of both legs is perturbed in one forward-kinematics call:
    each leg moves only its own points (names ending in _r/_l) and its own segments' masses, so the
    two effects separate by body side. Frames are independent: a frame stops iterating once its step
    is below ``step_tolerance`` (mm or deg), so a batch of many frames costs what its slowest frames need.

    Args:
        start: (T, 33) initial BIGE coordinates (non-free coordinates keep these values).
        nominal: (T, 33) coordinates the free ones are held towards.
        targets: (T, n_points, 3) ground positions of the contact points, metres.
        point_weight: (n_points, 3) or (T, n_points, 3) weight per millimetre of miss, per axis.
        com_target_xz: (2,) or (T, 2) centre-of-mass target on the floor, metres.
        point_names: (n_points,) names, ending in "_r" or "_l" (the body side they belong to).
        points_fn: body transforms (T, n_bodies, 4, 4) -> (T, n_points, 3) contact point positions.
        kinematics: forward kinematics of the skeletal model.
        free: BIGE names of the coordinates to solve for.
        hold_per_deg: (len(free),) weight per degree of departure from nominal (use 0 for translations).
        max_iterations: Gauss-Newton iteration limit.
        com_weight_per_mm: weight per millimetre of centre-of-mass miss.
        step_tolerance: a frame has converged when its largest step is below this (mm or deg).

    Returns:
        (T, 33) solved coordinates.

    Raises:
        ValueError: a free coordinate is unknown, or the array shapes disagree.
    """
    unknown = [n for n in free if n not in _IDX]
    if unknown:
        raise ValueError(f"solve_contact_ik: unknown free coordinates {unknown}")
    q = np.array(start, dtype=np.float64)
    n_frames, n_points = targets.shape[0], targets.shape[1]
    if q.shape != (n_frames, 33) or nominal.shape != q.shape or len(point_names) != n_points:
        raise ValueError(f"solve_contact_ik: start {q.shape}, nominal {nominal.shape}, targets {targets.shape} "
                         f"and {len(point_names)} point names disagree")
    weight = np.broadcast_to(point_weight, targets.shape)
    com_target = np.broadcast_to(com_target_xz, (n_frames, 2))
    free = tuple(free)
    free_idx = np.array([_IDX[n] for n in free])
    is_translation = np.array([n.startswith("pelvis_t") for n in free])
    translation = np.flatnonzero(is_translation)
    # Finite-difference groups: (right column, left column) leg pairs, or (column, None) for the rest.
    groups: list[tuple[int, int | None]] = []
    for j, name in enumerate(free):
        if is_translation[j] or name.endswith("_l") and name[:-1] + "r" in free:
            continue
        partner = name[:-1] + "l" if name.endswith("_r") else None
        groups.append((j, free.index(partner) if partner in free else None))
    hold = np.asarray(hold_per_deg, dtype=np.float64)
    on_right = np.array([n.endswith("_r") for n in point_names])
    body_right = np.array([b.endswith("_r") for b in kinematics.body_names])
    body_left = np.array([b.endswith("_l") for b in kinematics.body_names])
    total_kg = kinematics.masses_kg.sum()
    n_foot = n_points * 3
    n_res = n_foot + 2 + len(free)
    h_deg = 1e-3

    def evaluate(qa: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        transforms = kinematics.transforms(qa)
        foot = 1000.0 * (points_fn(transforms) - targets[rows]) * weight[rows]  # (A, n_points, 3) weighted mm
        return foot, kinematics.mass_moments(transforms)[..., [0, 2]]  # (A, n_bodies, 2) kg m

    active = np.arange(n_frames)
    for _ in range(max_iterations):
        qa = q[active]
        n_active = len(active)
        J = np.zeros((n_active, n_res, len(free)))
        J[:, n_foot + 2:, :] = np.diag(hold)
        for k, j in enumerate(translation):  # d(point)/d(pelvis_t, mm) = unit vector
            J[:, :n_foot, j] = (np.eye(3)[k] * weight[active]).reshape(n_active, -1)
            J[:, n_foot:n_foot + 2, j] = np.eye(3)[k, [0, 2]] * com_weight_per_mm
        r_foot, moments = evaluate(qa, active)
        com = 1000.0 * (moments.sum(axis=1) / total_kg - com_target[active]) * com_weight_per_mm  # (A, 2)
        r = np.concatenate([r_foot.reshape(n_active, -1), com, (qa[:, free_idx] - nominal[active][:, free_idx]) * hold],
                           axis=1)
        for jr, jl in groups:
            dq = qa.copy()
            dq[:, free_idx[[jr] if jl is None else [jr, jl]]] += h_deg
            d_foot, d_moments = evaluate(dq, active)
            d = (d_foot - r_foot) / h_deg  # (A, n_points, 3)
            dm = (d_moments - moments) * (1000.0 * com_weight_per_mm / total_kg / h_deg)  # (A, n_bodies, 2)
            if jl is None:
                J[:, :n_foot, jr] = d.reshape(n_active, -1)
                J[:, n_foot:n_foot + 2, jr] = dm.sum(axis=1)
                continue
            J[:, :n_foot, jr] = np.where(on_right[:, None], d, 0.0).reshape(n_active, -1)
            J[:, :n_foot, jl] = np.where(on_right[:, None], 0.0, d).reshape(n_active, -1)
            J[:, n_foot:n_foot + 2, jr] = dm[:, body_right].sum(axis=1)
            J[:, n_foot:n_foot + 2, jl] = dm[:, body_left].sum(axis=1)
        JtJ = J.swapaxes(1, 2) @ J
        JtJ += 1e-3 * np.eye(len(free)) * (1.0 + np.diagonal(JtJ, axis1=1, axis2=2))[:, :, None]
        dx = -np.linalg.solve(JtJ, (J.swapaxes(1, 2) @ r[..., None]))[..., 0]  # (A, n_free)
        q[np.ix_(active, free_idx)] += dx * np.where(is_translation, 1e-3, 1.0)
        active = active[np.max(np.abs(dx), axis=1) >= step_tolerance]
        if len(active) == 0:
            break
    return q


def squat_motion(config: SquatMotionConfig,
                 kinematics: BodyKinematics | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A set of squats with standing phases at both ends, feet planted.

    Args:
        config: the squat set.
        kinematics: forward kinematics to plant the feet with (default: ``BodyKinematics.default()``).

    Returns:
        time_s (T,) from 0 at ``config.fps``; coords_bige (T, 33) degrees/metres in BIGE order.

    Raises:
        RuntimeError: the inverse kinematics could not keep the feet planted.
    """
    kinematics = kinematics or BodyKinematics.default()
    profile = depth_profile(config)
    nominal = nominal_coordinates(config, profile)
    heel = profile.s * config.heel_lift_deg if config.heel_lift_deg > 0 else None
    roll = profile.s * config.knee_valgus_deg if config.knee_valgus_deg > 0 else None
    return profile.time_s, plant_feet(nominal, kinematics, heel, roll)
