"""Static optimisation: muscle activations that produce the joint moments, batched over frames.

Purpose: the activations of the 80 lower-limb muscles, frame by frame, from joint moments and muscle
geometry, fast enough to label thousands of squat reps.
Inputs: musculotendon lengths (T, M) m and velocities (T, M) m/s, moment arms (T, M, J) m, the joint
moments the muscles must produce (T, J) N m, each muscle's ``MuscleParameters``.
Outputs: ``StaticOptimizationResult``: activations (T, M) in [min_activation, 1], tendon forces (T, M)
N, reserve moments (T, J) N m, and the largest optimality (KKT) violation.

Algorithm: a rigid-tendon Hill model with OpenSim's DeGrooteFregly2016 curves (active force-length
widened by ``active_force_width_scale``, force-velocity, passive force-length, fibre damping) and
constant-thickness pennation makes each muscle's tendon force affine in its activation,
F = F_max cos(alpha) (a f_L f_V + f_P + d v). The moment balance is enforced with one reserve actuator
per joint whose use costs like activations scaled by ``reserve_n_m``; eliminating the reserves leaves a
box-constrained quadratic programme per frame, min_a |a|^2 + |(tau - b - A a) / reserve_n_m|^2 with
a in [min_activation, 1]. Its dual has only one variable per joint (the reserve moments): all frames
are solved at once by semismooth Newton on the dual (a batched 6 x 6 solve per iteration, a few
iterations); any frame that has not converged is finished by scipy's bounded least squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import lsq_linear

from models.biomech.muscles.geometry import MuscleGeometry

# DeGroote, Kinney, Rao and Fregly 2016, "Evaluation of direct collocation optimal control problem
# formulations for solving the muscle redundancy problem", Ann. Biomed. Eng. (as in OpenSim 4).
# Constants to the digits OpenSim's DeGrooteFregly2016Muscle uses.
_FL_B = np.array([[0.8150671134243542, 1.055033428970575, 0.162384573599574, 0.063303448465465],
                  [0.433004984392647, 0.716775413397760, -0.029947116970696, 0.200356847296188],
                  [0.1, 1.0, 0.353553390593274, 0.0]])
_FV_D = (-0.3211346127989808, -8.149, -0.374, 0.8825327733249912)
_KPE = 4.0
_ARMIJO_STEPS = 30
_ARMIJO_SIGMA = 1e-4
_MIN_NORM_FIBRE_LENGTH = 0.2


def active_force_length(norm_fibre_length: np.ndarray, width_scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Active force-length multiplier (sum of three Gaussian-like curves), widened about l = 1 by width_scale."""
    x = (np.asarray(norm_fibre_length, dtype=float) - 1.0) / width_scale + 1.0
    out = np.zeros_like(x)
    for b1, b2, b3, b4 in _FL_B:
        out += b1 * np.exp(-0.5 * (x - b2) ** 2 / (b3 + b4 * x) ** 2)
    return out


def force_velocity(norm_fibre_velocity: np.ndarray) -> np.ndarray:
    """Force-velocity multiplier; velocity normalised by max contraction velocity (shortening < 0)."""
    d1, d2, d3, d4 = _FV_D
    z = d2 * np.asarray(norm_fibre_velocity, dtype=float) + d3
    return d1 * np.log(z + np.sqrt(z * z + 1.0)) + d4


def passive_force_length(norm_fibre_length: np.ndarray, strain_at_one: np.ndarray | float = 0.6) -> np.ndarray:
    """Passive force-length multiplier (exponential, zero at the minimum fibre length 0.2)."""
    offset = np.exp(_KPE * (_MIN_NORM_FIBRE_LENGTH - 1.0) / strain_at_one)
    return (np.exp(_KPE * (np.asarray(norm_fibre_length, dtype=float) - 1.0) / strain_at_one) - offset) / (
        np.exp(_KPE) - offset)


@dataclass(frozen=True)
class MuscleForceModel:
    """Per-frame rigid-tendon force coefficients: tendon force F = active_n * a + passive_n, (T, M) each."""

    active_n: np.ndarray
    passive_n: np.ndarray
    norm_fibre_length: np.ndarray
    norm_fibre_velocity: np.ndarray
    cos_pennation: np.ndarray


def muscle_force_model(geometry: MuscleGeometry, lengths_m: np.ndarray, velocities_m_s: np.ndarray,
                       length_scale: float = 1.0) -> MuscleForceModel:
    """Rigid-tendon force coefficients of each muscle at each frame.

    Args:
        geometry: muscle parameters (in the same muscle order as the arrays).
        lengths_m: (T, M) musculotendon lengths.
        velocities_m_s: (T, M) musculotendon lengthening velocities.
        length_scale: subject / generic size: optimal fibre and tendon slack lengths are multiplied by
            it, as OpenSim's scaling keeps their ratio to the path length.

    Returns:
        MuscleForceModel.
    """
    l_opt = geometry.parameter_array("optimal_fibre_length_m") * length_scale
    l_ts = geometry.parameter_array("tendon_slack_length_m") * length_scale
    alpha0 = geometry.parameter_array("pennation_at_optimal_rad")
    f_max = geometry.parameter_array("max_isometric_force_n")
    v_max = geometry.parameter_array("max_contraction_velocity") * l_opt
    width = geometry.parameter_array("active_force_width_scale")
    strain = geometry.parameter_array("passive_fibre_strain")
    damping = geometry.parameter_array("fibre_damping")
    use_passive = ~np.array([m.parameters.ignore_passive_fibre_force for m in geometry.muscles])
    height = l_opt * np.sin(alpha0)  # constant-thickness pennation
    along = np.maximum(lengths_m - l_ts, 0.05 * l_opt)  # fibre projection on the tendon line
    fibre = np.sqrt(height ** 2 + along ** 2)
    cos_a = along / fibre
    l_norm = fibre / l_opt
    v_norm = velocities_m_s * cos_a / v_max
    active = f_max * cos_a * active_force_length(l_norm, width) * force_velocity(v_norm)
    passive = f_max * cos_a * (use_passive * passive_force_length(l_norm, strain) + damping * v_norm)
    return MuscleForceModel(active, passive, l_norm, v_norm, cos_a)


@dataclass(frozen=True)
class StaticOptimizationConfig:
    """reserve_n_m: moment of a reserve actuator at unit control (its control costs like an activation).
    max_iterations: Newton iterations before the per-frame fallback solver takes over."""

    reserve_n_m: float = 1.0
    max_iterations: int = 40

    def __post_init__(self) -> None:
        if not (self.reserve_n_m > 0 and np.isfinite(self.reserve_n_m)):
            raise ValueError(f"StaticOptimizationConfig.reserve_n_m must be positive, got {self.reserve_n_m}")
        if not (isinstance(self.max_iterations, int) and self.max_iterations >= 1):
            raise ValueError(f"StaticOptimizationConfig.max_iterations must be an int >= 1, got {self.max_iterations}")


@dataclass(frozen=True)
class StaticOptimizationResult:
    activations: np.ndarray  # (T, M)
    tendon_forces_n: np.ndarray  # (T, M)
    reserves_n_m: np.ndarray  # (T, J) reserve moments (what the muscles could not supply)
    max_kkt_violation: float  # largest optimality violation over frames (0 at an exact optimum)
    n_fallback_frames: int  # frames finished by the per-frame solver


def solve_reserve_qp(a_mat: np.ndarray, target: np.ndarray, lower: np.ndarray, upper: np.ndarray, weight: float,
                     max_iterations: int = 50, tolerance: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Batched min 0.5 |x|^2 + 0.5 weight |target - A x|^2 subject to lower <= x <= upper, via its dual.

    With y = weight (target - A x) the optimum is x = clip(A'y, lower, upper), so only the J-dimensional
    equation G(y) = y / weight + A clip(A'y) - target = 0 remains: the gradient of a convex, piecewise
    quadratic dual function phi. Semismooth Newton on it (Jacobian I / weight + A_free A_free', J x J)
    with Armijo backtracking on phi converges in a few
    iterations and is exact once the set of free variables settles.

    Args:
        a_mat: (B, J, n) constraint matrix A (here: moment per unit activation).
        target: (B, J) right-hand side (here: moments left to the activations).
        lower, upper: (B, n) or (n,) bounds, lower <= upper.
        weight: penalty weight (> 0) on the target mismatch (1 / reserve_n_m^2).
        max_iterations: Newton iterations before giving up on a frame.
        tolerance: on |G| relative to 1 + max |target|.

    Returns:
        (x (B, n), converged (B,) bool); x is within the bounds.
    """
    b, j, n = a_mat.shape
    lower = np.broadcast_to(lower, (b, n))
    upper = np.broadcast_to(upper, (b, n))
    a_t = np.swapaxes(a_mat, 1, 2)  # (B, n, J)
    limit = tolerance * (1.0 + np.abs(target).max(axis=1))
    steps = 0.5 ** np.arange(_ARMIJO_STEPS)
    eye = np.eye(j) / weight

    def phi(y: np.ndarray) -> np.ndarray:  # the dual function (to minimise), (B, J) -> (B,)
        z = np.einsum("bnj,bj->bn", a_t, y)
        x = np.clip(z, lower, upper)
        return (y * y).sum(-1) / (2 * weight) - (y * target).sum(-1) + (z * x - 0.5 * x * x).sum(-1)

    y = np.zeros((b, j))
    converged = np.zeros(b, dtype=bool)
    for _ in range(max_iterations):
        z = np.einsum("bnj,bj->bn", a_t, y)
        x = np.clip(z, lower, upper)
        g = y / weight + np.einsum("bjn,bn->bj", a_mat, x) - target
        converged = np.abs(g).max(axis=1) <= limit
        if converged.all():
            break
        free = (z > lower) & (z < upper)
        jac = eye + (a_mat * free[:, None, :]) @ a_t  # (B, J, J)
        dy = -np.linalg.solve(jac, g[..., None])[..., 0]
        # Backtracking: the full step first; shorter ones only for the frames still waiting.
        f0, slope = phi(y), (g * dy).sum(-1)
        pending = np.flatnonzero(~converged)
        for step in steps:
            if pending.size == 0:
                break
            trial = y[pending] + step * dy[pending]
            z_t = np.einsum("bnj,bj->bn", a_t[pending], trial)
            x_t = np.clip(z_t, lower[pending], upper[pending])
            f_t = ((trial * trial).sum(-1) / (2 * weight) - (trial * target[pending]).sum(-1)
                   + (z_t * x_t - 0.5 * x_t * x_t).sum(-1))
            accept = f_t <= f0[pending] + _ARMIJO_SIGMA * step * slope[pending]
            y[pending[accept]] = trial[accept]
            pending = pending[~accept]
    x = np.clip(np.einsum("bnj,bj->bn", a_t, y), lower, upper)
    return x, converged


def kkt_violation(x: np.ndarray, gradient: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Per-frame optimality violation of a box-constrained problem: (B,), 0 at the optimum.

    The cost gradient must be >= 0 where x is at its lower bound, <= 0 at its upper bound, 0 elsewhere;
    x must lie within the bounds.
    """
    free = (x > lower + 1e-12) & (x < upper - 1e-12)
    viol = np.where(free, np.abs(gradient), 0.0)
    viol = np.maximum(viol, np.where(x <= lower + 1e-12, np.maximum(-gradient, 0.0), 0.0))
    viol = np.maximum(viol, np.where(x >= upper - 1e-12, np.maximum(gradient, 0.0), 0.0))
    bounds = np.maximum(lower - x, 0.0) + np.maximum(x - upper, 0.0)
    return np.max(viol + bounds * (1.0 + np.abs(gradient)), axis=1)


def static_optimization(moments_n_m: np.ndarray, moment_arms_m: np.ndarray, forces: MuscleForceModel,
                        min_activation: np.ndarray, config: StaticOptimizationConfig = StaticOptimizationConfig()
                        ) -> StaticOptimizationResult:
    """Activations minimising the sum of squares while the muscles (plus costly reserves) give the moments.

    Args:
        moments_n_m: (T, J) joint moments the muscles must produce (the generalized forces from inverse
            dynamics).
        moment_arms_m: (T, M, J) moment arms of the muscles about those joints.
        forces: rigid-tendon force coefficients (T, M), see ``muscle_force_model``.
        min_activation: (M,) lower activation bounds.
        config: reserve strength and iteration limit.

    Returns:
        StaticOptimizationResult.

    Raises:
        ValueError: the shapes disagree or an input is not finite.
    """
    tau = np.asarray(moments_n_m, dtype=float)
    arms = np.asarray(moment_arms_m, dtype=float)
    t, m, j = arms.shape
    if tau.shape != (t, j) or forces.active_n.shape != (t, m) or np.shape(min_activation) != (m,):
        raise ValueError(f"static_optimization: moments {tau.shape}, moment arms {arms.shape}, forces "
                         f"{forces.active_n.shape}, min_activation {np.shape(min_activation)} disagree")
    for name, a in (("moments", tau), ("moment arms", arms), ("active forces", forces.active_n),
                    ("passive forces", forces.passive_n)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"static_optimization: {name} contain non-finite values")
    a_mat = np.swapaxes(arms * forces.active_n[..., None], 1, 2)  # (T, J, M) moment per unit activation
    residual0 = tau - np.einsum("tmj,tm->tj", arms, forces.passive_n)  # (T, J) moment left for activations
    w = 1.0 / config.reserve_n_m ** 2
    lower = np.broadcast_to(np.asarray(min_activation, dtype=float), (t, m))
    upper = np.ones((t, m))
    act, ok = solve_reserve_qp(a_mat, residual0, lower, upper, w, config.max_iterations)
    fallback = np.flatnonzero(~ok)
    for k in fallback:  # rare: bounded least squares on [I; A / reserve] a ~ [0; residual / reserve]
        c = np.concatenate([np.eye(m), a_mat[k] / config.reserve_n_m])
        d = np.concatenate([np.zeros(m), residual0[k] / config.reserve_n_m])
        act[k] = lsq_linear(c, d, bounds=(lower[k], upper[k]), method="bvls").x
    gradient = act - w * np.einsum("tjm,tj->tm", a_mat, residual0 - np.einsum("tjm,tm->tj", a_mat, act))
    violation = float(kkt_violation(act, gradient, lower, upper).max()) if t else 0.0
    reserves = residual0 - np.einsum("tjm,tm->tj", a_mat, act)
    tendon = forces.active_n * act + forces.passive_n
    return StaticOptimizationResult(act, tendon, reserves, violation, int(fallback.size))
