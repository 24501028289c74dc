"""Fit the polynomial muscle geometry to OpenSim (offline: imports opensim lazily).

Purpose: produce the ``MuscleGeometry`` asset (models/biomech/assets) from an OpenSim muscle model,
and the body inertias the inverse dynamics needs (the exported SkeletonModel has no inertias).
Inputs: an .osim file with the 80 Rajagopal lower-limb muscles (pose2sim's Model_Pose2Sim_muscles_flex).
Outputs: ``MuscleGeometry`` (polynomial paths + Hill parameters), body inertia tables.

Algorithm (after OpenCap): per leg, random poses uniform over squat ranges of the 7 leg coordinates
(``SQUAT_RANGES_DEG``); OpenSim gives each muscle's path length, and its moment arms -dL/dq by central
differences of the length (the knee's coupled patella coordinate follows its CoordinateCouplerConstraint
function). For each muscle, polynomials of increasing total degree in the coordinates it spans are fitted
by linear least squares to lengths and moment arms together, trimming poses off the main branch where an
OpenSim path slips off a wrapping surface (``fit_trimmed``); the lowest degree whose held-out errors meet
``LENGTH_RMS_TARGET_M`` and ``MOMENT_ARM_RMS_TARGET_M`` is kept (else the best held-out degree). The
fibre and tendon lengths of the muscles crossing the ankle are then rescaled to pose2sim's longer shank
(``calibrate_ankle_muscles``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from models.biomech.muscles.geometry import (
    LEG_DOFS, MUSCLE_BASE_NAMES, Muscle, MuscleGeometry, MuscleParameters, MusclePath, design_matrices,
    monomial_exponents,
)

SQUAT_RANGES_DEG: dict[str, tuple[float, float]] = {
    "hip_flexion": (-30.0, 130.0), "hip_adduction": (-30.0, 20.0), "hip_rotation": (-40.0, 35.0),
    "knee_angle": (0.0, 140.0), "ankle_angle": (-40.0, 45.0), "subtalar_angle": (-20.0, 20.0),
    "mtp_angle": (-30.0, 30.0),
}
"""Sampling ranges of the leg coordinates (deg): squats with margins, inside the model's ranges."""

MAX_DEGREE_BY_N_COORDINATES = {1: 9, 2: 8, 3: 7, 4: 6}
LENGTH_RMS_TARGET_M = 0.3e-3
MOMENT_ARM_RMS_TARGET_M = 1.0e-3
FD_STEP_RAD = 1e-4
MAX_PLAUSIBLE_MOMENT_ARM_M = 0.2
"""Larger finite-difference moment arms come from a jump of the OpenSim path within the step: dropped."""
OUTLIER_LENGTH_M = 1.5e-3
OUTLIER_MOMENT_ARM_M = 8.0e-3
"""Poses whose fit residuals exceed these lie on another branch of a discontinuous OpenSim path."""
OUTLIER_FRACTION_SLACK = 0.02
TRIM_ITERATIONS = 5


def import_opensim() -> Any:
    """opensim with console logging reduced (edge.skeleton.export's helper).

    Raises:
        ImportError: opensim is not installed.
    """
    from edge.skeleton.export import import_opensim as _imp
    return _imp()


class OpenSimMuscleSampler:
    """An OpenSim muscle model with a state: path lengths and moment arms of one leg's 40 muscles at poses."""

    def __init__(self, osim_path: str | Path):
        """Load the model.

        Raises:
            FileNotFoundError: the file does not exist.
            ImportError: opensim is not installed.
            KeyError: the model lacks one of the 80 muscles or a leg coordinate (named).
        """
        osim_path = Path(osim_path)
        if not osim_path.is_file():
            raise FileNotFoundError(f"OpenSim model not found: {osim_path}")
        self.osim = import_opensim()
        self.path = osim_path
        self.model = self.osim.Model(str(osim_path))
        self.state = self.model.initSystem()
        muscles, coords = self.model.getMuscles(), self.model.getCoordinateSet()
        self.muscles: dict[str, list[Any]] = {}
        self.coordinates: dict[str, list[Any]] = {}
        self.couplers: dict[str, tuple[Any, Any]] = {}  # side -> (dependent coordinate, function of knee angle)
        for side in ("r", "l"):
            for m in MUSCLE_BASE_NAMES:
                if not muscles.contains(f"{m}_{side}"):
                    raise KeyError(f"{osim_path.name} has no muscle {m}_{side}")
            for d in LEG_DOFS:
                if not coords.contains(f"{d}_{side}"):
                    raise KeyError(f"{osim_path.name} has no coordinate {d}_{side}")
            self.muscles[side] = [muscles.get(f"{m}_{side}") for m in MUSCLE_BASE_NAMES]
            self.coordinates[side] = [coords.get(f"{d}_{side}") for d in LEG_DOFS]
            for c in self.model.getConstraintSet():
                cc = self.osim.CoordinateCouplerConstraint.safeDownCast(c)
                if cc is None:
                    continue
                independent = cc.getIndependentCoordinateNames()
                if independent.getSize() == 1 and independent.get(0) == f"knee_angle_{side}":
                    self.couplers[side] = (coords.get(cc.getDependentCoordinateName()), cc.getFunction())

    def set_leg(self, side: str, q_rad: np.ndarray) -> None:
        """Set the 7 leg coordinates (LEG_DOFS order) and the coupled knee coordinate; realize positions."""
        for c, v in zip(self.coordinates[side], q_rad):
            c.setValue(self.state, float(v), False)
        if side in self.couplers:
            dep, f = self.couplers[side]
            dep.setValue(self.state, f.calcValue(self.osim.Vector(1, float(q_rad[3]))), False)
        self.model.realizePosition(self.state)

    def _lengths(self, side: str) -> np.ndarray:
        return np.array([m.getLength(self.state) for m in self.muscles[side]])

    def lengths_and_moment_arms(self, side: str, q_rad: np.ndarray,
                                fd_step_rad: float = FD_STEP_RAD) -> tuple[np.ndarray, np.ndarray]:
        """Lengths (N, 40) m and moment arms -dL/dq (N, 40, 7) m by central differences at poses q (N, 7) rad."""
        q_rad = np.atleast_2d(q_rad)
        lengths = np.empty((q_rad.shape[0], 40))
        arms = np.empty((q_rad.shape[0], 40, 7))
        for n, q in enumerate(q_rad):
            self.set_leg(side, q)
            lengths[n] = self._lengths(side)
            for j in range(7):
                dq = np.zeros(7)
                dq[j] = fd_step_rad
                self.set_leg(side, q + dq)
                plus = self._lengths(side)
                self.set_leg(side, q - dq)
                arms[n, :, j] = -(plus - self._lengths(side)) / (2 * fd_step_rad)
        return lengths, arms

    def opensim_moment_arms(self, side: str, q_rad: np.ndarray, muscle_idx: list[int],
                            dof_idx: list[int]) -> np.ndarray:
        """OpenSim's computeMomentArm at poses q (N, 7): (N, len(muscle_idx), len(dof_idx)) m."""
        q_rad = np.atleast_2d(q_rad)
        out = np.empty((q_rad.shape[0], len(muscle_idx), len(dof_idx)))
        for n, q in enumerate(q_rad):
            self.set_leg(side, q)
            for a, i in enumerate(muscle_idx):
                for b, j in enumerate(dof_idx):
                    out[n, a, b] = self.muscles[side][i].computeMomentArm(self.state, self.coordinates[side][j])
        return out

    def parameters(self, side: str, index: int) -> MuscleParameters:
        """Hill parameters of muscle MUSCLE_BASE_NAMES[index] on one side."""
        m = self.muscles[side][index]
        dg = self.osim.DeGrooteFregly2016Muscle.safeDownCast(m)
        extra: dict[str, Any] = {}
        if dg is not None:
            extra = dict(active_force_width_scale=dg.get_active_force_width_scale(),
                         passive_fibre_strain=dg.get_passive_fiber_strain_at_one_norm_force(),
                         fibre_damping=dg.get_fiber_damping(),
                         ignore_passive_fibre_force=bool(dg.get_ignore_passive_fiber_force()),
                         tendon_strain_at_one_norm_force=dg.get_tendon_strain_at_one_norm_force())
        return MuscleParameters(
            max_isometric_force_n=m.getMaxIsometricForce(), optimal_fibre_length_m=m.getOptimalFiberLength(),
            tendon_slack_length_m=m.getTendonSlackLength(),
            pennation_at_optimal_rad=m.getPennationAngleAtOptimalFiberLength(),
            max_contraction_velocity=m.getMaxContractionVelocity(), min_activation=m.getMinControl(), **extra)


def sample_poses(n: int, seed: int) -> np.ndarray:
    """(n, 7) leg poses uniform over SQUAT_RANGES_DEG, radians (LEG_DOFS order)."""
    rng = np.random.default_rng(seed)
    lo = np.radians([SQUAT_RANGES_DEG[d][0] for d in LEG_DOFS])
    hi = np.radians([SQUAT_RANGES_DEG[d][1] for d in LEG_DOFS])
    return lo + (hi - lo) * rng.random((n, 7))


def spanned_dofs(arms: np.ndarray, tol_m: float = 1e-6) -> list[int]:
    """Leg DoFs (indices into LEG_DOFS) with a moment arm above tol at some sample; arms (N, 7)."""
    return [j for j in range(arms.shape[1]) if np.max(np.abs(arms[:, j])) > tol_m]


@dataclass(frozen=True)
class PathFit:
    """A fitted path and its held-out errors (on inlier poses) and the held-out outlier fraction."""

    path: MusclePath
    rms_length_m: float
    rms_moment_arm_m: float
    max_moment_arm_error_m: float
    outlier_fraction: float


def fit_polynomial(q: np.ndarray, lengths: np.ndarray, arms: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients of all monomials of total degree <= degree, to lengths and moment arms.

    Args:
        q: (N, c) coordinates, rad. lengths: (N,) m. arms: (N, c) moment arms -dL/dq, m.
        degree: total polynomial degree.

    Returns:
        (exponents (n_terms, c), coefficients (n_terms,)).
    """
    exponents = monomial_exponents(q.shape[1], degree)
    phi, dphi = design_matrices(q, exponents)
    a = np.concatenate([phi, -dphi.transpose(1, 0, 2).reshape(-1, exponents.shape[0])])
    b = np.concatenate([lengths, arms.T.reshape(-1)])
    scale = np.abs(a).max(axis=0)  # column scaling for conditioning
    coef, *_ = np.linalg.lstsq(a / scale, b, rcond=None)
    return exponents, coef / scale


def _residuals(exponents, coef, q, lengths, arms) -> tuple[np.ndarray, np.ndarray]:
    phi, dphi = design_matrices(q, exponents)
    return phi @ coef - lengths, -(dphi @ coef) - arms


def _inlier_mask(res_len: np.ndarray, res_arm: np.ndarray) -> np.ndarray:
    return (np.abs(res_len) <= OUTLIER_LENGTH_M) & np.all(np.abs(res_arm) <= OUTLIER_MOMENT_ARM_M, axis=1)


def fit_trimmed(q: np.ndarray, lengths: np.ndarray, arms: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Least squares with poses off the main branch trimmed (OpenSim's wrapping is discontinuous).

    OpenSim paths jump where a path slips off a wrapping surface (e.g. gluteus maximus 1 from ~55-105 deg
    of hip flexion depending on adduction and rotation, the gastrocnemii and vastus lateralis past
    ~130 deg of knee flexion), and central differences across a jump give absurd moment arms. Poses with
    a moment arm above MAX_PLAUSIBLE_MOMENT_ARM_M are dropped, then the fit is repeated without poses
    whose residuals exceed OUTLIER_LENGTH_M or OUTLIER_MOMENT_ARM_M, so the polynomial follows the
    majority (wrapped) branch and continues it smoothly.

    Returns:
        (exponents, coefficients).

    Raises:
        ValueError: too few poses remain for the number of terms.
    """
    base = (np.all(np.isfinite(arms), axis=1) & np.isfinite(lengths)
            & np.all(np.abs(arms) < MAX_PLAUSIBLE_MOMENT_ARM_M, axis=1))
    keep = base
    n_terms = monomial_exponents(q.shape[1], degree).shape[0]
    for _ in range(TRIM_ITERATIONS):
        if keep.sum() < 2 * n_terms:
            raise ValueError(f"only {int(keep.sum())} usable poses for {n_terms} polynomial terms")
        exponents, coef = fit_polynomial(q[keep], lengths[keep], arms[keep], degree)
        new_keep = base & _inlier_mask(*_residuals(exponents, coef, q, lengths, arms))
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return exponents, coef


def fit_muscle_path(coordinate_names: tuple[str, ...], q_fit: np.ndarray, l_fit: np.ndarray, r_fit: np.ndarray,
                    q_val: np.ndarray, l_val: np.ndarray, r_val: np.ndarray) -> PathFit:
    """Fit one muscle's path (trimmed least squares), choosing the degree on held-out poses.

    Args:
        coordinate_names: the spanned coordinates (full names), c of them.
        q_fit, l_fit, r_fit: fitting poses, (N, c), (N,), (N, c).
        q_val, l_val, r_val: held-out poses, same layout.

    Returns:
        The chosen PathFit: held-out errors on inlier poses (same thresholds as the fit) and the
        held-out outlier fraction; the path's ``fit`` mapping records them.

    Raises:
        ValueError: no degree could be fitted.
    """
    fits: list[PathFit] = []
    for degree in range(1, MAX_DEGREE_BY_N_COORDINATES[q_fit.shape[1]] + 1):
        try:
            exponents, coef = fit_trimmed(q_fit, l_fit, r_fit, degree)
        except ValueError:
            continue
        e_len, e_arm = _residuals(exponents, coef, q_val, l_val, r_val)
        inl = _inlier_mask(e_len, e_arm)
        if inl.any():
            fits.append(PathFit(MusclePath(coordinate_names, exponents, coef), float(np.sqrt(np.mean(e_len[inl] ** 2))),
                                float(np.sqrt(np.mean(e_arm[inl] ** 2))), float(np.max(np.abs(e_arm[inl]))),
                                float(1.0 - inl.mean())))
    # Least trimming first (within OUTLIER_FRACTION_SLACK of the least), then the lowest degree meeting the
    # targets, else the smallest moment-arm error.
    eligible = [f for f in fits if f.outlier_fraction <= min(g.outlier_fraction for g in fits) + OUTLIER_FRACTION_SLACK]
    meeting = [f for f in eligible
               if f.rms_length_m <= LENGTH_RMS_TARGET_M and f.rms_moment_arm_m <= MOMENT_ARM_RMS_TARGET_M]
    best = meeting[0] if meeting else min(eligible, key=lambda f: f.rms_moment_arm_m, default=None)
    if best is None:
        raise ValueError(f"no usable poses to fit the path over {coordinate_names}")
    info = {"degree": int(best.path.exponents.sum(axis=1).max()), "rms_length_mm": 1e3 * best.rms_length_m,
            "rms_moment_arm_mm": 1e3 * best.rms_moment_arm_m,
            "max_moment_arm_error_mm": 1e3 * best.max_moment_arm_error_m,
            "outlier_fraction": best.outlier_fraction}
    return PathFit(MusclePath(best.path.coordinates, best.path.exponents, best.path.coefficients, info),
                   best.rms_length_m, best.rms_moment_arm_m, best.max_moment_arm_error_m, best.outlier_fraction)


def fit_leg(sampler: OpenSimMuscleSampler, side: str, n_fit: int, n_val: int, seed: int,
            progress=None) -> list[tuple[Muscle, PathFit]]:
    """Sample one leg in OpenSim and fit its 40 muscles.

    Args:
        sampler: the OpenSim model.
        side: "r" or "l".
        n_fit, n_val: numbers of fitting and held-out poses.
        seed: random seed of the poses.
        progress: optional callable(done, total) for a progress display.

    Returns:
        (Muscle, PathFit) for each of MUSCLE_BASE_NAMES.
    """
    q = sample_poses(n_fit + n_val, seed)
    lengths = np.empty((q.shape[0], 40))
    arms = np.empty((q.shape[0], 40, 7))
    chunk = 50
    for start in range(0, q.shape[0], chunk):
        stop = min(start + chunk, q.shape[0])
        lengths[start:stop], arms[start:stop] = sampler.lengths_and_moment_arms(side, q[start:stop])
        if progress is not None:
            progress(stop, q.shape[0])
    out = []
    for i, base in enumerate(MUSCLE_BASE_NAMES):
        dofs = spanned_dofs(arms[:, i])
        names = tuple(f"{LEG_DOFS[j]}_{side}" for j in dofs)
        fit = fit_muscle_path(names, q[:n_fit][:, dofs], lengths[:n_fit, i], arms[:n_fit, i][:, dofs],
                              q[n_fit:][:, dofs], lengths[n_fit:, i], arms[n_fit:, i][:, dofs])
        out.append((Muscle(f"{base}_{side}", sampler.parameters(side, i), fit.path), fit))
    return out


def calibrate_ankle_muscles(geometry: MuscleGeometry) -> tuple[MuscleGeometry, dict[str, float]]:
    """Rescale the fibre and tendon lengths of the muscles crossing the ankle to the model's shank.

    The Rajagopal family sets these muscles so that in the neutral pose (all leg coordinates zero) the
    fibres are at optimal length with the tendon at slack length: path length = tendon slack length +
    optimal fibre length x cos(pennation) (within 2 % for every ankle muscle of LaiUhlrich2022). pose2sim's
    skeleton has a 3 cm longer shank but kept Rajagopal's parameters, so its neutral paths are 6-17 %
    longer and rigid-tendon fibres sit at 1.4-1.8 optimal lengths (the soleus is over-stretched at rest).
    As OpenSim's ScaleTool does when a segment is scaled, both lengths are multiplied by the same factor,
    here the one that restores the neutral-pose condition; their ratio (the muscle's tendon-to-fibre
    architecture) is kept. Muscles not crossing the ankle are unchanged. Idempotent.

    Args:
        geometry: the fitted geometry with the source model's parameters.

    Returns:
        (the calibrated geometry, {muscle name: factor} for the rescaled muscles).
    """
    lengths, _ = geometry.evaluate(np.zeros(len(geometry.coordinates)))
    muscles, factors = [], {}
    for m, length in zip(geometry.muscles, lengths):
        p = m.parameters
        if not any(c.startswith("ankle_angle") for c in m.path.coordinates):
            muscles.append(m)
            continue
        nominal = p.tendon_slack_length_m + p.optimal_fibre_length_m * np.cos(p.pennation_at_optimal_rad)
        k = float(length / nominal)
        factors[m.name] = k
        muscles.append(Muscle(m.name, replace(p, optimal_fibre_length_m=p.optimal_fibre_length_m * k,
                                              tendon_slack_length_m=p.tendon_slack_length_m * k), m.path))
    return MuscleGeometry(tuple(muscles), geometry.coordinates, geometry.metadata), factors


def body_inertias(osim_path: str | Path) -> dict[str, dict[str, list[float] | float]]:
    """Mass, mass centre and inertia about the mass centre (body frame) of every body of an .osim model.

    Returns:
        body name -> {"mass_kg", "mass_centre_m" (3,), "inertia_kg_m2" (6,: Ixx Iyy Izz Ixy Ixz Iyz)}.

    Raises:
        FileNotFoundError: the file does not exist.
        ImportError: opensim is not installed.
    """
    osim_path = Path(osim_path)
    if not osim_path.is_file():
        raise FileNotFoundError(f"OpenSim model not found: {osim_path}")
    osim = import_opensim()
    model = osim.Model(str(osim_path))
    model.initSystem()
    out = {}
    for b in model.getBodySet():
        inertia = b.getInertia()
        moments, products = inertia.getMoments(), inertia.getProducts()
        com = b.getMassCenter()
        out[b.getName()] = {"mass_kg": b.getMass(), "mass_centre_m": [com.get(i) for i in range(3)],
                            "inertia_kg_m2": [moments.get(i) for i in range(3)] + [products.get(i) for i in range(3)]}
    return out
