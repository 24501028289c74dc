"""Physically consistent synthetic squat reps in the 33 BIGE coordinates, with form faults and labels.

Inputs: a ``RepSpec`` per rep (depth, tempo, stance width and toe-out, trunk lean, knee valgus, heel lift, left-right
asymmetry, butt wink, arm pose, natural variation), or ``sample_rep_specs`` to draw varied ones with
chosen fault rates. Outputs per rep: coordinates (T, 33) at ``fps`` in degrees / metres (standing
still at both ends), the fault labels (frozenset of ``models.synth.faults.Fault`` values) and an info
dict (time, phases, the measured fault magnitudes, contact and balance checks).

Algorithm: a phase s(t) in [0, 1] (raised-cosine sweep down over the descent, hold, sweep up over the ascent)
drives a nominal pose: knee flexion per side (the asymmetry splits it), a torso inclination shared
between anterior pelvis tilt and lumbar flexion (a butt wink tilts the pelvis back near the bottom
while the lumbar spine flexes by as much, so the torso keeps its lean), ankle dorsiflexion from a
planar balance model, hip flexion closing the sagittal chain, arms per pose, and smooth seeded noise.
The trunk lean is specified as the fault measure reads it (hip-to-shoulder line beyond the tibia, see
models.synth.faults): the torso inclination at the bottom is solved on the same planar model, whose
tibia inclination is the balanced ankle angle.
Then ``edge.synthetic.squat_motion.solve_contact_ik`` (batched damped Gauss-Newton over forward
kinematics, all frames of many reps at once) moves the pelvis translation, pelvis list/rotation and
the leg coordinates as little as possible while five contact points per foot (heel, first and fifth
metatarsal heads, hallux, lateral toes) stay on targets fixed in the floor and the centre of mass
stays over the base of support (mid-foot, or the toe pads while the heels are up, shifted sideways
for a weight shift). The result is checked: held contact points within 1 mm of their fixed targets,
no point below the floor, every coordinate inside the model's range, the centre of mass inside the
support polygon; a rep that fails raises rather than being returned.

What the model's legs can and cannot do. The knee (``walker_knee``) is a one-degree-of-freedom
flexion joint (its small translations and rotations are coupled to flexion): it has no ab/adduction
and no axial rotation. With a rigid foot flat on the floor each leg is then an exactly constrained
six-joint chain (hip 3, knee 1, ankle 1, subtalar 1), so for a given pelvis pose the knee cannot move
inwards at all. Knee valgus is therefore made the only way the model allows: both feet roll onto their
medial edges (heel and first metatarsal stay planted, the hallux stays planted through the mtp joint,
the lateral forefoot and toes lift by up to ~1.5 cm), carrying the knees inwards with hip adduction
and internal rotation; real valgus collapse flattens the arch instead, which a rigid foot cannot.
A heel lift rotates each calcaneus about the model's oblique mtp axis while the toes segment stays
fixed on the floor (the mtp joint dorsiflexes by the lift angle), with the centre of mass moved over
the toe pads before the heels rise. The two cannot be combined on a rigid foot (rolled onto its edge,
the foot has no second pivot for the heel), so a spec with both is rejected.
Balance is quasi-static (centre of mass over the support); inertial effects of fast reps are not modelled.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial import ConvexHull

from edge.messages import BIGE_COORDINATES
from edge.skeleton import bige_map, fk
from edge.skeleton.model import SkeletonModel, load_default
from edge.synthetic.body import BodyKinematics
from edge.synthetic.squat_motion import ArmPose, balanced_ankle_deg, ease, solve_contact_ik
from models.synth import faults
from models.synth.faults import Fault

_IDX = {name: i for i, name in enumerate(BIGE_COORDINATES)}

# Contact points of the right foot: name -> (body, position in the body frame, metres); the left
# mirrors z. All five lie on the sole plane 1 cm below the calcaneus origin when the mtp angle is 0.
CONTACT_POINTS_R_M: dict[str, tuple[str, tuple[float, float, float]]] = {
    "heel": ("calcn_r", (0.025, -0.010, 0.000)),
    "met1": ("calcn_r", (0.165, -0.010, -0.028)),
    "met5": ("calcn_r", (0.145, -0.010, 0.032)),
    "hallux": ("toes_r", (0.055, -0.008, -0.012)),
    "toe5": ("toes_r", (0.011, -0.008, 0.034)),
}
_CALCN_POINTS = ("heel", "met1", "met5")
_TOE_POINTS = ("hallux", "toe5")

_FREE = ("pelvis_tx", "pelvis_ty", "pelvis_tz", "pelvis_list", "pelvis_rotation",
         "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r",
         "subtalar_angle_r", "mtp_angle_r",
         "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "ankle_angle_l",
         "subtalar_angle_l", "mtp_angle_l")
_HOLD_PER_DEG = {"pelvis_list": 1.0, "pelvis_rotation": 1.0, "knee_angle": 10.0, "hip_flexion": 3.0,
                 "hip_adduction": 1.0, "hip_rotation": 1.0, "ankle_angle": 3.0, "subtalar_angle": 1.0,
                 "mtp_angle": 1.0}
_POINT_PER_MM = 20.0
_COM_PER_MM = 10.0
_COM_ALONG_FOOT = 0.3  # mid-foot centre-of-mass target, fraction of the heel-to-hallux distance
_HIP_HALF_WIDTH_M, _LEG_LENGTH_M = 0.0835, 0.86
_ANKLE_SHARE_OF_SPLIT = 0.8  # a left-right knee difference is mostly matched by the ankles (real asymmetric trials)  # default model: hip centre offset, hip-to-ankle length
_MAX_ITERATIONS = 40
_KEY_STEP = 6  # coarse solve on every 4th frame
_REFINE_ITERATIONS = 8
_STEP_TOL = 0.02  # mm or deg: the solve converges linearly near the end; this keeps contacts well within 1 mm
_BATCH_FRAMES = 3000  # frames per inverse-kinematics batch (memory ~ 8 kB per frame)
_CONTACT_TOL_MM = 1.0
_FLOOR_TOL_MM = 0.5


@dataclass(frozen=True)
class RepSpec:
    """One squat rep.

    depth_deg: peak knee flexion (mean of both knees). descent_s / pause_s / ascent_s: tempo (the ease
    down, the hold at the bottom, the ease up). stand_s: standing still before and after.
    stance_width_m: distance between the ankle joint centres. toe_out_deg: each foot turned out from
    straight ahead (external hip rotation when standing; the knees then track outwards over the toes, by
    about as much as a valgus roll of half the toe-out carries them in: spec_labels assumes near-straight
    feet for knee valgus, as the sampler draws them). trunk_over_tibia_deg: how much further
    from vertical the trunk line (hip to shoulder joint centres) leans than the tibias at the bottom
    (planned on a planar balance model; measured after planting within a few degrees, see
    faults.RepMeasures.trunk_over_tibia_deg). knee_valgus_deg: medial roll of both feet at the bottom (carries the knees
    in; see the module docstring). heel_lift_deg: heel rise about the mtp axis at the bottom.
    asymmetry_deg: nominal peak knee flexion right minus left (the planted feet realise 60-75 % of it, see
    ASYMMETRY_REALISED; the measured difference is in the info). weight_shift_m: sideways centre-of-mass shift at
    the bottom, positive towards the right foot. butt_wink_deg: posterior pelvis tilt regained at the
    bottom after the descent's most anterior tilt. arm_pose: see ArmPose. variation: scale of natural
    variation (standing posture, pelvis/lumbar share, smooth noise on trunk, pelvis and arms; 0 = none).
    variation_seed: seed of that variation.
    """

    depth_deg: float = 100.0
    descent_s: float = 1.4
    pause_s: float = 0.2
    ascent_s: float = 1.2
    stand_s: float = 0.4
    stance_width_m: float = 0.38
    toe_out_deg: float = 0.0
    trunk_over_tibia_deg: float = 12.0
    knee_valgus_deg: float = 0.0
    heel_lift_deg: float = 0.0
    asymmetry_deg: float = 0.0
    weight_shift_m: float = 0.0
    butt_wink_deg: float = 0.0
    arm_pose: ArmPose = ArmPose.FORWARD
    variation: float = 0.5
    variation_seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (30.0 <= self.depth_deg <= 130.0, f"depth_deg must be in [30, 130], got {self.depth_deg}"),
            (0.25 <= self.descent_s <= 5.0, f"descent_s must be in [0.25, 5], got {self.descent_s}"),
            (0.0 <= self.pause_s <= 3.0, f"pause_s must be in [0, 3], got {self.pause_s}"),
            (0.25 <= self.ascent_s <= 5.0, f"ascent_s must be in [0.25, 5], got {self.ascent_s}"),
            (0.1 <= self.stand_s <= 3.0, f"stand_s must be in [0.1, 3], got {self.stand_s}"),
            (0.18 <= self.stance_width_m <= 0.50, f"stance_width_m must be in [0.18, 0.5], got {self.stance_width_m}"),
            (-5.0 <= self.toe_out_deg <= 30.0, f"toe_out_deg must be in [-5, 30], got {self.toe_out_deg}"),
            (-20.0 <= self.trunk_over_tibia_deg <= 70.0,
             f"trunk_over_tibia_deg must be in [-20, 70], got {self.trunk_over_tibia_deg}"),
            (0.0 <= self.knee_valgus_deg <= 15.0, f"knee_valgus_deg must be in [0, 15], got {self.knee_valgus_deg}"),
            (0.0 <= self.heel_lift_deg <= 25.0, f"heel_lift_deg must be in [0, 25], got {self.heel_lift_deg}"),
            (not (self.knee_valgus_deg > 0 and self.heel_lift_deg > 0),
             f"knee_valgus_deg ({self.knee_valgus_deg}) and heel_lift_deg ({self.heel_lift_deg}) cannot both be "
             f"set: the model's rigid foot cannot roll onto its edge with the heel up"),
            (abs(self.asymmetry_deg) <= 25.0, f"asymmetry_deg must be in [-25, 25], got {self.asymmetry_deg}"),
            (abs(self.weight_shift_m) <= 0.08, f"weight_shift_m must be in [-0.08, 0.08], got {self.weight_shift_m}"),
            (0.0 <= self.butt_wink_deg <= 30.0, f"butt_wink_deg must be in [0, 30], got {self.butt_wink_deg}"),
            (isinstance(self.arm_pose, ArmPose), f"arm_pose must be an ArmPose, got {self.arm_pose!r}"),
            (0.0 <= self.variation <= 1.0, f"variation must be in [0, 1], got {self.variation}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"RepSpec: {message}")

    def as_dict(self) -> dict[str, float | int | str]:
        """The spec as plain values (arm pose by name), e.g. for a JSON manifest."""
        d = asdict(self)
        d["arm_pose"] = self.arm_pose.value
        return d


# Where the sampler draws clean values and fault values: kept well clear of the thresholds in
# models.synth.faults, so every label is unambiguous.
CLEAN_RANGES: dict[str, tuple[float, float]] = {
    "depth_deg": (80.0, 115.0), "descent_s": (0.75, 1.6), "pause_s": (0.0, 0.15), "ascent_s": (0.6, 1.4),
    "stance_width_m": (0.30, 0.42), "toe_out_deg": (0.0, 15.0), "trunk_over_tibia_deg": (0.0, 22.0), "asymmetry_deg": (-2.5, 2.5),
    "weight_shift_m": (-0.01, 0.01), "butt_wink_deg": (0.0, 4.0),
}
FAULT_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    Fault.SHALLOW_DEPTH.value: {"depth_deg": (45.0, 60.0)},
    Fault.EXCESSIVE_TRUNK_LEAN.value: {"trunk_over_tibia_deg": (38.0, 46.0), "depth_deg": (85.0, 105.0)},
    Fault.KNEE_VALGUS.value: {"knee_valgus_deg": (9.0, 12.0), "depth_deg": (98.0, 118.0), "toe_out_deg": (0.0, 2.0)},
    Fault.HEEL_LIFT.value: {"heel_lift_deg": (8.0, 12.0), "depth_deg": (85.0, 108.0)},
    Fault.ASYMMETRY.value: {"asymmetry_deg": (15.0, 20.0), "weight_shift_m": (0.045, 0.06), "depth_deg": (85.0, 108.0)},
    Fault.BUTT_WINK.value: {"butt_wink_deg": (12.0, 22.0), "depth_deg": (100.0, 120.0)},
    Fault.FAST_TEMPO.value: {"descent_s": (0.3, 0.45), "pause_s": (0.0, 0.05), "ascent_s": (0.4, 0.8)},
}
DEFAULT_FAULT_RATE = 0.15
ARM_POSE_RATES: dict[ArmPose, float] = {ArmPose.FORWARD: 0.5, ArmPose.CROSSED: 0.25, ArmPose.SIDES: 0.25}
"""How often the sampler picks each arm pose (arms forward is the usual bodyweight-squat cue)."""
EXCLUSIVE_FAULTS = ((Fault.SHALLOW_DEPTH.value, Fault.BUTT_WINK.value), (Fault.SHALLOW_DEPTH.value, Fault.KNEE_VALGUS.value),
              (Fault.KNEE_VALGUS.value, Fault.HEEL_LIFT.value), (Fault.ASYMMETRY.value, Fault.HEEL_LIFT.value),
              (Fault.EXCESSIVE_TRUNK_LEAN.value, Fault.KNEE_VALGUS.value))
""" Fault pairs the sampler does not combine (the second is dropped): a butt wink needs depth; a shallow
rep's valgus roll moves the knees too little to label reliably; a rolled foot has no pivot for the heel;
a heel lift with a weight shift needs more subtalar inversion than the model's +-20 deg; with the shins
near vertical under a folded trunk the roll carries the knees in by little more than the threshold."""


def sample_rep_specs(n: int, seed: int, fault_rates: Mapping[str, float] | None = None) -> list[RepSpec]:
    """Draw ``n`` varied rep specs; each fault is present independently with its rate.

    Clean values come from ``CLEAN_RANGES``, fault values from ``FAULT_RANGES`` (where two faults set
    the same value, from the overlap of their ranges: e.g. an asymmetric rep with a butt wink stays
    between the wink's least and the asymmetry's greatest depth, as deeper asymmetric reps carry the
    knees inwards by nearly the valgus threshold). Incompatible pairs (``EXCLUSIVE_FAULTS``) are
    resolved by dropping the second.

    Args:
        n: number of specs (>= 0).
        seed: random seed; the same seed gives the same specs.
        fault_rates: fault name -> probability in [0, 1]; faults not named get ``DEFAULT_FAULT_RATE``.

    Returns:
        n RepSpecs.

    Raises:
        ValueError: n negative, an unknown fault name, or a rate outside [0, 1].
    """
    if n < 0:
        raise ValueError(f"sample_rep_specs: n must be >= 0, got {n}")
    rates = {name: DEFAULT_FAULT_RATE for name in faults.FAULT_NAMES}
    for name, rate in (fault_rates or {}).items():
        if name not in rates:
            raise ValueError(f"sample_rep_specs: unknown fault {name!r}; known: {faults.FAULT_NAMES}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample_rep_specs: rate of {name} must be in [0, 1], got {rate}")
        rates[name] = float(rate)
    rng = np.random.default_rng(seed)
    specs = []
    for _ in range(n):
        values = {key: float(rng.uniform(lo, hi)) for key, (lo, hi) in CLEAN_RANGES.items()}
        draws = rng.uniform(size=len(faults.FAULT_NAMES))
        present = [name for name, u in zip(faults.FAULT_NAMES, draws) if u < rates[name]]
        for first, second in EXCLUSIVE_FAULTS:
            if first in present and second in present:
                present.remove(second)
        side = 1.0 if rng.uniform() < 0.5 else -1.0
        ranges: dict[str, tuple[float, float]] = {}
        for name in present:  # faults setting the same value share it: the overlap of their ranges, else the last
            for key, (lo, hi) in FAULT_RANGES[name].items():
                old_lo, old_hi = ranges.get(key, (lo, hi))
                ranges[key] = (max(lo, old_lo), min(hi, old_hi)) if max(lo, old_lo) < min(hi, old_hi) else (lo, hi)
        values.update({key: float(rng.uniform(lo, hi)) for key, (lo, hi) in ranges.items()})
        if Fault.ASYMMETRY.value in present:
            values["asymmetry_deg"] *= side
            values["weight_shift_m"] *= side
        arm_pose = list(ARM_POSE_RATES)[int(rng.choice(len(ARM_POSE_RATES), p=list(ARM_POSE_RATES.values())))]
        specs.append(RepSpec(**values, arm_pose=arm_pose, stand_s=float(rng.uniform(0.2, 0.45)),
                             variation=float(rng.uniform(0.3, 1.0)), variation_seed=int(rng.integers(2**31))))
    return specs


VALGUS_ROLL_DEG = 5.0
"""Foot roll (spec ``knee_valgus_deg``) that moves the knees ~ faults.VALGUS_SHIFT_M medially (~2.5 mm/deg)."""
ASYMMETRY_REALISED = 0.6
"""Least fraction of the nominal knee split (spec ``asymmetry_deg``) that the planted feet realise (0.6-0.75:
with both feet fixed, a knee difference needs the pelvis to list, rotate and shift, which the IK shares out)."""
HEEL_LIFT_DEG = 5.0
"""Heel lift angle (spec ``heel_lift_deg``) that raises the heel ~ faults.HEEL_RISE_M."""
_GRID = np.linspace(0.0, 1.0, 100001)


def _sweep(u: np.ndarray) -> np.ndarray:
    """Raised cosine 0 -> 1 with zero velocity at both ends: the depth profile of a descent or ascent.

    Real squats turn at the bottom about as fast as this (time above 95 % of the knee excursion about
    0.29 s on the real trials); a quintic ease lingers there half as long again.
    """
    return 0.5 - 0.5 * np.cos(np.pi * u)


_EASE_5_95 = float(np.diff(np.interp([0.05, 0.95], _sweep(_GRID), _GRID))[0])  # share of a descent, 5 %-95 %


def spec_labels(spec: RepSpec) -> frozenset[str]:
    """The faults a spec introduces, by the thresholds of ``models.synth.faults``.

    Args:
        spec: the rep.

    Returns:
        frozenset of ``Fault`` values (empty for a clean rep).
    """
    checks = {
        Fault.SHALLOW_DEPTH: spec.depth_deg < faults.SHALLOW_KNEE_DEG,
        Fault.EXCESSIVE_TRUNK_LEAN: spec.trunk_over_tibia_deg > faults.TRUNK_OVER_TIBIA_DEG,
        Fault.KNEE_VALGUS: spec.knee_valgus_deg > VALGUS_ROLL_DEG,
        Fault.HEEL_LIFT: spec.heel_lift_deg > HEEL_LIFT_DEG,
        Fault.ASYMMETRY: (ASYMMETRY_REALISED * abs(spec.asymmetry_deg) > faults.ASYMMETRY_KNEE_DEG
                          or abs(spec.weight_shift_m) > faults.ASYMMETRY_SHIFT_M),
        Fault.BUTT_WINK: spec.butt_wink_deg > faults.BUTT_WINK_DEG,
        Fault.FAST_TEMPO: spec.descent_s * _EASE_5_95 < faults.FAST_DESCENT_S,
    }
    return frozenset(f.value for f, hit in checks.items() if hit)


@functools.lru_cache(maxsize=1)
def _default_body() -> tuple[SkeletonModel, BodyKinematics]:
    return load_default(), BodyKinematics.default()


def generate_rep(spec: RepSpec, fps: float = 60.0) -> tuple[np.ndarray, frozenset[str], dict]:
    """One squat rep with its fault labels.

    Args:
        spec: the rep.
        fps: frame rate, frames per second.

    Returns:
        coords (T, 33) degrees / metres in BIGE order; labels (frozenset of fault names); info dict
        (see ``generate_reps``).

    Raises:
        ValueError: fps out of [10, 240].
        RuntimeError: the rep could not be made physically consistent (names the check that failed).
    """
    result = generate_reps([spec], fps)[0]
    assert result is not None  # generate_reps raises rather than skipping here
    return result


def generate_reps(specs: Sequence[RepSpec], fps: float = 60.0,
                  skip_infeasible: bool = False) -> list[tuple[np.ndarray, frozenset[str], dict] | None]:
    """Many reps, their feet planted in shared inverse-kinematics batches.

    Args:
        specs: the reps.
        fps: frame rate, frames per second.
        skip_infeasible: give None (instead of raising) for a rep that fails a physical check, e.g. a
            sampled combination that would need a joint beyond the model's range.

    Returns:
        Per spec: coords (T, 33); labels; info with ``time_s`` (T,), ``phase`` (T,) int (0 standing,
        1 descent, 2 bottom hold, 3 ascent, 4 standing), ``spec`` (dict), ``measures`` (the fault
        magnitudes, ``faults.RepMeasures`` as a dict), ``measured_labels`` (labels from the measures;
        equal to the labels for specs clear of the thresholds, as the sampler draws them),
        ``contact_miss_mm`` (worst held contact point), ``lowest_point_mm`` (lowest contact point; >= -0.5),
        ``com_margin_m`` (least distance of the centre of mass inside the support polygon).

    Raises:
        ValueError: fps out of [10, 240], or a spec that is not a RepSpec.
        RuntimeError: a rep could not be made physically consistent (unless skip_infeasible).
    """
    if not 10.0 <= fps <= 240.0:
        raise ValueError(f"generate_reps: fps must be in [10, 240], got {fps}")
    for spec in specs:
        if not isinstance(spec, RepSpec):
            raise ValueError(f"generate_reps: expected RepSpec, got {type(spec).__name__}")
    model, kinematics = _default_body()
    contacts = _Contacts(kinematics, model)
    plans: list[_Plan | None] = []
    for spec in specs:
        try:
            plans.append(_plan(spec, fps, model, kinematics, contacts))
        except RuntimeError:
            if not skip_infeasible:
                raise
            plans.append(None)
    feasible = [p for p in plans if p is not None]
    finished: list[tuple[np.ndarray, frozenset[str], dict] | None] = []
    batch: list[_Plan] = []
    for plan in feasible + [None]:
        if plan is not None and (not batch or sum(len(p.time_s) for p in batch) + len(plan.time_s) <= _BATCH_FRAMES):
            batch.append(plan)
            continue
        for p, solved in zip(batch, _plant(batch, contacts, kinematics)):
            try:
                finished.append(_finish(p, solved, fps, contacts, kinematics, model))
            except RuntimeError:
                if not skip_infeasible:
                    raise
                finished.append(None)
        batch = [plan] if plan is not None else []
    results = iter(finished)
    return [None if plan is None else next(results) for plan in plans]


@dataclass(frozen=True)
class _Plan:
    """A rep before its feet are planted: timeline, nominal pose and the contact schedule."""

    spec: RepSpec
    time_s: np.ndarray  # (T,)
    phase: np.ndarray  # (T,) int
    nominal: np.ndarray  # (T, 33)
    heel_lift_deg: np.ndarray  # (T,)
    roll_deg: np.ndarray  # (T,) medial roll of both feet
    com_forward: np.ndarray  # (T,) 0 mid-foot .. 1 toe pads
    com_shift_m: np.ndarray  # (T,) sideways, + right


def _plan(spec: RepSpec, fps: float, model: SkeletonModel, kinematics: BodyKinematics, contacts: "_Contacts") -> _Plan:
    """Timeline and nominal coordinates of one rep (see the module docstring)."""
    bounds = np.cumsum([0.0, spec.stand_s, spec.descent_s, spec.pause_s, spec.ascent_s, spec.stand_s])
    n = int(round(bounds[-1] * fps)) + 1
    t = np.arange(n) / fps
    phase = np.clip(np.searchsorted(bounds[1:-1], t, side="right"), 0, 4)
    s = np.where(phase == 1, _sweep(np.clip((t - bounds[1]) / spec.descent_s, 0, 1)), 0.0)
    s = np.where(phase == 2, 1.0, s)
    s = np.where(phase == 3, _sweep(np.clip(1.0 - (t - bounds[3]) / spec.ascent_s, 0, 1)), s)

    rng = np.random.default_rng(spec.variation_seed)
    v = spec.variation

    def noise(amplitude: float) -> np.ndarray:
        """Smooth zero-mean noise: two sinusoids of 0.2-0.7 Hz with random phases."""
        freq, phase0, weight = rng.uniform(0.2, 0.7, 2), rng.uniform(0, 2 * np.pi, 2), rng.normal(0, 0.5, 2)
        return amplitude * v * (weight[:, None] * np.sin(2 * np.pi * freq[:, None] * t + phase0[:, None])).sum(0)

    tilt0 = -3.0 + v * rng.uniform(-8.0, 8.0)  # standing pelvis tilt
    trunk0 = 6.0 + v * rng.uniform(-5.0, 5.0)  # standing torso inclination
    pelvis_share = 0.6 + v * rng.uniform(-0.1, 0.1)  # of the trunk lean, from the pelvis
    knee0 = 3.0 + v * rng.uniform(-2.0, 2.0)

    knee = knee0 + s * (spec.depth_deg - knee0)
    split = s * spec.asymmetry_deg / 2 + s * noise(1.0)
    arm_flex, arm_add, arm_rot, elbow, pro_sup = _arm_angles(spec.arm_pose, s, rng)
    arm_flex = np.clip(arm_flex + noise(4.0), -_ARM_FLEX_MAX_DEG, _ARM_FLEX_MAX_DEG)
    elbow = np.clip(elbow + noise(5.0), 2.0, 145.0)
    arm_add, arm_rot, pro_sup = arm_add + noise(3.0), arm_rot + noise(5.0), np.clip(pro_sup + noise(6.0), 0.0, 119.0)
    wink = spec.butt_wink_deg * ease(np.clip((s - 0.8) / 0.2, 0, 1))
    abduction = np.degrees(np.arcsin((spec.stance_width_m / 2 - _HIP_HALF_WIDTH_M) / _LEG_LENGTH_M))
    roll = s * spec.knee_valgus_deg
    heel = spec.heel_lift_deg * ease(np.clip((s - 0.5) / 0.5, 0, 1))
    pelvis_list, pelvis_rotation, lumbar_bending, lumbar_rotation = noise(0.8), noise(1.5), noise(1.5), noise(1.5)
    com_forward = ease(np.clip(s / 0.5, 0, 1)) if spec.heel_lift_deg > 0 else np.zeros(n)

    def pose(f: np.ndarray, torso_bottom_deg: np.ndarray | float, ankle_deg: np.ndarray) -> np.ndarray:
        """Nominal coordinates (len(f), 33) of frames f for a torso inclination at the bottom and ankle angles."""
        sf = s[f]
        trunk = trunk0 + sf * (torso_bottom_deg - trunk0)
        tilt = tilt0 - pelvis_share * (torso_bottom_deg - trunk0) * ease(np.clip(sf / 0.8, 0, 1)) + wink[f]
        q = np.zeros((len(f), 33))
        q[:, _IDX["pelvis_tilt"]] = tilt
        q[:, _IDX["pelvis_list"]] = pelvis_list[f]
        q[:, _IDX["pelvis_rotation"]] = pelvis_rotation[f]
        q[:, _IDX["pelvis_ty"]] = 0.95
        q[:, _IDX["lumbar_extension"]] = -trunk - tilt
        q[:, _IDX["lumbar_bending"]] = lumbar_bending[f]
        q[:, _IDX["lumbar_rotation"]] = lumbar_rotation[f]
        for side, sign in (("r", 1.0), ("l", -1.0)):
            knee_side = knee[f] + sign * split[f]
            ankle_side = ankle_deg + sign * _ANKLE_SHARE_OF_SPLIT * split[f]
            q[:, _IDX[f"hip_flexion_{side}"]] = knee_side - ankle_side - tilt
            q[:, _IDX[f"hip_adduction_{side}"]] = -abduction + roll[f] - _KNEES_OUT_PER_TOE_OUT * spec.toe_out_deg * sf
            q[:, _IDX[f"hip_rotation_{side}"]] = roll[f] - spec.toe_out_deg * (1.0 - sf)
            q[:, _IDX[f"knee_angle_{side}"]] = knee_side
            q[:, _IDX[f"ankle_angle_{side}"]] = ankle_side - heel[f]
            q[:, _IDX[f"mtp_angle_{side}"]] = -heel[f]  # toes dorsiflex relative to the rising calcaneus
            q[:, _IDX[f"arm_flex_{side}"]] = arm_flex[f]
            q[:, _IDX[f"arm_add_{side}"]] = arm_add[f]
            q[:, _IDX[f"arm_rot_{side}"]] = arm_rot[f]
            q[:, _IDX[f"elbow_flex_{side}"]] = elbow[f]
            q[:, _IDX[f"pro_sup_{side}"]] = pro_sup[f]
        return q

    bottom = int(np.argmax(s))
    torso_bottom, ankle_bottom = _balanced_bottom_deg(spec, bottom, pose, com_forward[bottom] > 0.5, model,
                                                      kinematics, contacts)
    trunk = trunk0 + s * (torso_bottom - trunk0)
    tilt = tilt0 - pelvis_share * (torso_bottom - trunk0) * ease(np.clip(s / 0.8, 0, 1)) + wink
    ankle = balanced_ankle_deg(knee, tilt, -trunk, arm_flex)  # planar: its error at the bottom is taken out
    ankle += s * (ankle_bottom - ankle[bottom])
    frames = np.arange(n)
    return _Plan(spec, t, phase, pose(frames, torso_bottom, ankle), heel, roll, com_forward, s * spec.weight_shift_m)


_KNEES_OUT_PER_TOE_OUT = 0.6
"""Nominal hip abduction at the bottom per degree of toe-out: with flexed hips the knees follow turned-out
feet by abducting, while the standing external rotation unwinds (as on the real trials); the planting
solve then makes it exact."""
_TORSO_GRID_DEG = np.arange(0.0, 90.0, 2.0)
_ANKLE_BISECTIONS = 14


def _balanced_bottom_deg(spec: RepSpec, bottom: int, pose: Callable[..., np.ndarray], on_toes: bool,
                         model: SkeletonModel, kinematics: BodyKinematics, contacts: "_Contacts") -> tuple[float, float]:
    """Torso inclination at the bottom that puts the trunk line ``spec.trunk_over_tibia_deg`` beyond the tibias.

    For each torso inclination on a grid, the ankle angle that puts the model's centre of mass where the
    planting solve will hold it (over mid-foot, or over the toe pads for a heel lift) is found by
    bisection on forward kinematics; the trunk and tibia inclinations of that balanced bottom pose are then
    measured as ``faults.measure_rep`` measures them, and the grid is interpolated at the spec's value
    (the difference grows with the torso inclination: a leaning torso needs less ankle dorsiflexion).

    Args:
        pose: ``pose(frames, torso_bottom_deg, ankle_deg)`` -> nominal coordinates of those frames.

    Returns:
        (torso inclination, balanced ankle angle) at the bottom, degrees.

    Raises:
        RuntimeError: the lean cannot be reached with the torso between upright and horizontal.
    """
    frames = np.full(len(_TORSO_GRID_DEG), bottom)
    lo, hi = np.full(len(frames), -10.0), np.full(len(frames), 60.0)
    feet = [contacts.index[f"{p}_{side}"] for p in ("heel", "hallux", "toe5") for side in ("r", "l")]
    for _ in range(_ANKLE_BISECTIONS):
        mid = (lo + hi) / 2
        transforms = kinematics.transforms(pose(frames, _TORSO_GRID_DEG, mid))
        heel_x, hallux_x, toe5_x = contacts.points(transforms)[:, feet, 0].reshape(len(frames), 3, 2).mean(axis=2).T
        target_x = (hallux_x + toe5_x) / 2 if on_toes else heel_x + _COM_ALONG_FOOT * (hallux_x - heel_x)
        forward = kinematics.centre_of_mass(transforms)[:, 0] > target_x  # more dorsiflexion moves it forward
        hi = np.where(forward, mid, hi)
        lo = np.where(forward, lo, mid)
    ankle = (lo + hi) / 2
    centres = fk.joint_centres(model, bige_map.from_bige(model, pose(frames, _TORSO_GRID_DEG, ankle)))
    trunk_deg, tibia_deg = faults.sagittal_inclines_deg(centres, model)  # (G,) each
    over = np.maximum.accumulate(trunk_deg - tibia_deg)
    if not over[0] <= spec.trunk_over_tibia_deg <= over[-1]:
        raise RuntimeError(f"generate_reps ({spec}): trunk_over_tibia_deg {spec.trunk_over_tibia_deg} is out of "
                           f"reach ({over[0]:.1f} .. {over[-1]:.1f} deg) for this depth and arm pose")
    torso = float(np.interp(spec.trunk_over_tibia_deg, over, _TORSO_GRID_DEG))
    return torso, float(np.interp(torso, _TORSO_GRID_DEG, ankle))


_ARM_FLEX_MAX_DEG = 88.0
"""Shoulder flexion limit of the synthetic arms (the model's range ends at 90; real reps reach 120)."""


def _arm_angles(pose: ArmPose, s: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shoulder flexion, adduction, rotation, elbow flexion and pronation (degrees) per frame.

    Each pose has a style drawn per rep, from the ranges seen on the real squat trials (arms raised
    forward with the elbows bent and the hands together; hands held at the chest; arms along the body,
    the elbows bending as the trunk leans).
    """
    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    pro_sup = np.full_like(s, u(75.0, 115.0))
    if pose is ArmPose.FORWARD:
        flex0, reach = u(-12.0, 5.0), u(75.0, _ARM_FLEX_MAX_DEG)
        elbow0, elbow1 = u(20.0, 130.0), u(60.0, 135.0)
        rot0, rot1 = u(-15.0, 25.0), u(15.0, 45.0)
        add0 = u(-22.0, -8.0)
        return (flex0 + (reach - flex0) * s, add0 + u(-12.0, 10.0) * s, rot0 + (rot1 - rot0) * s,
                elbow0 + (elbow1 - elbow0) * s, pro_sup)
    if pose is ArmPose.CROSSED:  # hands at the chest / on the opposite shoulders
        flex0, flex1 = u(40.0, 60.0), u(60.0, 88.0)
        return (flex0 + (flex1 - flex0) * s, np.full_like(s, u(-15.0, 20.0)), np.full_like(s, u(40.0, 75.0)),
                np.full_like(s, u(105.0, 140.0)), pro_sup)
    flex0, elbow0 = u(-15.0, 0.0), u(15.0, 40.0)  # along the body
    return (flex0 + u(0.0, 15.0) * s, np.full_like(s, u(-15.0, -5.0)) - u(0.0, 6.0) * s, u(-10.0, 5.0) - u(0.0, 15.0) * s,
            elbow0 + u(10.0, 40.0) * s, pro_sup)


class _Contacts:
    """The ten contact points (five per foot), their ground positions and the mtp axes."""

    def __init__(self, kinematics: BodyKinematics, model: SkeletonModel) -> None:
        self.names: list[str] = []
        self._bodies: list[int] = []
        local = []
        for side in ("r", "l"):
            mirror = np.array([1.0, 1.0, 1.0 if side == "r" else -1.0])
            for name, (body, p) in CONTACT_POINTS_R_M.items():
                self.names.append(f"{name}_{side}")
                self._bodies.append(kinematics.index(body[:-1] + side))
                local.append(np.asarray(p) * mirror)
        self._local = np.array(local)  # (10, 3)
        self._body_idx = np.array(self._bodies)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.toes = {side: kinematics.index(f"toes_{side}") for side in ("r", "l")}
        # mtp axis in the toes frame: the joint frame's z axis (child offset rotation, third column)
        self.mtp_axis_local = {side: np.asarray(model.bodies[model.body_index(f"toes_{side}")].joint.child_offset.rotation)[:, 2]
                               for side in ("r", "l")}

    def points(self, transforms: np.ndarray) -> np.ndarray:
        """(T, 10, 3) ground positions of the contact points."""
        R = transforms[:, self._body_idx, :3, :3]  # (T, 10, 3, 3)
        return np.einsum("tnij,nj->tni", R, self._local) + transforms[:, self._body_idx][..., :3, 3]


def _rotate_about(points: np.ndarray, pivot: np.ndarray, axis: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
    """Rotate points (T, n, 3) about the line through pivot (3,) along unit axis (3,) by (T,) angles."""
    v = points - pivot
    c, s = np.cos(angle_rad)[:, None, None], np.sin(angle_rad)[:, None, None]
    return pivot + v * c + np.cross(axis, v) * s + axis * (v @ axis)[..., None] * (1 - c)


def _plant(batch: Sequence[_Plan], contacts: _Contacts,
           kinematics: BodyKinematics) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Plant the feet of a batch of reps: one standing solve for all, then coarse-to-fine solves of all frames.

    Returns:
        Per rep: solved coordinates (T, 33), contact targets (T, 10, 3), contact weights (T, 10, 3).
    """
    hold = np.array([0.0 if n.startswith("pelvis_t") else _HOLD_PER_DEG[n if n.startswith("pelvis") else n[:-2]]
                     for n in _FREE])
    weight = np.full((len(contacts.names), 3), _POINT_PER_MM)
    heel_i = [contacts.index[f"heel_{s}"] for s in ("r", "l")]
    hallux_i = [contacts.index[f"hallux_{s}"] for s in ("r", "l")]
    # Standing: drop each rep's first frame onto the floor, flatten its soles, solve.
    first = np.stack([p.nominal[0] for p in batch])  # (R, 33)
    first[:, _IDX["pelvis_ty"]] -= contacts.points(kinematics.transforms(first))[..., 1].min(axis=1)
    flat = contacts.points(kinematics.transforms(first))
    flat[..., 1] = 0.0
    heel_x, hallux_x = flat[:, heel_i, 0].mean(axis=1), flat[:, hallux_i, 0].mean(axis=1)
    mid = np.stack([heel_x + _COM_ALONG_FOOT * (hallux_x - heel_x), flat[:, :, 2].mean(axis=1)], axis=1)  # (R, 2)
    first = solve_contact_ik(first, first, flat, weight, mid, contacts.names, contacts.points, kinematics,
                             _FREE, hold, _MAX_ITERATIONS, _COM_PER_MM, _STEP_TOL)
    transforms = kinematics.transforms(first)
    first[:, _IDX["pelvis_ty"]] -= contacts.points(transforms)[..., 1].min(axis=1)  # lowest point exactly on y = 0
    transforms = kinematics.transforms(first)
    reference = contacts.points(transforms)  # (R, 10, 3)

    starts, noms, targets, weights, com_targets = [], [], [], [], []
    for r, plan in enumerate(batch):
        n = len(plan.time_s)
        target = np.repeat(reference[r][None], n, axis=0)  # (T, 10, 3)
        w = np.repeat(weight[None], n, axis=0)
        for side in ("r", "l"):
            calcn = [contacts.index[f"{p}_{side}"] for p in _CALCN_POINTS]
            if plan.spec.heel_lift_deg > 0:  # calcaneus about the mtp axis, toes fixed
                toes = transforms[r, contacts.toes[side]]
                axis = toes[:3, :3] @ contacts.mtp_axis_local[side]
                pivot = toes[:3, 3]
                heel_up = _rotate_about(target[:1, calcn], pivot, axis, np.radians([1.0]))[0, 0, 1] > target[0, calcn[0], 1]
                angle = np.radians(plan.heel_lift_deg) * (1.0 if heel_up else -1.0)
                target[:, calcn] = _rotate_about(target[:, calcn], pivot, axis, angle)
            if plan.spec.knee_valgus_deg > 0:  # roll onto the heel-met1 edge; hallux held, lateral toes free
                heel, met1 = reference[r, contacts.index[f"heel_{side}"]], reference[r, contacts.index[f"met1_{side}"]]
                axis = (met1 - heel) / np.linalg.norm(met1 - heel)
                met5 = target[:1, [contacts.index[f"met5_{side}"]]]
                lateral_up = _rotate_about(met5, heel, axis, np.radians([1.0]))[0, 0, 1] > met5[0, 0, 1]
                angle = np.radians(plan.roll_deg) * (1.0 if lateral_up else -1.0)
                target[:, calcn] = _rotate_about(target[:, calcn], heel, axis, angle)
                w[:, contacts.index[f"toe5_{side}"]] = 0.0
        toe_pad = reference[r, [contacts.index[f"{p}_{s}"] for p in _TOE_POINTS for s in ("r", "l")]].mean(axis=0)
        com = np.repeat(mid[r][None], n, axis=0)
        com[:, 0] += plan.com_forward * (toe_pad[0] - mid[r, 0])
        com[:, 1] += plan.com_shift_m
        start = plan.nominal.copy()
        start[:, _IDX["pelvis_tx"]:_IDX["pelvis_tz"] + 1] = first[r, _IDX["pelvis_tx"]:_IDX["pelvis_tz"] + 1]
        starts.append(start)
        noms.append(plan.nominal)
        targets.append(target)
        weights.append(w)
        com_targets.append(com)
    # Coarse to fine: solve every _KEY_STEP-th frame (and the last) of each rep, interpolate the offsets
    # from the nominal pose with a cubic spline in time, then refine every frame from there.
    keys = [np.unique(np.r_[np.arange(0, len(p.time_s), _KEY_STEP), len(p.time_s) - 1]) for p in batch]
    coarse = solve_contact_ik(*(np.concatenate([a[k] for a, k in zip(arrays, keys)])
                                for arrays in (starts, noms, targets, weights, com_targets)),
                              contacts.names, contacts.points, kinematics, _FREE, hold, _MAX_ITERATIONS, _COM_PER_MM,
                              _STEP_TOL)
    guesses = []
    for plan, nom, key, solved_keys in zip(batch, noms, keys, np.split(coarse, np.cumsum([len(k) for k in keys])[:-1])):
        offset = CubicSpline(plan.time_s[key], solved_keys - nom[key], axis=0)(plan.time_s)  # (T, 33)
        guesses.append(nom + offset)
    solved = solve_contact_ik(np.concatenate(guesses), np.concatenate(noms), np.concatenate(targets),
                              np.concatenate(weights), np.concatenate(com_targets), contacts.names, contacts.points,
                              kinematics, _FREE, hold, _REFINE_ITERATIONS, _COM_PER_MM, _STEP_TOL)
    out = np.split(solved, np.cumsum([len(p.time_s) for p in batch])[:-1])
    return list(zip(out, targets, weights))


def _finish(plan: _Plan, solved: tuple[np.ndarray, np.ndarray, np.ndarray], fps: float, contacts: _Contacts, kinematics: BodyKinematics,
            model: SkeletonModel) -> tuple[np.ndarray, frozenset[str], dict]:
    """Check a planted rep, measure its faults, label it."""
    coords, targets, weights = solved
    where = f"generate_reps ({plan.spec})"
    transforms = kinematics.transforms(coords)
    points = contacts.points(transforms)  # (T, 10, 3)
    held = weights[..., 0] > 0  # (T, 10)
    miss_mm = 1000.0 * np.linalg.norm(points - targets, axis=-1)
    worst = np.unravel_index(np.argmax(np.where(held, miss_mm, 0.0)), miss_mm.shape)
    if miss_mm[worst] > _CONTACT_TOL_MM:
        raise RuntimeError(f"{where}: contact point {contacts.names[worst[1]]} of frame {worst[0]} misses its "
                           f"fixed target by {miss_mm[worst]:.2f} mm")
    lowest_mm = 1000.0 * points[..., 1].min()
    if lowest_mm < -_FLOOR_TOL_MM:
        raise RuntimeError(f"{where}: a contact point is {-lowest_mm:.2f} mm below the floor")
    idx = bige_map.bige_indices(model)
    for j, name in enumerate(BIGE_COORDINATES):
        c = model.coordinates[idx[j]]
        factor = np.degrees(1.0) if c.motion_type.name == "ROTATIONAL" else 1.0
        lo, hi = c.range_min * factor, c.range_max * factor
        if coords[:, j].min() < lo or coords[:, j].max() > hi:
            raise RuntimeError(f"{where}: {name} leaves the model's range [{lo:.1f}, {hi:.1f}] "
                               f"({coords[:, j].min():.1f} .. {coords[:, j].max():.1f})")
    com = kinematics.centre_of_mass(transforms)[:, [0, 2]]  # (T, 2)
    margin = _support_margin(points, com)
    if margin.min() < 0.0:
        frame = int(np.argmin(margin))
        raise RuntimeError(f"{where}: centre of mass leaves the base of support by {-margin[frame] * 100:.1f} cm "
                           f"at frame {frame}")
    measures = faults.measure_rep(coords, fps, model)
    info = dict(time_s=plan.time_s, phase=plan.phase, spec=plan.spec.as_dict(), measures=measures.as_dict(),
                measured_labels=faults.labels_from_measures(measures), contact_miss_mm=float(miss_mm[held].max()),
                lowest_point_mm=float(lowest_mm), com_margin_m=float(margin.min()))
    return coords, spec_labels(plan.spec), info


def _support_margin(points: np.ndarray, com_xz: np.ndarray, contact_m: float = 1e-3) -> np.ndarray:
    """Signed distance (m) of the centre of mass inside the convex hull of the contact points on the floor.

    Frames with the same set of touching points share a hull, so the hulls are few.
    """
    touching = points[..., 1] < contact_m  # (T, n)
    margin = np.empty(len(points))
    for key in np.unique(touching, axis=0):
        frames = np.flatnonzero((touching == key).all(axis=1))
        xz = points[frames][:, key][..., [0, 2]]  # (F, k, 2)
        if xz.shape[1] < 3:
            margin[frames] = -np.inf
            continue
        hull = ConvexHull(xz[0])  # the touching points move < 1 mm: one hull per contact set
        normals, offsets = hull.equations[:, :2], hull.equations[:, 2]  # inside: n . x + d <= 0
        margin[frames] = -(com_xz[frames] @ normals.T + offsets).max(axis=1)
    return margin
