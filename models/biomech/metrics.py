"""BIGE's evaluation metrics (Tables 2 and 3 of Maheshwari et al., L4DC 2025), as docs/bige.md defines them.

Purpose: score real, estimated or generated squat motions the way BIGE does, so that this project's
numbers sit beside the paper's.
Inputs: BIGE coordinates in BIGE's column order (``edge.messages.BIGE_COORDINATES``), degrees for
rotations and metres for ``pelvis_t*``, at ``FPS`` = 60 frames per second (resample first, see
:func:`load_bige`), as one window (T, 33) or a batch (B, T, 33); optional muscle activations
(0-1) for the two activation-based metrics; joint centres (…, T, J, 3) in metres, y up, for the
floor metrics.
Outputs: floats (or small frozen dataclasses) in the units named by each function.

Definitions and the choices made where the paper leaves room (kept the same everywhere):

* A *sample* is one window of the motion (BIGE: 196 frames, see :func:`cut_windows`); batched
  metrics are computed per sample and averaged over samples.
* Fidelity: (mean_real - mean_gen)^2 + (std_real - std_gen)^2, mean and (population) standard
  deviation over *all values* of each set pooled (every frame, coordinate and sample; degrees and
  metres mixed, as in BIGE).
* Diversity: the Shannon entropy (natural log) of a 10-bin histogram of all values of a sample
  (bins spanning that sample's own minimum to maximum), averaged over samples. This reading gives
  1.77-1.88 on the real trials in shared/data, beside the paper's 1.773 for mocap and 1.736 for its
  reference; a per-coordinate histogram would give about 2.0-2.2.
* Floor metrics: joint centres from forward kinematics of the product's model (``load_default()``):
  the origin of every body's joint frame (all 22 bodies; the lowest is a foot joint in any squat).
  The lowest joint per frame gives the frame's minimum height; the ground height is the median of
  these minima over all frames of all samples passed together (or given). Per frame, penetration =
  ground - minimum and floating = minimum - ground where positive, each set to 0 when under 1 cm; both
  are averaged over all frames, in cm. A frame is in contact when its floating value is 0 (the lowest
  joint within 1 cm above the ground, or below it). Sliding: for each contact frame t with a next
  frame, the 3-D displacement of the joint that is lowest at t, from t to t + 1, times the frame rate,
  averaged over the contact frames (m/s).
* Guidance metrics, per sample then averaged over samples:
  pelvis tilt at the frame where vastus-medialis activation peaks (deg); asymmetry = RMS over frames
  and the three pairs of (left - right) hip flexion, knee angle, ankle angle (deg); omega = RMS over
  frame steps and seven coordinates (both hip flexions, knee angles, ankle angles, pelvis tilt) of the
  frame-to-frame change x fps (deg/s); COM velocity = RMS over frame steps of the speed of
  (pelvis_tx, ty, tz), first difference x fps (m/s); COM acceleration = RMS over interior frames of the
  norm of the discrete Laplacian x[t+1] - 2 x[t] + x[t-1] of the pelvis translation x fps^2 (m/s^2);
  constraint = hinge distance of the peak vastus-medialis activation outside [low, high] (0-1).
  Activations are not derived from kinematics here: pass them in (e.g. from BIGE's released
  surrogate), as (…, T) vastus-medialis traces or (…, T, 80) in the surrogate's muscle order, where the
  mean of the left and right vastus medialis (``VASMED_INDICES``) is used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.messages import BIGE_COORDINATES, N_COORDINATES
from edge.motion_io import read_mot, resample, to_bige33
from edge.skeleton import bige_map, fk
from edge.skeleton.model import SkeletonModel, load_default

FPS = 60.0
WINDOW_FRAMES = 196
CONTACT_THRESHOLD_M = 0.01
N_HISTOGRAM_BINS = 10
VASMED_INDICES = (39, 79)
"""Left and right vastus medialis in BIGE's surrogate output (40 left muscles alphabetically, then right)."""
N_MUSCLES = 80

_I = {name: i for i, name in enumerate(BIGE_COORDINATES)}
SYMMETRY_PAIRS = (("hip_flexion_l", "hip_flexion_r"), ("knee_angle_l", "knee_angle_r"),
                  ("ankle_angle_l", "ankle_angle_r"))
OMEGA_COORDINATES = ("hip_flexion_r", "hip_flexion_l", "knee_angle_r", "knee_angle_l",
                     "ankle_angle_r", "ankle_angle_l", "pelvis_tilt")
PELVIS_TRANSLATION = ("pelvis_tx", "pelvis_ty", "pelvis_tz")


def _windows(coords: np.ndarray, name: str = "coords", min_frames: int = 1) -> np.ndarray:
    """(B, T, 33) float view of a (T, 33) or (B, T, 33) input, checked."""
    x = np.asarray(coords, dtype=float)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != N_COORDINATES:
        raise ValueError(f"{name}: expected (T, {N_COORDINATES}) or (B, T, {N_COORDINATES}) BIGE "
                         f"coordinates, got shape {np.shape(coords)}")
    if x.shape[0] == 0 or x.shape[1] < min_frames:
        raise ValueError(f"{name}: need at least one sample of at least {min_frames} frames, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: non-finite values")
    return x


def _check_fps(fps: float) -> float:
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    return float(fps)


def load_bige(path: str | os.PathLike[str], fps: float = FPS) -> np.ndarray:
    """A motion file as (T, 33) BIGE coordinates, degrees / metres, resampled to ``fps``.

    Args:
        path: .mot/.sto with the 33 BIGE columns (extra columns such as ``knee_angle_r_beta`` are
            dropped; radians are converted).
        fps: output frame rate.

    Returns:
        (T, 33) float array.

    Raises:
        FileNotFoundError, edge.motion_io.MotFormatError: unreadable file.
        ValueError: missing BIGE columns, non-monotonic time or non-finite values (file named).
    """
    return resample(to_bige33(read_mot(path)), fps).values


def cut_windows(coords: np.ndarray, n_frames: int = WINDOW_FRAMES) -> np.ndarray:
    """Cut a (T, 33) motion into samples of ``n_frames``: (B, n_frames, 33).

    A motion of T > n_frames frames gives ceil(T / n_frames) windows with evenly spaced starts from
    frame 0 to T - n_frames, so every frame is covered and no window runs past the end. A motion of
    T <= n_frames frames is one sample of its own length, (1, T, 33): BIGE tiled short segments, but
    the jump at the seam would dominate the velocity and acceleration metrics.

    Raises:
        ValueError: not (T, 33), empty, non-finite, or n_frames < 1.
    """
    if np.ndim(coords) != 2:
        raise ValueError(f"coords: expected (T, {N_COORDINATES}), got shape {np.shape(coords)}")
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    x = _windows(coords)[0]  # (T, 33)
    starts, length = window_starts(x.shape[0], n_frames)
    return np.stack([x[s:s + length] for s in starts])  # (B, n_frames, 33)


def window_starts(n_total: int, n_frames: int = WINDOW_FRAMES) -> tuple[np.ndarray, int]:
    """Start frames and length of the windows :func:`cut_windows` takes from ``n_total`` frames.

    Use it to cut arrays aligned with a motion (e.g. activations) the same way.

    Raises:
        ValueError: n_total or n_frames < 1.
    """
    if n_total < 1 or n_frames < 1:
        raise ValueError(f"need n_total >= 1 and n_frames >= 1, got {n_total} and {n_frames}")
    if n_total <= n_frames:
        return np.zeros(1, dtype=int), n_total
    starts = np.round(np.linspace(0, n_total - n_frames, int(np.ceil(n_total / n_frames)))).astype(int)
    return starts, n_frames


# ---------------------------------------------------------------- Table 2: fidelity and diversity


def fidelity(real: np.ndarray, generated: np.ndarray) -> float:
    """(mean_real - mean_gen)^2 + (std_real - std_gen)^2 over all values of each set; lower is better.

    Args:
        real: any-shaped array of values (e.g. (B, T, 33) windows), pooled.
        generated: the same for the generated (or estimated) set; shapes need not match.

    Raises:
        ValueError: an empty set or non-finite values.
    """
    a = np.asarray(real, dtype=float).ravel()
    b = np.asarray(generated, dtype=float).ravel()
    for name, v in (("real", a), ("generated", b)):
        if v.size == 0:
            raise ValueError(f"fidelity: the {name} set is empty")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"fidelity: the {name} set has non-finite values")
    return float((a.mean() - b.mean()) ** 2 + (a.std() - b.std()) ** 2)


def sample_entropy(sample: np.ndarray, n_bins: int = N_HISTOGRAM_BINS) -> float:
    """Shannon entropy (nats) of an n_bins histogram of all values of one sample (0 if constant).

    Raises:
        ValueError: empty sample, non-finite values or n_bins < 1.
    """
    v = np.asarray(sample, dtype=float).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError("sample_entropy: the sample is empty or has non-finite values")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    counts, _ = np.histogram(v, bins=n_bins)
    p = counts[counts > 0] / v.size
    return float(-(p * np.log(p)).sum())


def diversity(samples: np.ndarray | Sequence[np.ndarray], n_bins: int = N_HISTOGRAM_BINS) -> float:
    """Mean per-sample Shannon entropy (nats) of motion samples.

    Args:
        samples: (B, T, 33) windows, one (T, 33) window, or a sequence of (T_i, 33) windows.
        n_bins: histogram bins per sample.

    Raises:
        ValueError: wrong shape, no samples or non-finite values.
    """
    if isinstance(samples, np.ndarray):
        windows = list(_windows(samples, "samples"))
    else:
        windows = [_windows(w, "samples")[0] for w in samples]
        if not windows:
            raise ValueError("samples: no samples")
    return float(np.mean([sample_entropy(w, n_bins) for w in windows]))


# ---------------------------------------------------------------- Table 2: floor metrics


@dataclass(frozen=True)
class FloorMetrics:
    """BIGE's floor metrics.

    Attributes:
        penetration_cm: mean over frames of the lowest joint's depth below ground (values < 1 cm = 0).
        floating_cm: mean over frames of its height above ground (values < 1 cm = 0).
        sliding_m_s: mean speed of the lowest joint over contact frames (nan if none).
        ground_height_m: the ground height used.
        contact_fraction: share of frames in contact.
    """

    penetration_cm: float
    floating_cm: float
    sliding_m_s: float
    ground_height_m: float
    contact_fraction: float


def joint_centres_from_bige(coords: np.ndarray, model: SkeletonModel | None = None) -> np.ndarray:
    """Joint centres (…, T, n_bodies, 3) in metres, y up, from BIGE coordinates (…, T, 33).

    Args:
        coords: (T, 33) or (B, T, 33), degrees / metres.
        model: skeletal model; the product's default (``load_default()``) if None.

    Raises:
        ValueError: wrong shape or non-finite values.
    """
    x = _windows(coords)
    model = load_default() if model is None else model
    q = bige_map.from_bige(model, x.reshape(-1, N_COORDINATES))  # (B*T, n_q)
    joints = fk.joint_centres(model, q).reshape(x.shape[:2] + (-1, 3))  # (B, T, J, 3)
    return joints[0] if np.ndim(coords) == 2 else joints


def floor_metrics(joints_m: np.ndarray, fps: float = FPS, ground_height_m: float | None = None,
                  threshold_m: float = CONTACT_THRESHOLD_M, up_axis: int = 1) -> FloorMetrics:
    """Penetration, floating and sliding of the lowest joint (see the module docstring).

    Args:
        joints_m: (T, J, 3) or (B, T, J, 3) joint positions in metres.
        fps: frame rate of the samples.
        ground_height_m: ground height; the median over all frames of the per-frame minimum if None.
        threshold_m: penetration/floating below this count as 0, and contact is floating == 0.
        up_axis: index of the vertical axis (OpenSim: 1 = y).

    Raises:
        ValueError: wrong shape, non-finite values, bad fps, threshold or axis.
    """
    p = np.asarray(joints_m, dtype=float)
    if p.ndim == 3:
        p = p[None]
    if p.ndim != 4 or p.shape[-1] != 3 or 0 in p.shape[:3]:
        raise ValueError(f"joints_m: expected non-empty (T, J, 3) or (B, T, J, 3), got {np.shape(joints_m)}")
    if not np.all(np.isfinite(p)):
        raise ValueError("joints_m: non-finite values")
    fps = _check_fps(fps)
    if not (np.isfinite(threshold_m) and threshold_m >= 0):
        raise ValueError(f"threshold_m must be >= 0, got {threshold_m}")
    if up_axis not in (0, 1, 2):
        raise ValueError(f"up_axis must be 0, 1 or 2, got {up_axis}")
    height = p[..., up_axis]  # (B, T, J)
    lowest = np.argmin(height, axis=-1)  # (B, T)
    min_height = np.take_along_axis(height, lowest[..., None], axis=-1)[..., 0]  # (B, T)
    ground = float(np.median(min_height)) if ground_height_m is None else float(ground_height_m)
    rel = min_height - ground
    penetration = np.where(-rel >= threshold_m, -rel, 0.0)
    floating = np.where(rel >= threshold_m, rel, 0.0)
    contact = floating == 0.0  # (B, T)
    b, t = np.meshgrid(np.arange(p.shape[0]), np.arange(p.shape[1] - 1), indexing="ij")  # (B, T-1)
    j = lowest[:, :-1]
    step = p[b, t + 1, j] - p[b, t, j]  # (B, T-1, 3) displacement of the joint lowest at t
    speed = np.linalg.norm(step, axis=-1) * fps
    on = contact[:, :-1]
    sliding = float(speed[on].mean()) if on.any() else float("nan")
    return FloorMetrics(penetration_cm=float(penetration.mean() * 100.0),
                        floating_cm=float(floating.mean() * 100.0), sliding_m_s=sliding,
                        ground_height_m=ground, contact_fraction=float(contact.mean()))


# ---------------------------------------------------------------- Table 3: guidance metrics


def vastus_medialis(activations: np.ndarray, n_frames: int) -> np.ndarray:
    """(B, T) vastus-medialis trace from (T,), (B, T), (T, 80) or (B, T, 80) activations.

    80-channel input is in BIGE's surrogate order; the mean of left and right vastus medialis is used.

    Raises:
        ValueError: shape not matching n_frames, values outside [0, 1] or non-finite.
    """
    a = np.asarray(activations, dtype=float)
    if a.ndim >= 2 and a.shape[-1] == N_MUSCLES and a.shape[-2] == n_frames:
        a = a[..., list(VASMED_INDICES)].mean(axis=-1)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != n_frames:
        raise ValueError(f"activations: expected (T,), (B, T), (T, {N_MUSCLES}) or (B, T, {N_MUSCLES}) "
                         f"with T = {n_frames}, got shape {np.shape(activations)}")
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
        raise ValueError("activations: values must be finite and within [0, 1]")
    return a


def pelvis_tilt_at_peak_activation_deg(coords: np.ndarray, activations: np.ndarray) -> float:
    """Pelvis tilt (deg) at the frame of peak vastus-medialis activation, mean over samples.

    Args:
        coords: (T, 33) or (B, T, 33) BIGE coordinates.
        activations: see :func:`vastus_medialis`; one trace per sample.

    Raises:
        ValueError: shapes disagree or bad values.
    """
    x = _windows(coords)
    a = vastus_medialis(activations, x.shape[1])
    if a.shape[0] != x.shape[0]:
        raise ValueError(f"activations: {a.shape[0]} samples for {x.shape[0]} motion samples")
    peak = np.argmax(a, axis=1)  # (B,)
    return float(x[np.arange(x.shape[0]), peak, _I["pelvis_tilt"]].mean())


def activation_constraint(activations: np.ndarray, n_frames: int, band: tuple[float, float]) -> float:
    """Mean hinge distance of the peak vastus-medialis activation outside ``band`` = (low, high).

    Raises:
        ValueError: bad activations or band not 0 <= low <= high <= 1.
    """
    low, high = band
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"band must satisfy 0 <= low <= high <= 1, got {band}")
    peak = vastus_medialis(activations, n_frames).max(axis=1)  # (B,)
    return float((np.maximum(0.0, low - peak) + np.maximum(0.0, peak - high)).mean())


def asymmetry_deg(coords: np.ndarray) -> float:
    """RMS of (left - right) hip flexion, knee angle and ankle angle (deg), mean over samples.

    Raises:
        ValueError: wrong shape or non-finite values.
    """
    x = _windows(coords)
    left = x[..., [_I[l] for l, _ in SYMMETRY_PAIRS]]
    right = x[..., [_I[r] for _, r in SYMMETRY_PAIRS]]
    return float(np.sqrt(((left - right) ** 2).mean(axis=(1, 2))).mean())


def omega_deg_s(coords: np.ndarray, fps: float = FPS) -> float:
    """RMS angular velocity (deg/s) of hip flexion, knee and ankle (both sides) and pelvis tilt.

    Raises:
        ValueError: wrong shape, fewer than 2 frames, non-finite values or bad fps.
    """
    x = _windows(coords, min_frames=2)[..., [_I[c] for c in OMEGA_COORDINATES]]
    velocity = np.diff(x, axis=1) * _check_fps(fps)  # (B, T-1, 7)
    return float(np.sqrt((velocity ** 2).mean(axis=(1, 2))).mean())


def com_velocity_m_s(coords: np.ndarray, fps: float = FPS) -> float:
    """RMS speed (m/s) of the pelvis translation, mean over samples.

    Raises:
        ValueError: wrong shape, fewer than 2 frames, non-finite values or bad fps.
    """
    x = _windows(coords, min_frames=2)[..., [_I[c] for c in PELVIS_TRANSLATION]]
    speed = np.linalg.norm(np.diff(x, axis=1), axis=-1) * _check_fps(fps)  # (B, T-1)
    return float(np.sqrt((speed ** 2).mean(axis=1)).mean())


def com_acceleration_m_s2(coords: np.ndarray, fps: float = FPS) -> float:
    """RMS norm (m/s^2) of the pelvis translation's discrete Laplacian x fps^2, mean over samples.

    Raises:
        ValueError: wrong shape, fewer than 3 frames, non-finite values or bad fps.
    """
    x = _windows(coords, min_frames=3)[..., [_I[c] for c in PELVIS_TRANSLATION]]
    lap = (x[:, 2:] - 2.0 * x[:, 1:-1] + x[:, :-2]) * _check_fps(fps) ** 2  # (B, T-2, 3)
    return float(np.sqrt((np.linalg.norm(lap, axis=-1) ** 2).mean(axis=1)).mean())


# ---------------------------------------------------------------- all kinematic metrics at once


@dataclass(frozen=True)
class KinematicMetrics:
    """The per-motion metrics of Tables 2 and 3 (those that need no reference set).

    Activation-based fields are None when no activations were given.
    """

    frames_per_sample: int
    n_samples: int
    diversity: float
    penetration_cm: float
    floating_cm: float
    sliding_m_s: float
    ground_height_m: float
    asymmetry_deg: float
    omega_deg_s: float
    com_velocity_m_s: float
    com_acceleration_m_s2: float
    pelvis_tilt_at_peak_activation_deg: float | None = None
    constraint: float | None = None


def kinematic_metrics(coords: np.ndarray, fps: float = FPS, model: SkeletonModel | None = None,
                      activations: np.ndarray | None = None,
                      band: tuple[float, float] = (0.35, 0.45),
                      ground_height_m: float | None = None) -> KinematicMetrics:
    """Every per-motion metric of BIGE's Tables 2 and 3 for (T, 33) or (B, T, 33) motion samples.

    Args:
        coords: BIGE coordinates at ``fps``; (T, 33) is one sample.
        fps: frame rate (BIGE: 60).
        model: model for the floor metrics' forward kinematics (default: ``load_default()``).
        activations: optional, see :func:`vastus_medialis`; enables pelvis tilt and constraint.
        band: (low, high) activation band of the constraint metric.
        ground_height_m: floor height; estimated from the samples if None.

    Raises:
        ValueError: wrong shapes or values (see the single-metric functions).
    """
    x = _windows(coords, min_frames=3)
    floor = floor_metrics(joint_centres_from_bige(x, model), fps, ground_height_m)
    tilt = constraint = None
    if activations is not None:
        tilt = pelvis_tilt_at_peak_activation_deg(x, activations)
        constraint = activation_constraint(activations, x.shape[1], band)
    return KinematicMetrics(
        frames_per_sample=int(x.shape[1]), n_samples=int(x.shape[0]), diversity=diversity(x),
        penetration_cm=floor.penetration_cm, floating_cm=floor.floating_cm,
        sliding_m_s=floor.sliding_m_s, ground_height_m=floor.ground_height_m,
        asymmetry_deg=asymmetry_deg(x), omega_deg_s=omega_deg_s(x, fps),
        com_velocity_m_s=com_velocity_m_s(x, fps), com_acceleration_m_s2=com_acceleration_m_s2(x, fps),
        pelvis_tilt_at_peak_activation_deg=tilt, constraint=constraint)
