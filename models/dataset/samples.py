"""Samples of the BIGE training dataset: reps as fixed windows with muscle activations and fault labels.

Purpose: turn one real trial, or one synthetic pseudo-subject, into dataset samples. Each call is one
independent task (run in a worker process by models.dataset.build), so its result depends only on its
task, never on which worker ran it or on what else ran.
Inputs: a :class:`RealTrialTask` (a .mot file with the 33 BIGE coordinates, any rate, degrees or radians)
or a :class:`SyntheticSubjectTask` (a seed, a rep count, the pseudo-subject's habits).
Outputs: a :class:`TaskResult`: per sample, kinematics (window, 33) and activations (window, 80) as
float32, the fault multi-hot over ``FAULT_NAMES``, the rep's own length and the window's start, plus a
JSON-ready provenance record (source, labels, fault measures, per-rep metrics).

Algorithm. Real trial: read, reduce to the 33 BIGE coordinates in degrees, resample to 60 fps
(edge.motion_io); activations of the whole trial (MuscleActivationEstimator, so the derivatives are
continuous across rep boundaries); reps by ``segment_reps`` (knee-excursion hysteresis); each rep
measured and labelled by ``models.synth.faults``. Synthetic pseudo-subject: rep specs drawn from the
subject's seed (``sample_rep_specs``) with the subject's habitual stance width (+-1 cm per rep) and arm
pose; ``generate_reps`` plants the feet; a rep that fails the generator's physical checks is replaced by
a fresh draw (up to ``MAX_DRAW_ROUNDS`` rounds); activations per rep. Labels of both kinds come from the
same measurement (``measure_rep`` / ``labels_from_measures``), so a label means the same thing on real
and synthetic reps; the synthetic spec's own labels are kept in the provenance.
Windowing (:func:`fit_window`): a rep shorter than the window is tiled from its first frame, as BIGE did
(the seam joins the rep's last frame, standing, to its first, standing); a longer rep is cropped at a
seeded random offset, as BIGE did, but only among offsets that keep the whole knee movement inside the
window when it fits (else the window is centred on the deepest frame): an unconstrained crop could cut
off the descent and falsify the depth or tempo label. Activations are cut with the same frame indices.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.messages import BIGE_COORDINATES
from edge.motion_io import read_mot, resample, to_bige33
from edge.skeleton.model import SkeletonModel, load_default
from edge.synthetic.squat_motion import ArmPose
from models.biomech import metrics as bm
from models.biomech.muscles.activations import MuscleActivationEstimator
from models.biomech.reps import segment_reps
from models.synth import faults
from models.synth.generator import CLEAN_RANGES, RepSpec, generate_reps, sample_rep_specs

FPS = 60.0
FAULT_NAMES: tuple[str, ...] = faults.FAULT_NAMES
MAX_DRAW_ROUNDS = 5
"""Rounds of fresh draws that replace a pseudo-subject's infeasible synthetic reps before giving up."""
STANCE_JITTER_M = 0.01
"""Per-rep spread (standard deviation) of a pseudo-subject's stance width around its habit."""
MOVING_FRACTION = 0.05
"""A frame is part of the knee movement when the knee flexion is this fraction of the rep's range above
its minimum (used to keep the movement inside a cropped window)."""
_KNEES = [BIGE_COORDINATES.index("knee_angle_r"), BIGE_COORDINATES.index("knee_angle_l")]


@dataclass(frozen=True)
class RealTrialTask:
    """One real trial.

    Attributes:
        subject_id: the subject's id in the dataset (one trial per subject in the shipped list).
        path: the .mot file.
        relative_path: the path as the manifest records it (relative to the data folder).
        seed: the dataset seed (crop offsets).
        window_frames: samples' length at 60 fps.
    """

    subject_id: str
    path: Path
    relative_path: str
    seed: int
    window_frames: int


@dataclass(frozen=True)
class SyntheticSubjectTask:
    """One synthetic pseudo-subject.

    Attributes:
        subject_id: the pseudo-subject's id.
        index: its index k among the pseudo-subjects (the seeds derive from (seed, k)).
        n_reps: reps to produce.
        seed: the dataset seed.
        window_frames: samples' length at 60 fps.
    """

    subject_id: str
    index: int
    n_reps: int
    seed: int
    window_frames: int


@dataclass(frozen=True)
class TaskResult:
    """The samples of one task (N of them), in rep order.

    Attributes:
        subject: JSON-ready record of the subject (id, kind, source or habits).
        kinematics: (N, W, 33) float32, degrees / metres, BIGE order.
        activations: (N, W, 80) float32 in [0, 1], BIGE's muscle order.
        faults: (N, len(FAULT_NAMES)) uint8 multi-hot.
        rep_frames: (N,) int32, the rep's own length at 60 fps.
        window_start: (N,) int32, first rep frame of a cropped window (0 when tiled).
        records: N JSON-ready provenance records.
    """

    subject: dict
    kinematics: np.ndarray
    activations: np.ndarray
    faults: np.ndarray
    rep_frames: np.ndarray
    window_start: np.ndarray
    records: list[dict]


def fit_window(knee_deg: np.ndarray, window_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """The frame indices of one rep that make a window of ``window_frames`` (see the module docstring).

    Args:
        knee_deg: (L,) knee flexion of the rep (mean of both knees), degrees.
        window_frames: window length (>= 1).
        rng: draws the crop offset (only used when L > window_frames).

    Returns:
        indices (window_frames,) into the rep, the crop start (0 when tiled) and the number of tiles
        (1 when cropped or exact).

    Raises:
        ValueError: empty rep or window_frames < 1.
    """
    n = int(knee_deg.shape[0])
    if n < 1 or window_frames < 1:
        raise ValueError(f"fit_window: need a non-empty rep and window_frames >= 1, got {n} and {window_frames}")
    if n <= window_frames:
        return np.arange(window_frames) % n, 0, math.ceil(window_frames / n)
    lo_deg, hi_deg = float(knee_deg.min()), float(knee_deg.max())
    moving = np.flatnonzero(knee_deg > lo_deg + MOVING_FRACTION * (hi_deg - lo_deg))
    if moving.size and moving[-1] + 1 - moving[0] <= window_frames:
        lo, hi = max(0, int(moving[-1]) + 1 - window_frames), min(n - window_frames, int(moving[0]))
        start = int(rng.integers(lo, hi + 1))
    else:
        start = int(np.clip(int(np.argmax(knee_deg)) - window_frames // 2, 0, n - window_frames))
    return start + np.arange(window_frames), start, 1


def run_indexed(item: tuple[int, RealTrialTask | SyntheticSubjectTask]) -> tuple[int, TaskResult]:
    """``(i, task) -> (i, run_task(task))``: lets a pool's unordered results be put back in task order."""
    return item[0], run_task(item[1])


def run_task(task: RealTrialTask | SyntheticSubjectTask) -> TaskResult:
    """Produce the samples of one task.

    Raises:
        FileNotFoundError, edge.motion_io.MotFormatError: unreadable real trial.
        ValueError: a real trial without the BIGE columns, with no reps, or with a rep that cannot be
            measured (file and rep named).
        RuntimeError: a pseudo-subject whose reps stay infeasible after MAX_DRAW_ROUNDS rounds.
    """
    if isinstance(task, RealTrialTask):
        return _real_trial(task)
    if isinstance(task, SyntheticSubjectTask):
        return _synthetic_subject(task)
    raise TypeError(f"run_task: unknown task type {type(task).__name__}")


@functools.lru_cache(maxsize=1)
def _tools() -> tuple[SkeletonModel, MuscleActivationEstimator]:
    """The skeletal model and the activation estimator, loaded once per process."""
    return load_default(), MuscleActivationEstimator()


def _sample_rng(seed: int, sample_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(sample_id.encode())])


def _real_trial(task: RealTrialTask) -> TaskResult:
    model, estimator = _tools()
    where = task.relative_path
    motion = resample(to_bige33(read_mot(task.path)), FPS)
    q = motion.values  # (T, 33) at 60 fps
    reps = segment_reps(q, FPS)
    if not reps:
        raise ValueError(f"{where}: no squat reps found (knee flexion range too small?)")
    activations = estimator.from_bige(q, FPS).activations  # (T, 80)
    sha256 = hashlib.sha256(task.path.read_bytes()).hexdigest()
    samples = []
    for j, (start, end) in enumerate(reps):
        rep_q, rep_a = q[start:end], activations[start:end]
        try:
            measures = faults.measure_rep(rep_q, FPS, model)
        except ValueError as exc:
            raise ValueError(f"{where}: rep {j} (frames {start}-{end} at 60 fps): {exc}") from None
        sample_id = f"{task.subject_id}/rep{j}"
        source = {"file": where, "sha256": sha256, "rep_index": j, "frames_60fps": [start, end],
                  "time_s": [round_sig(motion.time_s[start]), round_sig(motion.time_s[end - 1])]}
        samples.append(_sample(sample_id, rep_q, rep_a, measures, source, task.seed, task.window_frames, model))
    subject = {"id": task.subject_id, "kind": "real", "file": where, "sha256": sha256}
    return _result(subject, samples)


def _synthetic_subject(task: SyntheticSubjectTask) -> TaskResult:
    model, estimator = _tools()
    habit_rng = np.random.default_rng([task.seed, 3, task.index])
    stance_habit_m = float(habit_rng.uniform(*CLEAN_RANGES["stance_width_m"]))
    arm_pose = list(ArmPose)[int(habit_rng.integers(len(ArmPose)))]
    kept: list[tuple[RepSpec, tuple[np.ndarray, frozenset[str], dict], dict]] = []
    for round_ in range(MAX_DRAW_ROUNDS):
        missing = task.n_reps - len(kept)
        if missing == 0:
            break
        draw_seed = int(np.random.SeedSequence([task.seed, 2, task.index, round_]).generate_state(1)[0])
        jitter = np.random.default_rng([task.seed, 4, task.index, round_]).normal(0.0, STANCE_JITTER_M, missing)
        stance_m = np.clip(stance_habit_m + jitter, *CLEAN_RANGES["stance_width_m"])
        specs = [dataclasses.replace(spec, stance_width_m=float(width_m), arm_pose=arm_pose)
                 for spec, width_m in zip(sample_rep_specs(missing, draw_seed), stance_m)]
        for i, (spec, rep) in enumerate(zip(specs, generate_reps(specs, FPS, skip_infeasible=True))):
            if rep is not None:
                kept.append((spec, rep, {"draw_seed": draw_seed, "round": round_, "index": i}))
    if len(kept) < task.n_reps:
        raise RuntimeError(f"synthetic subject {task.subject_id}: only {len(kept)} of {task.n_reps} reps "
                           f"passed the generator's physical checks after {MAX_DRAW_ROUNDS} rounds of draws")
    samples = []
    for j, (spec, (coords, spec_labels, info), draw) in enumerate(kept):
        activations = estimator.from_bige(coords, FPS).activations  # (L, 80)
        measures = faults.RepMeasures(**info["measures"])
        source = {"generator": "models.synth.generator.generate_reps", "spec": spec.as_dict(),
                  "spec_faults": sorted(spec_labels), **draw}
        samples.append(_sample(f"{task.subject_id}/rep{j:03d}", coords, activations, measures, source, task.seed,
                               task.window_frames, model))
    subject = {"id": task.subject_id, "kind": "synthetic", "index": task.index,
               "habits": {"stance_width_m": round_sig(stance_habit_m), "arm_pose": arm_pose.value}}
    return _result(subject, samples)


def _sample(sample_id: str, rep_q: np.ndarray, rep_a: np.ndarray, measures: faults.RepMeasures, source: dict,
            seed: int, window_frames: int, model: SkeletonModel) -> tuple:
    """One sample: (kinematics window, activations window, multi-hot, rep length, start, record)."""
    rep_a = np.clip(rep_a, 0.0, 1.0)  # the solver's bound can overshoot 1 by rounding (1e-16)
    labels = faults.labels_from_measures(measures)
    indices, start, tiles = fit_window(rep_q[:, _KNEES].mean(axis=1), window_frames, _sample_rng(seed, sample_id))
    multi_hot = np.array([name in labels for name in FAULT_NAMES], dtype=np.uint8)
    record = {"id": sample_id, "source": source, "rep_frames": int(rep_q.shape[0]),
              "window": {"start": start, "tiles": tiles}, "faults": sorted(labels),
              "measures": {k: round_sig(v) for k, v in measures.as_dict().items()},
              "metrics": rep_metrics(rep_q, rep_a, model)}
    return (rep_q[indices].astype(np.float32), rep_a[indices].astype(np.float32), multi_hot,
            int(rep_q.shape[0]), start, record)


def rep_metrics(rep_q: np.ndarray, rep_a: np.ndarray, model: SkeletonModel) -> dict[str, float]:
    """BIGE's per-motion metrics of one whole rep at 60 fps (models.biomech.metrics), JSON-ready.

    Args:
        rep_q: (L, 33) BIGE coordinates, degrees / metres.
        rep_a: (L, 80) activations in [0, 1], BIGE's muscle order.
        model: skeletal model for the floor metrics.

    Returns:
        penetration_cm, floating_cm, sliding_m_s (ground from the rep itself), asymmetry_deg, omega_deg_s,
        com_velocity_m_s, com_acceleration_m_s2, pelvis_tilt_at_peak_vasmed_deg, peak_vasmed_activation,
        saturated_fraction (activations >= 0.99).
    """
    floor = bm.floor_metrics(bm.joint_centres_from_bige(rep_q[None], model), FPS)
    values = {
        "penetration_cm": floor.penetration_cm, "floating_cm": floor.floating_cm, "sliding_m_s": floor.sliding_m_s,
        "asymmetry_deg": bm.asymmetry_deg(rep_q), "omega_deg_s": bm.omega_deg_s(rep_q, FPS),
        "com_velocity_m_s": bm.com_velocity_m_s(rep_q, FPS),
        "com_acceleration_m_s2": bm.com_acceleration_m_s2(rep_q, FPS),
        "pelvis_tilt_at_peak_vasmed_deg": bm.pelvis_tilt_at_peak_activation_deg(rep_q, rep_a),
        "peak_vasmed_activation": float(bm.vastus_medialis(rep_a, rep_q.shape[0]).max()),
        "saturated_fraction": float(np.mean(rep_a >= 0.99)),
    }
    return {k: round_sig(v) for k, v in values.items()}


def _result(subject: dict, samples: list[tuple]) -> TaskResult:
    kin, act, hot, frames, starts, records = zip(*samples)
    return TaskResult(subject=subject, kinematics=np.stack(kin), activations=np.stack(act), faults=np.stack(hot),
                      rep_frames=np.array(frames, dtype=np.int32), window_start=np.array(starts, dtype=np.int32),
                      records=list(records))


def round_sig(value: float) -> float:
    """A float with 6 significant digits, for the manifest."""
    return float(f"{float(value):.6g}")
