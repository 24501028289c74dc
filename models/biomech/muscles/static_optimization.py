"""Static optimisation: muscle activations that produce the joint moments, batched over frames.

Purpose: the activations of the 80 lower-limb muscles, frame by frame, from joint moments and muscle
geometry, fast enough to label thousands of squat reps.
Inputs: musculotendon lengths (T, M) m and velocities (T, M) m/s, moment arms (T, M, J) m, the joint
moments the muscles must produce (T, J) N m, each muscle's ``MuscleParameters``.
Outputs: ``StaticOptimizationResult``: activations (T, M) in [min_activation, 1], tendon forces (T, M)
N, reserve moments (T, J) N m, optional further variables, and the largest optimality (KKT) violation.

Algorithm: a Hill model with OpenSim's DeGrooteFregly2016 curves (active force-length widened by
``active_force_width_scale``, force-velocity, passive force-length, fibre damping, tendon force-length)
and constant-thickness pennation. At given fibre lengths (rigid tendon at slack length, or a compliant
tendon whose length is known, see ``equilibrium_tendon_lengths``) each muscle's tendon force is affine in
its activation, F = F_max cos(alpha) (a f_L f_V + f_P + d v). The moment balance is enforced with one
reserve actuator per joint whose use costs like activations scaled by ``reserve_n_m``; eliminating the
reserves leaves a box-constrained quadratic programme per frame, min_a |a|^2 + |(tau - b - A a) /
reserve_n_m|^2 with a in [min_activation, 1] (plus any further bounded variables with their own moment
columns). Its dual has only one variable per joint (the reserve moments): all frames are solved at once
by semismooth Newton on the dual (a batched J x J solve per iteration, a few iterations, optionally
warm-started); any frame that has not converged is finished by scipy's bounded least squares. Compliant
tendons: for given activations, the fibre-tendon equilibrium is found by bisection on the fibre length,
every muscle and frame at once.
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
_TENDON_C = (0.2, 1.0, 0.2)  # tendon curve c1, c2, c3 as OpenSim 4.6 (through (1, 0) and (1 + strain, 1))
_MIN_ALONG = 0.05  # shortest fibre projection on the tendon line, optimal fibre lengths
_EQUILIBRIUM_BISECTIONS = 16
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


def _tendon_stiffness(strain_at_one: np.ndarray | float) -> np.ndarray | float:
    """The tendon curve's exponent, set by the strain at one normalised force."""
    c1, c2, c3 = _TENDON_C
    return np.log((1.0 + c3) / c1) / (1.0 + strain_at_one - c2)


def tendon_force_length(norm_tendon_length: np.ndarray, strain_at_one: np.ndarray | float = 0.049) -> np.ndarray:
    """Tendon force multiplier (force / max isometric force) of the tendon length over its slack length."""
    c1, c2, c3 = _TENDON_C
    return c1 * np.exp(_tendon_stiffness(strain_at_one) * (np.asarray(norm_tendon_length, dtype=float) - c2)) - c3


def tendon_length_at_force(norm_force: np.ndarray, strain_at_one: np.ndarray | float = 0.049) -> np.ndarray:
    """Normalised tendon length (over slack length) carrying a normalised force: the inverse of
    ``tendon_force_length``, with forces below zero treated as zero (a tendon cannot push)."""
    c1, c2, c3 = _TENDON_C
    force = np.maximum(np.asarray(norm_force, dtype=float), 0.0)
    return c2 + np.log((force + c3) / c1) / _tendon_stiffness(strain_at_one)


@dataclass(frozen=True)
class MuscleForceModel:
    """Per-frame force coefficients: tendon force F = active_n * a + passive_n, (T, M) each, at the fibre
    lengths and velocities given (rigid tendon, or a compliant tendon carrying a known force)."""

    active_n: np.ndarray
    passive_n: np.ndarray
    norm_fibre_length: np.ndarray
    norm_fibre_velocity: np.ndarray
    cos_pennation: np.ndarray


def equilibrium_tendon_lengths(geometry: MuscleGeometry, lengths_m: np.ndarray, fibre_velocities_m_s: np.ndarray,
                               activations: np.ndarray, length_scale: float = 1.0,
                               iterations: int = _EQUILIBRIUM_BISECTIONS) -> np.ndarray:
    """Tendon lengths (T, M) m at which compliant tendons balance their fibres at the given activations.

    Solves F_max cos(alpha) (a f_L f_V + f_P + d v) = F_max f_T(l_T / l_ts) for the fibre's projection on
    the tendon line, x = L - l_T, by bisection (every muscle and frame at once): the tendon force falls and
    the fibre length grows with x, and the root is bracketed between a slack tendon and a fibre of
    ``_MIN_ALONG`` optimal lengths. Fibre velocities along the tendon line are given (not re-derived).

    Args:
        geometry: muscle parameters (in the same muscle order as the arrays).
        lengths_m: (T, M) musculotendon lengths.
        fibre_velocities_m_s: (T, M) lengthening velocities of the fibre projections.
        activations: (T, M) activations.
        length_scale: subject / generic size, as in ``muscle_force_model``.
        iterations: bisection steps (each halves the bracket).

    Returns:
        Tendon lengths (T, M), m.
    """
    l_opt = geometry.parameter_array("optimal_fibre_length_m") * length_scale
    l_ts = geometry.parameter_array("tendon_slack_length_m") * length_scale
    t_strain = geometry.parameter_array("tendon_strain_at_one_norm_force")
    lo = np.broadcast_to(_MIN_ALONG * l_opt, lengths_m.shape).copy()
    hi = np.maximum(lengths_m - l_ts * tendon_length_at_force(0.0, t_strain), lo)
    for _ in range(iterations):
        x = 0.5 * (lo + hi)
        fm = muscle_force_model(geometry, lengths_m, fibre_velocities_m_s, length_scale, lengths_m - x)
        fibre_n = fm.active_n * activations + fm.passive_n  # along the tendon
        tendon_n = tendon_force_length((lengths_m - x) / l_ts, t_strain) * geometry.parameter_array(
            "max_isometric_force_n")
        above = fibre_n > tendon_n  # fibre pulls harder than the tendon: the fibre must be shorter
        hi = np.where(above, x, hi)
        lo = np.where(above, lo, x)
    return lengths_m - 0.5 * (lo + hi)


def muscle_force_model(geometry: MuscleGeometry, lengths_m: np.ndarray, velocities_m_s: np.ndarray,
                       length_scale: float = 1.0, tendon_lengths_m: np.ndarray | None = None,
                       tendon_velocities_m_s: np.ndarray | None = None) -> MuscleForceModel:
    """Force coefficients of each muscle at each frame, for a rigid or a stretched tendon.

    Args:
        geometry: muscle parameters (in the same muscle order as the arrays).
        lengths_m: (T, M) musculotendon lengths.
        velocities_m_s: (T, M) musculotendon lengthening velocities.
        length_scale: subject / generic size: optimal fibre and tendon slack lengths are multiplied by
            it, as OpenSim's scaling keeps their ratio to the path length.
        tendon_lengths_m: (T, M) tendon lengths (compliant tendons stretched by their forces, see
            ``equilibrium_tendon_lengths``); None = rigid tendons at their slack lengths.
        tendon_velocities_m_s: (T, M) tendon lengthening velocities, subtracted from the path's to give the
            fibre's; None = 0.

    Returns:
        MuscleForceModel.
    """
    l_opt = geometry.parameter_array("optimal_fibre_length_m") * length_scale
    l_t = geometry.parameter_array("tendon_slack_length_m") * length_scale if tendon_lengths_m is None \
        else tendon_lengths_m
    alpha0 = geometry.parameter_array("pennation_at_optimal_rad")
    f_max = geometry.parameter_array("max_isometric_force_n")
    v_max = geometry.parameter_array("max_contraction_velocity") * l_opt
    width = geometry.parameter_array("active_force_width_scale")
    strain = geometry.parameter_array("passive_fibre_strain")
    damping = geometry.parameter_array("fibre_damping")
    use_passive = ~np.array([m.parameters.ignore_passive_fibre_force for m in geometry.muscles])
    height = l_opt * np.sin(alpha0)  # constant-thickness pennation
    along = np.maximum(lengths_m - l_t, _MIN_ALONG * l_opt)  # fibre projection on the tendon line
    fibre = np.sqrt(height ** 2 + along ** 2)
    cos_a = along / fibre
    l_norm = fibre / l_opt
    v_along = velocities_m_s if tendon_velocities_m_s is None else velocities_m_s - tendon_velocities_m_s
    v_norm = v_along * cos_a / v_max
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
    extra: np.ndarray  # (T, E) the further variables (E = 0 without them)


def solve_reserve_qp(a_mat: np.ndarray, target: np.ndarray, lower: np.ndarray, upper: np.ndarray, weight: float,
                     max_iterations: int = 50, tolerance: float = 1e-10,
                     y0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
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
        y0: (B, J) starting dual point (weight x the mismatch of a nearby problem's solution); None = 0.

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

    y = np.zeros((b, j)) if y0 is None else np.array(y0, dtype=float)
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


def bounded_least_squares(a: np.ndarray, residual: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                          reserve_n_m: float) -> np.ndarray:
    """One frame's activations by bounded least squares: min |x|^2 + |(A x - residual) / reserve|^2.

    Variables whose bounds meet (e.g. an internal force with no friction range left) are held at them.

    Args:
        a: (J, N) moment per unit of each variable. residual: (J,) moments to produce.
        lower, upper: (N,) bounds, lower <= upper. reserve_n_m: reserve actuator strength.

    Returns:
        (N,) the variables.
    """
    x = lower.astype(float).copy()
    free = upper > lower
    if free.any():
        rhs = residual - a[:, ~free] @ x[~free]
        c = np.concatenate([np.eye(int(free.sum())), a[:, free] / reserve_n_m])
        d = np.concatenate([np.zeros(int(free.sum())), rhs / reserve_n_m])
        x[free] = lsq_linear(c, d, bounds=(lower[free], upper[free]), method="bvls").x
    return x


def static_optimization(moments_n_m: np.ndarray, moment_arms_m: np.ndarray, forces: MuscleForceModel,
                        min_activation: np.ndarray, config: StaticOptimizationConfig = StaticOptimizationConfig(),
                        extra_moments: np.ndarray | None = None,
                        extra_bounds: tuple[np.ndarray, np.ndarray] | None = None,
                        initial_reserves_n_m: np.ndarray | None = None) -> StaticOptimizationResult:
    """Activations minimising the sum of squares while the muscles (plus costly reserves) give the moments.

    Args:
        moments_n_m: (T, J) joint moments the muscles must produce (the generalized forces from inverse
            dynamics).
        moment_arms_m: (T, M, J) moment arms of the muscles about those joints.
        forces: force coefficients (T, M), see ``muscle_force_model``.
        min_activation: (M,) lower activation bounds.
        config: reserve strength and iteration limit.
        extra_moments: (T, J, E) joint moments per unit of E further variables solved with the activations
            and costing like them (e.g. an internal force between the feet, scaled); None = none.
        extra_bounds: (lower, upper), each (T, E), bounds of the further variables (required with them).
        initial_reserves_n_m: (T, J) reserves of a nearby problem's solution (e.g. the previous tendon
            iteration's), to start the solver from; None = cold start.

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
    extra = np.zeros((t, j, 0)) if extra_moments is None else np.asarray(extra_moments, dtype=float)
    e = extra.shape[2] if extra.ndim == 3 else -1
    if extra.shape[:2] != (t, j) or (e > 0) != (extra_bounds is not None) or (
            extra_bounds is not None and any(np.shape(b) != (t, e) for b in extra_bounds)):
        raise ValueError(f"static_optimization: extra moments {extra.shape} and extra bounds "
                         f"{None if extra_bounds is None else [np.shape(b) for b in extra_bounds]} disagree "
                         f"with {t} frames and {j} joints")
    for name, a in (("moments", tau), ("moment arms", arms), ("active forces", forces.active_n),
                    ("passive forces", forces.passive_n), ("extra moments", extra)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"static_optimization: {name} contain non-finite values")
    # (T, J, M + E): moment per unit activation, then per unit of each further variable.
    a_mat = np.concatenate([np.swapaxes(arms * forces.active_n[..., None], 1, 2), extra], axis=2)
    residual0 = tau - np.einsum("tmj,tm->tj", arms, forces.passive_n)  # (T, J) moment left for activations
    w = 1.0 / config.reserve_n_m ** 2
    lower = np.broadcast_to(np.asarray(min_activation, dtype=float), (t, m))
    upper = np.ones((t, m))
    if e > 0:
        lower = np.concatenate([lower, extra_bounds[0]], axis=1)
        upper = np.concatenate([upper, extra_bounds[1]], axis=1)
    y0 = None if initial_reserves_n_m is None else w * np.asarray(initial_reserves_n_m, dtype=float)
    x, ok = solve_reserve_qp(a_mat, residual0, lower, upper, w, config.max_iterations, y0=y0)
    fallback = np.flatnonzero(~ok)
    for k in fallback:  # rare: the QP did not converge
        x[k] = bounded_least_squares(a_mat[k], residual0[k], lower[k], upper[k], config.reserve_n_m)
    reserves = residual0 - np.einsum("tjn,tn->tj", a_mat, x)
    gradient = x - w * np.einsum("tjn,tj->tn", a_mat, reserves)
    violation = float(kkt_violation(x, gradient, lower, upper).max()) if t else 0.0
    act = x[:, :m]
    tendon = forces.active_n * act + forces.passive_n
    return StaticOptimizationResult(act, tendon, reserves, violation, int(fallback.size), x[:, m:])
