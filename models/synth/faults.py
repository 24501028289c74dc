"""Squat form faults: names, thresholds, and their measurement on any rep in BIGE coordinates.

Inputs: one rep, (T, 33) BIGE coordinates (degrees / metres, standing at both ends or cut at the
knee-flexion minima around one rep), its frame rate, and the skeletal model for forward kinematics.
Outputs: ``RepMeasures`` (the magnitude of every fault, in physical units) and the fault labels they
imply (``labels_from_measures``).

Algorithm: the "bottom" is the frame of peak mean knee flexion; the deep window is the run of frames
around it above 90 % of the knee excursion. Trunk lean is the coaching criterion "trunk parallel to the
tibia" (see below): the sagittal inclination from vertical of the trunk line (mid-hip joint centre to
mid-shoulder joint centre, forward kinematics) minus that of the tibias (ankle to knee joint centre,
mean of both), at the bottom, in the plane whose normal joins the ankle joint centres; knee valgus is
the medial travel of each knee joint centre relative to its ankle joint centre along the ankle's flexion
axis (dorsiflexion alone moves the knee across that axis: a knee tracking over its foot stays in that
plane); heel lift is the rise of the heel contact point; asymmetry is the left-right
knee difference and the sideways shift of the centre of mass relative to the ankles; butt wink is the
posterior pelvis-tilt reversal between the most anterior tilt of the descent and the deep window;
tempo is the 5 %-95 % knee-excursion time of the descent. All are relative to the rep's first frame
where a baseline matters (valgus, heel, centre-of-mass shift), so they apply to real trials too.

Thresholds (a rep is faulty when a measure crosses them; the synthetic sampler keeps clean reps well
inside and faulty reps well beyond, see models.synth.generator):

| fault | measure | threshold |
|---|---|---|
| shallow_depth | peak knee flexion | < 70 deg (parallel is ~ 90-100 deg) |
| excessive_trunk_lean | trunk-line inclination minus tibia inclination at the bottom | > 30 deg |
| knee_valgus | medial knee travel out of the ankle's flexion plane | > 1.2 cm |
| heel_lift | heel contact point rise at the bottom | > 1.5 cm |
| asymmetry | left-right peak knee difference, or centre-of-mass shift | > 8 deg, or > 4 cm |
| butt_wink | posterior pelvis tilt reversal at the bottom | > 8 deg |
| fast_tempo | descent, 5 %-95 % of the knee excursion | < 0.4 s |

Why the trunk measure is relative to the tibia. Screening criteria judge the trunk against the shin,
not against a fixed angle: "torso parallel with the tibia or toward vertical" (Functional Movement
Screen deep squat, Cook et al. 2006) and "trunk parallel to tibia" (Myer et al. 2014, back squat
assessment); automated screens read "parallel" as within 20 deg. The lean a balanced squat needs grows
with depth and shrinks with ankle dorsiflexion (the centre of mass must stay over the feet), so a fixed
angle flags deep, well-balanced reps and misses shallow ones folded at the hips. The threshold is that
20 deg tolerance plus 10 deg for the error of a trunk and a shank angle estimated from video. The
torso body's own y axis is not the trunk line: it runs from the lumbar joint to the shoulders (the
thorax), so it adds lumbar flexion to the lean (on the real squat trials it reads 9-16 deg more than the
hip-to-shoulder line at the bottom). On those trials the measure reads 6-11 deg (subject 5), 19-30
(subject 3), 33-37 (subject 6) and 48-60 (squats1 and subject 2, whose thorax is 3-12 deg short of
horizontal at the bottom; their poses balance, the centre of mass over the forefoot).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

import numpy as np

from edge.messages import BIGE_COORDINATES
from edge.skeleton import bige_map, fk
from edge.skeleton.model import SkeletonModel
from edge.synthetic.body import sole_points


class Fault(enum.Enum):
    """Form faults a rep can be labelled with (labels are the ``value`` strings)."""

    SHALLOW_DEPTH = "shallow_depth"
    EXCESSIVE_TRUNK_LEAN = "excessive_trunk_lean"
    KNEE_VALGUS = "knee_valgus"
    HEEL_LIFT = "heel_lift"
    ASYMMETRY = "asymmetry"
    BUTT_WINK = "butt_wink"
    FAST_TEMPO = "fast_tempo"


FAULT_NAMES: tuple[str, ...] = tuple(f.value for f in Fault)

SHALLOW_KNEE_DEG = 70.0
"""Peak knee flexion below this is a shallow squat."""
TRUNK_OVER_TIBIA_DEG = 30.0
"""Trunk line leaning more than the tibias, at the bottom, by more than this is excessive lean."""
VALGUS_SHIFT_M = 0.012
"""Knees leaving their ankles' flexion planes medially by more than this (mean of both) is valgus."""
HEEL_RISE_M = 0.015
"""Heel contact point rising more than this is a heel lift."""
ASYMMETRY_KNEE_DEG = 8.0
"""Left-right knee flexion difference at the bottom above this is asymmetry."""
ASYMMETRY_SHIFT_M = 0.04
"""Sideways centre-of-mass shift (relative to the ankles) above this is asymmetry (a weight shift)."""
BUTT_WINK_DEG = 8.0
"""Posterior pelvis tilt reversal at the bottom above this is a butt wink."""
FAST_DESCENT_S = 0.4
"""A descent (5 %-95 % of the knee excursion) faster than this is uncontrolled."""

_IDX = {name: i for i, name in enumerate(BIGE_COORDINATES)}


@dataclass(frozen=True)
class RepMeasures:
    """The magnitudes behind the fault labels of one rep (see the module docstring)."""

    peak_knee_deg: float  # mean of both knees at the bottom
    trunk_incline_deg: float  # hip-to-shoulder line from vertical at the bottom, sagittal, forward positive
    tibia_incline_deg: float  # ankle-to-knee line from vertical at the bottom, mean of both, forward positive
    trunk_over_tibia_deg: float  # trunk_incline_deg - tibia_incline_deg
    knee_medial_shift_m: float  # mean of both knees, relative to the first frame
    heel_rise_m: float  # the higher heel, at the bottom, over its toe tip, relative to the first frame
    knee_asymmetry_deg: float  # |right - left| knee flexion at the bottom
    hip_asymmetry_deg: float  # |right - left| hip flexion at the bottom (reported, not thresholded)
    com_shift_m: float  # |sideways centre-of-mass shift| relative to the ankles' midpoint, vs the first frame
    butt_wink_deg: float  # posterior pelvis tilt regained between the descent's most anterior tilt and the bottom
    descent_s: float  # 5 %-95 % of the knee excursion, going down
    ascent_s: float  # 95 %-5 % of the knee excursion, coming up

    def as_dict(self) -> dict[str, float]:
        """The measures as a plain dict."""
        return asdict(self)


def labels_from_measures(m: RepMeasures) -> frozenset[str]:
    """Fault labels implied by a rep's measures.

    Args:
        m: from ``measure_rep``.

    Returns:
        frozenset of ``Fault`` values (empty for a clean rep).
    """
    checks = {
        Fault.SHALLOW_DEPTH: m.peak_knee_deg < SHALLOW_KNEE_DEG,
        Fault.EXCESSIVE_TRUNK_LEAN: m.trunk_over_tibia_deg > TRUNK_OVER_TIBIA_DEG,
        Fault.KNEE_VALGUS: m.knee_medial_shift_m > VALGUS_SHIFT_M,
        Fault.HEEL_LIFT: m.heel_rise_m > HEEL_RISE_M,
        Fault.ASYMMETRY: m.knee_asymmetry_deg > ASYMMETRY_KNEE_DEG or m.com_shift_m > ASYMMETRY_SHIFT_M,
        Fault.BUTT_WINK: m.butt_wink_deg > BUTT_WINK_DEG,
        Fault.FAST_TEMPO: m.descent_s < FAST_DESCENT_S,
    }
    return frozenset(f.value for f, hit in checks.items() if hit)


def measure_rep(coords_bige: np.ndarray, fps: float, model: SkeletonModel) -> RepMeasures:
    """Measure the fault magnitudes of one rep.

    Args:
        coords_bige: (T, 33) degrees / metres, one rep starting (and ideally ending) near standing.
        fps: frame rate, frames per second.
        model: skeletal model for forward kinematics (e.g. ``edge.skeleton.model.load_default()``).

    Returns:
        RepMeasures.

    Raises:
        ValueError: wrong shape, non-finite values, fps not positive, or no knee flexion to speak of
            (excursion under 10 deg: not a squat rep).
    """
    q = np.asarray(coords_bige, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 33 or q.shape[0] < 3:
        raise ValueError(f"measure_rep: coords_bige must be (T >= 3, 33), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("measure_rep: coords_bige contains non-finite values")
    if not fps > 0:
        raise ValueError(f"measure_rep: fps must be positive, got {fps}")
    knee_r, knee_l = q[:, _IDX["knee_angle_r"]], q[:, _IDX["knee_angle_l"]]
    knee = (knee_r + knee_l) / 2
    bottom = int(np.argmax(knee))
    excursion = knee[bottom] - knee[0]
    if excursion < 10.0:
        raise ValueError(f"measure_rep: knee flexion changes by only {excursion:.1f} deg from the first frame "
                         f"to the deepest: not a squat rep")
    deep = knee >= knee[0] + 0.9 * excursion
    lo, hi = bottom, bottom  # the contiguous deep window around the bottom
    while lo > 0 and deep[lo - 1]:
        lo -= 1
    while hi < len(q) - 1 and deep[hi + 1]:
        hi += 1

    frames = np.array([0, bottom])
    transforms = fk.body_transforms(model, bige_map.from_bige(model, q[frames]))  # (2, n_bodies, 4, 4)
    centres = fk.joint_centres(model, bige_map.from_bige(model, q[frames]))  # (2, n_bodies, 3)
    com = fk.centre_of_mass(model, bige_map.from_bige(model, q[frames]))  # (2, 3)
    body = model.body_index
    trunk_deg, tibia_deg = (float(a) for a in sagittal_inclines_deg(centres[1], model))

    medial = []
    for side, sign in (("r", 1.0), ("l", -1.0)):  # ground z points to the subject's right
        ankle = model.bodies[body(f"talus_{side}")].joint
        axis = transforms[0, body(f"tibia_{side}"), :3, :3] @ np.asarray(ankle.parent_offset.rotation) @ ankle.axes[0].axis
        axis *= -sign * np.sign(axis[2])  # pointing medially
        knee_rel = centres[:, body(f"tibia_{side}")] - centres[:, body(f"talus_{side}")]  # (2, 3) knee vs ankle
        medial.append(float((knee_rel[1] - knee_rel[0]) @ axis))

    heel_rise = []
    for side in ("r", "l"):  # heel height over the toe tip: blind to where the whole body sits (real trials
        points = sole_points(side)  # measured on another model's segment lengths float or sink as a whole)
        height = {}
        for name in ("heel", "toe"):
            b, local = points[name]
            height[name] = (transforms[:, body(b), :3, :3] @ local + transforms[:, body(b), :3, 3])[:, 1]  # (2,)
        over_toe = height["heel"] - height["toe"]
        heel_rise.append(over_toe[1] - over_toe[0])

    ankle_mid_z = (centres[:, body("talus_r"), 2] + centres[:, body("talus_l"), 2]) / 2
    com_offset = com[:, 2] - ankle_mid_z

    tilt = q[:, _IDX["pelvis_tilt"]]
    running_min = np.minimum.accumulate(tilt[:hi + 1])
    wink = float(np.max(tilt[lo:hi + 1] - running_min[lo:hi + 1]))

    def crossing(values: np.ndarray, level: float) -> int:
        """First frame at which values reach level (values start below it)."""
        return int(np.argmax(values >= level))

    level5, level95 = knee[0] + 0.05 * excursion, knee[0] + 0.95 * excursion
    descent = (crossing(knee[:bottom + 1], level95) - crossing(knee[:bottom + 1], level5)) / fps
    up = knee[bottom:]
    end_excursion = knee[bottom] - knee[-1]
    up5 = knee[-1] + 0.05 * end_excursion
    up95 = knee[-1] + 0.95 * end_excursion
    ascent = (crossing(-up, -up5) - crossing(-up, -up95)) / fps

    return RepMeasures(
        peak_knee_deg=float(knee[bottom]),
        trunk_incline_deg=trunk_deg,
        tibia_incline_deg=tibia_deg,
        trunk_over_tibia_deg=trunk_deg - tibia_deg,
        knee_medial_shift_m=float(np.mean(medial)),
        heel_rise_m=float(max(heel_rise)),
        knee_asymmetry_deg=float(abs(knee_r[bottom] - knee_l[bottom])),
        hip_asymmetry_deg=float(abs(q[bottom, _IDX["hip_flexion_r"]] - q[bottom, _IDX["hip_flexion_l"]])),
        com_shift_m=float(abs(com_offset[1] - com_offset[0])),
        butt_wink_deg=wink,
        descent_s=float(descent),
        ascent_s=float(ascent),
    )


def sagittal_inclines_deg(centres_m: np.ndarray, model: SkeletonModel) -> tuple[np.ndarray, np.ndarray]:
    """Sagittal inclinations from vertical of the trunk line and the tibias, per pose.

    The sagittal plane is vertical, its normal the horizontal line through the two ankle joint centres
    (so the subject may face any way); forward is up x (right ankle - left ankle).

    Args:
        centres_m: (..., n_bodies, 3) joint centres in the ground frame (``fk.joint_centres``), y up.
        model: the model the centres come from (body names).

    Returns:
        (trunk_deg, tibia_deg), each (...): the mid-hip to mid-shoulder line, and the ankle-to-knee
        line (mean of both legs), from vertical, positive leaning forward.
    """
    c = np.asarray(centres_m, dtype=np.float64)
    body = model.body_index
    across = c[..., body("talus_r"), :] - c[..., body("talus_l"), :]
    forward = np.stack([across[..., 2], np.zeros_like(across[..., 0]), -across[..., 0]], axis=-1)  # up x across
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)

    def incline(d: np.ndarray) -> np.ndarray:
        return np.degrees(np.arctan2(np.sum(d * forward, axis=-1), d[..., 1]))

    def mid(name: str) -> np.ndarray:
        return (c[..., body(f"{name}_r"), :] + c[..., body(f"{name}_l"), :]) / 2

    tibia = (incline(c[..., body("tibia_r"), :] - c[..., body("talus_r"), :])
             + incline(c[..., body("tibia_l"), :] - c[..., body("talus_l"), :])) / 2
    return incline(mid("humerus") - mid("femur")), tibia
