"""Muscle activations of a squat from kinematics: inverse dynamics, muscle geometry, static optimisation.

Purpose: label squat motions with the activations of the 80 lower-limb muscles (offline, e.g. to build
training data for an activation surrogate, or to score generated motions).
Inputs: kinematics as the 33 BIGE coordinates (T, 33), degrees / metres, or as the skeletal model's
coordinates (T, n) rad / m, at a known frame rate; both feet on the ground throughout.
Outputs: ``MuscleActivations``: activations (T, 80) in BIGE's muscle order (left 40 alphabetically, then
right 40), the joint moments, reserve moments and tendon forces.

Algorithm: (1) inverse dynamics on the product's skeletal model (models.biomech.muscles.inverse_dynamics)
gives the hip (3), knee, ankle and subtalar generalized forces per leg, the ground reaction shared between
the feet; (2) the polynomial muscle geometry gives lengths, moment arms and (from the coordinate
velocities) lengthening velocities; (3) static optimisation solves every frame of both legs in one
batched active-set solve. The mtp joints are left out of the moment balance (the toes carry the load
passively in a squat).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.skeleton.bige_map import from_bige
from edge.skeleton.model import SkeletonModel, load_default
from models.biomech.muscles.geometry import (
    BIGE_MUSCLE_ORDER, LEG_COORDINATES, MuscleGeometry, leg_coordinate_indices, load_default_geometry,
)
from models.biomech.muscles.inverse_dynamics import (
    BodyInertias, InverseDynamicsConfig, InverseDynamicsResult, inverse_dynamics,
)
from models.biomech.muscles.static_optimization import (
    MuscleForceModel, StaticOptimizationConfig, muscle_force_model, static_optimization,
)

BALANCED_DOFS: tuple[str, ...] = ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle",
                                  "subtalar_angle")
"""Leg coordinates whose moments the muscles must balance (per side)."""
SIDES = ("r", "l")


@dataclass(frozen=True)
class MuscleActivationConfig:
    """inverse_dynamics / static_optimization: the stages' settings. length_scale: subject size relative to
    the generic model for the muscle geometry (moment arms and muscle lengths scale with it)."""

    inverse_dynamics: InverseDynamicsConfig = field(default_factory=InverseDynamicsConfig)
    static_optimization: StaticOptimizationConfig = field(default_factory=StaticOptimizationConfig)
    length_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (self.length_scale > 0 and np.isfinite(self.length_scale)):
            raise ValueError(f"MuscleActivationConfig.length_scale must be positive, got {self.length_scale}")


@dataclass(frozen=True)
class MuscleActivations:
    """Per-frame results (T frames); muscles in ``names`` order (BIGE's), joints in ``joint_names`` order."""

    names: tuple[str, ...]
    activations: np.ndarray  # (T, 80) in [min_activation, 1]
    tendon_forces_n: np.ndarray  # (T, 80)
    joint_names: tuple[str, ...]  # the 12 balanced coordinates
    moments_n_m: np.ndarray  # (T, 12) generalized forces from inverse dynamics
    reserves_n_m: np.ndarray  # (T, 12) part of the moments the muscles could not supply
    inverse_dynamics: InverseDynamicsResult
    max_kkt_violation: float
    n_fallback_frames: int  # leg-frames the batched solver left to the per-frame fallback

    def muscle(self, name: str) -> np.ndarray:
        """Activation of one muscle over time, (T,). Raises KeyError naming the muscle."""
        if name not in self.names:
            raise KeyError(f"muscle {name!r} not among the estimated muscles")
        return self.activations[:, self.names.index(name)]


class MuscleActivationEstimator:
    """Holds the skeletal model, muscle geometry and inertias; estimates activations for motions."""

    def __init__(self, model: SkeletonModel | None = None, geometry: MuscleGeometry | None = None,
                 config: MuscleActivationConfig = MuscleActivationConfig()):
        """Args:
            model: the skeletal model (default: the product's pose2sim model, edge.skeleton.load_default).
            geometry: the muscle geometry (default: the shipped pose2sim fit); its coordinates must be
                LEG_COORDINATES.
            config: settings.

        Raises:
            KeyError: the model lacks a leg coordinate, foot body or body inertia.
            ValueError: the geometry is not over LEG_COORDINATES.
        """
        self.model = load_default() if model is None else model
        self.geometry = load_default_geometry() if geometry is None else geometry
        if self.geometry.coordinates != LEG_COORDINATES:
            raise ValueError(f"muscle geometry coordinates {self.geometry.coordinates} are not {LEG_COORDINATES}")
        self.config = config
        self.inertias = BodyInertias.for_model(self.model)
        self._leg_idx = leg_coordinate_indices(self.model.coordinate_names)
        self.joint_names = tuple(f"{d}_{s}" for s in SIDES for d in BALANCED_DOFS)
        # Per side: muscle indices (aligned by base name across the sides) and balanced-coordinate columns.
        by_side = [{n[:-2]: i for i, n in enumerate(self.geometry.names) if n.endswith(f"_{s}")} for s in SIDES]
        if not by_side[0] or set(by_side[0]) != set(by_side[1]):
            raise ValueError("muscle geometry must hold the same muscles on each side (names ending _r and _l)")
        bases = sorted(by_side[0])
        self._side_muscles = [np.array([side[b] for b in bases]) for side in by_side]
        self._side_cols = [np.array([LEG_COORDINATES.index(f"{d}_{s}") for d in BALANCED_DOFS]) for s in SIDES]
        min_act = self.geometry.parameter_array("min_activation")
        if not np.array_equal(min_act[self._side_muscles[0]], min_act[self._side_muscles[1]]):
            raise ValueError("muscle geometry: the two sides have different minimum activations")
        self._min_activation = min_act[self._side_muscles[0]]
        order = BIGE_MUSCLE_ORDER if set(BIGE_MUSCLE_ORDER) == set(self.geometry.names) else self.geometry.names
        self._output_order = np.array([self.geometry.muscle_index(n) for n in order])

    def from_bige(self, q_bige: np.ndarray, fps: float) -> MuscleActivations:
        """Activations from the 33 BIGE coordinates (T, 33), degrees / metres, at fps.

        Raises:
            ValueError: wrong shape, too few frames or non-finite values.
        """
        q_bige = np.asarray(q_bige, dtype=float)
        if q_bige.ndim != 2:
            raise ValueError(f"q_bige: expected (T, 33), got shape {q_bige.shape}")
        return self.from_model_coordinates(from_bige(self.model, q_bige), fps)

    def from_model_coordinates(self, q: np.ndarray, fps: float) -> MuscleActivations:
        """Activations from the model's coordinates (T, n_coordinates), rad / m, at fps.

        Raises:
            ValueError: wrong shape, too few frames or non-finite values.
        """
        idr = inverse_dynamics(self.model, q, fps, self.joint_names, self.inertias, self.config.inverse_dynamics)
        moments = idr.moments(self.joint_names)  # (T, 12)
        q_leg = idr.q[:, self._leg_idx]
        qd_leg = idr.qd[:, self._leg_idx]
        lengths, arms = self.geometry.evaluate(q_leg)
        s = self.config.length_scale
        lengths, arms = lengths * s, arms * s
        velocities = -np.einsum("tmc,tc->tm", arms, qd_leg)
        forces = muscle_force_model(self.geometry, lengths, velocities, s)
        t = q.shape[0]
        # Both legs are independent problems, stacked along the frame axis: (2T, ...).
        tau = np.concatenate([moments[:, :6], moments[:, 6:]])
        arm_stack = np.concatenate([arms[:, m][:, :, c] for m, c in zip(self._side_muscles, self._side_cols)])
        pick = lambda a: np.concatenate([a[:, m] for m in self._side_muscles])  # noqa: E731
        fm = MuscleForceModel(pick(forces.active_n), pick(forces.passive_n), pick(forces.norm_fibre_length),
                              pick(forces.norm_fibre_velocity), pick(forces.cos_pennation))
        so = static_optimization(tau, arm_stack, fm, self._min_activation, self.config.static_optimization)
        activations = np.empty((t, self.geometry.n_muscles))
        tendon = np.empty_like(activations)
        for k, m in enumerate(self._side_muscles):
            activations[:, m] = so.activations[k * t:(k + 1) * t]
            tendon[:, m] = so.tendon_forces_n[k * t:(k + 1) * t]
        reserves = np.concatenate([so.reserves_n_m[:t], so.reserves_n_m[t:]], axis=1)
        order = self._output_order
        return MuscleActivations(tuple(self.geometry.names[i] for i in order), activations[:, order],
                                 tendon[:, order], self.joint_names, moments, reserves, idr, so.max_kkt_violation,
                                 so.n_fallback_frames)
