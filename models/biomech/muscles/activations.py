"""Muscle activations of a squat from kinematics: inverse dynamics, muscle geometry, static optimisation.

Purpose: label squat motions with the activations of the 80 lower-limb muscles (offline, e.g. to build
training data for an activation surrogate, or to score generated motions).
Inputs: kinematics as the 33 BIGE coordinates (T, 33), degrees / metres, or as the skeletal model's
coordinates (T, n) rad / m, at a known frame rate; both feet on the ground throughout.
Outputs: ``MuscleActivations``: activations (T, 80) in BIGE's muscle order (left 40 alphabetically, then
right 40), the joint moments, reserve moments, tendon forces and the internal force between the feet.

Algorithm: (1) inverse dynamics on the product's skeletal model (models.biomech.muscles.inverse_dynamics)
gives the hip (3), knee, ankle and subtalar generalized forces per leg, the ground reaction shared between
the feet by the lever rule along the line joining them, each foot's force parallel to the total; (2) the
polynomial muscle geometry gives lengths, moment arms and (from the coordinate velocities) lengthening
velocities; (3) static optimisation solves every frame of both legs in one batched solve, together with
the horizontal internal force the feet exert on each other along the line joining their centres of
pressure (the floor's friction bounds it; it changes each leg's moments but not the body's balance, so
the muscles choose it, as in a muscle-driven simulation with foot contact); (4) compliant tendons: the
fibre-tendon equilibrium at those activations gives new fibre lengths (and, from the low-pass filtered
tendon length, fibre velocities), and static optimisation is repeated (``tendon_iterations`` times,
warm-started). The mtp joints are left out of the moment balance (the toes carry the load passively in
a squat).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edge.skeleton.bige_map import from_bige
from edge.skeleton.model import SkeletonModel, load_default
from models.biomech.muscles.geometry import (
    BIGE_MUSCLE_ORDER, LEG_COORDINATES, MuscleGeometry, leg_coordinate_indices, load_default_geometry,
)
from models.biomech.muscles.inverse_dynamics import (
    BodyInertias, InverseDynamicsConfig, InverseDynamicsResult, coordinate_derivatives, inverse_dynamics,
)
from models.biomech.muscles.static_optimization import (
    StaticOptimizationConfig, equilibrium_tendon_lengths, muscle_force_model, static_optimization,
)

BALANCED_DOFS: tuple[str, ...] = ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle",
                                  "subtalar_angle")
"""Leg coordinates whose moments the muscles must balance (per side)."""
SIDES = ("r", "l")


@dataclass(frozen=True)
class MuscleActivationConfig:
    """Settings of the activation pipeline.

    inverse_dynamics / static_optimization: the stages' settings (the feet's forces start parallel to the
        total ground reaction; the internal force below then redistributes them).
    length_scale: subject size relative to the generic model for the muscle geometry (moment arms and
        muscle lengths scale with it).
    tendon_iterations: compliant-tendon passes (tendons in equilibrium with the fibres at the previous
        pass's activations, then static optimisation again); 0 = rigid tendons.
    internal_force: solve for the horizontal force the feet exert against each other along the line
        joining their centres of pressure (it changes each leg's moments, not the whole body's balance).
    friction_coefficient: static friction of the soles on the floor, bounding that internal force.
    internal_force_unit_bw: the internal force (in body weights) whose squared cost equals one fully
        active muscle's; it only breaks ties where the muscles are indifferent.
    """

    inverse_dynamics: InverseDynamicsConfig = field(
        default_factory=lambda: InverseDynamicsConfig(forces_converge_at_com=False))
    static_optimization: StaticOptimizationConfig = field(default_factory=StaticOptimizationConfig)
    length_scale: float = 1.0
    tendon_iterations: int = 3
    internal_force: bool = True
    friction_coefficient: float = 0.8
    internal_force_unit_bw: float = 1.0

    def __post_init__(self) -> None:
        if not (self.length_scale > 0 and np.isfinite(self.length_scale)):
            raise ValueError(f"MuscleActivationConfig.length_scale must be positive, got {self.length_scale}")
        if not (isinstance(self.tendon_iterations, int) and 0 <= self.tendon_iterations <= 20):
            raise ValueError(f"MuscleActivationConfig.tendon_iterations must be an int in [0, 20], "
                             f"got {self.tendon_iterations}")
        if not (0 <= self.friction_coefficient <= 2):
            raise ValueError(f"MuscleActivationConfig.friction_coefficient must be in [0, 2], "
                             f"got {self.friction_coefficient}")
        if not (self.internal_force_unit_bw > 0 and np.isfinite(self.internal_force_unit_bw)):
            raise ValueError(f"MuscleActivationConfig.internal_force_unit_bw must be positive, "
                             f"got {self.internal_force_unit_bw}")


@dataclass(frozen=True)
class MuscleActivations:
    """Per-frame results (T frames); muscles in ``names`` order (BIGE's), joints in ``joint_names`` order."""

    names: tuple[str, ...]
    activations: np.ndarray  # (T, 80) in [min_activation, 1]
    tendon_forces_n: np.ndarray  # (T, 80)
    joint_names: tuple[str, ...]  # the 12 balanced coordinates
    moments_n_m: np.ndarray  # (T, 12) generalized forces the muscles balance (with the internal force)
    reserves_n_m: np.ndarray  # (T, 12) part of the moments the muscles could not supply
    internal_force_n: np.ndarray  # (T,) horizontal force of the ground pushing the feet towards each other
    inverse_dynamics: InverseDynamicsResult  # its ground reactions and generalized forces include that force
    max_kkt_violation: float
    n_fallback_frames: int  # frames the batched solver left to the per-frame fallback
    tendon_iteration_change: float  # largest activation change in the last compliant-tendon iteration

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
        self._cols = np.array([LEG_COORDINATES.index(j) for j in self.joint_names])
        self._min_activation = self.geometry.parameter_array("min_activation")
        self._f_max = self.geometry.parameter_array("max_isometric_force_n")
        self._weight_n = sum(b.mass_kg for b in self.model.bodies) * self.config.inverse_dynamics.gravity_m_s2
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
        arms = arms[:, :, self._cols]  # (T, 80, 12): each muscle acts on its own leg's columns only
        extra, bounds, per_extra = self._internal_force_problem(idr)
        forces = muscle_force_model(self.geometry, lengths, velocities, s)  # rigid tendons first
        so = static_optimization(moments, arms, forces, self._min_activation, self.config.static_optimization,
                                 extra, bounds)
        change = 0.0
        fibre_velocities = velocities
        for _ in range(self.config.tendon_iterations):  # compliant tendons in equilibrium at the last activations
            previous = so.activations
            l_tendon = equilibrium_tendon_lengths(self.geometry, lengths, fibre_velocities, previous, s)
            _, tendon_velocities, _ = coordinate_derivatives(l_tendon, fps, self.config.inverse_dynamics.lowpass_hz)
            fibre_velocities = velocities - tendon_velocities
            forces = muscle_force_model(self.geometry, lengths, velocities, s, l_tendon, tendon_velocities)
            so = static_optimization(moments, arms, forces, self._min_activation, self.config.static_optimization,
                                     extra, bounds, so.reserves_n_m)
            change = float(np.max(np.abs(so.activations - previous)))
        internal = np.zeros(q.shape[0])
        if extra is not None:
            internal = so.extra[:, 0] * per_extra
            idr = self._with_internal_force(idr, internal)
            moments = idr.moments(self.joint_names)
        order = self._output_order
        return MuscleActivations(tuple(self.geometry.names[i] for i in order), so.activations[:, order],
                                 so.tendon_forces_n[:, order], self.joint_names, moments, so.reserves_n_m, internal,
                                 idr, so.max_kkt_violation, so.n_fallback_frames, change)

    def _internal_direction(self, idr: InverseDynamicsResult) -> np.ndarray:
        """(T, 3) horizontal unit vector from the right foot's centre of pressure to the left's."""
        d = idr.cop_m[:, 1] - idr.cop_m[:, 0]
        d[:, 1] = 0.0
        return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)

    def _internal_force_problem(self, idr: InverseDynamicsResult):
        """The internal force as a further static-optimisation variable x = force / (unit_bw x weight).

        A force f pushes the right foot towards the left and the left towards the right, both along the
        line joining their centres of pressure: the pair has no net force or moment, so the whole body's
        balance (pelvis residuals) is unchanged, while each leg's joint moments change by -J' (+-f u).
        Friction bounds each foot's force along that line: |F_foot . u| <= mu F_foot,y.

        Returns:
            (extra moments (T, 12, 1), (lower, upper) each (T, 1), newtons per unit of the variable), or
            (None, None, 0.0) when the internal force is not solved for.
        """
        if not self.config.internal_force:
            return None, None, 0.0
        u = self._internal_direction(idr)
        cols = [idr.coordinate_names.index(j) for j in self.joint_names]
        jr, jl = idr.cop_jacobians[:, 0][:, cols], idr.cop_jacobians[:, 1][:, cols]  # (T, 12, 3)
        per_newton = -np.einsum("tjk,tk->tj", jr, u) + np.einsum("tjk,tk->tj", jl, u)  # (T, 12)
        unit = self.config.internal_force_unit_bw * self._weight_n
        mu = self.config.friction_coefficient
        along = np.einsum("tfk,tk->tf", idr.grf_n, u)  # (T, 2) each foot's force along u
        vertical = np.maximum(idr.grf_n[..., 1], 0.0)
        lo = np.maximum(-mu * vertical[:, 0] - along[:, 0], along[:, 1] - mu * vertical[:, 1])
        hi = np.minimum(mu * vertical[:, 0] - along[:, 0], along[:, 1] + mu * vertical[:, 1])
        mid = 0.5 * (lo + hi)  # the starting split already outside the friction cone: no internal force range
        lo, hi = np.minimum(lo, mid), np.maximum(hi, mid)
        return (per_newton * unit)[..., None], (lo[:, None] / unit, hi[:, None] / unit), unit

    def _with_internal_force(self, idr: InverseDynamicsResult, force_n: np.ndarray) -> InverseDynamicsResult:
        """The inverse-dynamics result with the internal force added to the feet's forces and generalized forces."""
        u = self._internal_direction(idr)
        pair = np.stack([u, -u], axis=1) * force_n[:, None, None]  # (T, 2, 3): on the right foot, the left
        tau = idr.generalized_forces - np.einsum("tfjk,tfk->tj", idr.cop_jacobians, pair)
        return replace(idr, generalized_forces=tau, pelvis_residuals=tau[:, :6].copy(), grf_n=idr.grf_n + pair)
