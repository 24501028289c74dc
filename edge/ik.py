"""Per-frame marker inverse kinematics on the exported skeletal model (numpy only: runs on a Jetson).

Inputs: target marker positions (M, 3) in the ground frame (metres), per-marker weights, a warm start.
Output: model coordinates (radians/metres) minimising

    sum_i w_i |m_i(q) - x_i|^2  +  sum_k s_k (q_k - q_prior_k - sum_j c_kj (q_j - q_prior_j))^2

where m_i(q) is forward kinematics of marker i and the second term holds coordinates the markers
observe poorly (lumbar split, forearm rotation, wrists, neck) near a prior, which may be coupled to
another coordinate (c_kj: the lumbo-pelvic rhythm, lumbar flexion with hip flexion), and every coordinate near
the previous frame's solution (temporal weight), within the model's coordinate ranges. Optional
physical priors for squats: heels level with toes (feet flat), the whole-body centre of mass
horizontally over the middle of the feet (balance), and heels and toes near given ground positions
(planted feet, ``foot_anchors_m``); the first two are measured in the ground frame, so they rely on the
gravity estimate.

Algorithm: Levenberg-Marquardt with a forward-difference Jacobian, evaluated as one batched forward
kinematics call over the warm start plus one perturbation per free coordinate; steps are projected
onto the coordinate ranges. Hand-written rather than scipy.optimize.least_squares because the hot path
is one batched FK per iteration, and a warm-started frame converges in a few iterations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from calibration.camera import PinholeCamera
from edge.skeleton.fk import marker_positions
from edge.skeleton.model import Marker, MotionType, SkeletonModel

FD_STEP = 1e-6  # rad or m


@dataclass(frozen=True)
class IKConfig:
    """Solver settings. Weights are relative to marker error in m^2 (coordinate errors in rad^2 or m^2)."""

    max_iterations: int = 5  # a warm-started frame gains nothing measurable beyond 5 (STS trial, 2026-12-03)
    step_tolerance: float = 1e-4  # stop when the largest coordinate step is below this (rad or m)
    initial_damping: float = 1e-3
    temporal_weight: float = 1e-4  # pull toward the previous frame's solution, per coordinate
    # pull heel and big-toe markers to the same height as in the default pose. Weight 1 / 3 / 10: real
    # sit-to-stand 7.12 / 6.91 / 6.89 deg, rendered panel 9.46 / 9.35 / 9.39 (scripts/lifter_panel.py)
    foot_flat_weight: float = 3.0
    balance_weight: float = 1.0  # pull the centre of mass over the middle of the feet (horizontally)
    foot_anchor_weight: float = 10.0  # pull heel and big-toe markers to the given anchors (planted feet)
    fixed_coordinates: tuple[str, ...] = ("mtp_angle_r", "mtp_angle_l", "wrist_flex_r", "wrist_dev_r",
                                          "wrist_flex_l", "wrist_dev_l")
    prior_weights: tuple[tuple[str, float], ...] = (
        ("L5_S1_Flex_Ext", 0.1), ("L5_S1_Lat_Bending", 0.1), ("L5_S1_axial_rotation", 0.1),
        ("neck_flexion", 1e-3), ("neck_bending", 1e-3), ("neck_rotation", 1e-3),
        ("subtalar_angle_r", 1e-3), ("subtalar_angle_l", 1e-3),
        ("pro_sup_r", 1e-4), ("pro_sup_l", 1e-4), ("arm_rot_r", 1e-4), ("arm_rot_l", 1e-4),
    )
    # Coupled priors (coordinate, source, ratio): the coordinate's prior moves by ratio x the source's
    # departure from its own prior value, in the same solve (a prior on the pose: both are pulled).
    # Default: a lumbo-pelvic rhythm, lumbar flexion 0.16 deg per deg of mean hip flexion. Hip and
    # shoulder markers see the trunk's lean but not how it splits between pelvis tilt and lumbar
    # flexion; a neutral lumbar prior turns all of it into pelvis tilt, and so into hip flexion, while
    # real squats and sit-to-stands flex the lumbar spine 0.13-0.40 deg per deg of hip flexion (6 mocap
    # trials in ../shared, pooled 0.22). Below the pooled slope because MediaPipe reads a real trunk
    # 5-8 deg more upright than its hip-to-shoulder joint centres, which leaves the pelvis too far back
    # at 0.22. Chosen on scripts/lifter_panel.py's rendered mocap motions and the real sit-to-stand
    # video (docs/results/lifter_panel.md).
    prior_couplings: tuple[tuple[str, str, float], ...] = (
        ("L5_S1_Flex_Ext", "hip_flexion_r", -0.08), ("L5_S1_Flex_Ext", "hip_flexion_l", -0.08),
    )

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")
        for name, value in (("step_tolerance", self.step_tolerance), ("initial_damping", self.initial_damping),
                            ("temporal_weight", self.temporal_weight), ("foot_flat_weight", self.foot_flat_weight),
                            ("balance_weight", self.balance_weight),
                            ("foot_anchor_weight", self.foot_anchor_weight)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        check_priors(self.prior_weights, self.prior_couplings)


def check_priors(weights: tuple[tuple[str, float], ...], couplings: tuple[tuple[str, str, float], ...]) -> None:
    """Raise ValueError unless each prior weight is >= 0 and each coupling is (coordinate, another
    coordinate, finite ratio). A coupling acts through the coordinate's prior weight: none, no effect.
    (Coordinate names are checked against a model where one is loaded.)"""
    for name, w in weights:
        if not w >= 0:
            raise ValueError(f"prior weight of {name} must be >= 0, got {w}")
    for entry in couplings:
        if len(entry) != 3:
            raise ValueError(f"a prior coupling is (coordinate, source, ratio), got {entry!r}")
        name, source, ratio = entry
        if source == name or not np.isfinite(ratio):
            raise ValueError(f"prior coupling of {name!r} to {source!r}: needs another coordinate and a finite "
                             f"ratio, got ratio {ratio}")


def coupling_matrix(coordinate_names: list[str], couplings: tuple[tuple[str, str, float], ...]) -> np.ndarray:
    """(n, n) matrix C with C[k, j] = ratio for each coupling (k, j, ratio): the prior pulls q - q_prior
    toward C @ (q - q_prior). The caller has checked that the names are the model's."""
    c = np.zeros((len(coordinate_names), len(coordinate_names)))
    for name, source, ratio in couplings:
        c[coordinate_names.index(name), coordinate_names.index(source)] += ratio
    return c


@dataclass(frozen=True)
class IKResult:
    q: np.ndarray  # (n_coordinates,) radians / metres, model order
    marker_rms_m: float  # weighted RMS marker residual
    iterations: int


class MarkerIK:
    """Inverse kinematics for one model and a fixed list of markers."""

    def __init__(self, model: SkeletonModel, marker_names: list[str], config: IKConfig = IKConfig()) -> None:
        names = model.coordinate_names
        missing = [m for m in marker_names if m not in {mk.name for mk in model.markers}]
        if missing:
            raise ValueError(f"markers not on model {model.name}: {missing}")
        unknown = [c for c in config.fixed_coordinates if c not in names] + \
                  [c for c, _ in config.prior_weights if c not in names] + \
                  [c for coupling in config.prior_couplings for c in coupling[:2] if c not in names]
        if unknown:
            raise ValueError(f"IK settings name coordinates not in model {model.name}: {unknown}")
        self.model = model
        self.config = config
        marker_index = {mk.name: i for i, mk in enumerate(model.markers)}
        # forward kinematics evaluates the IK markers and, as extra points, each body's mass centre
        mass = np.array([b.mass_kg for b in model.bodies])
        self._mass_fraction = mass / mass.sum() if mass.sum() > 0 else mass
        self._fk_model = dataclasses.replace(model, markers=tuple(model.markers) + tuple(
            Marker(f"__mass_centre_{b.name}", i, b.mass_centre_m) for i, b in enumerate(model.bodies)))
        self._points = np.concatenate([[marker_index[m] for m in marker_names],
                                       len(model.markers) + np.arange(len(model.bodies))])
        self._n_markers = len(marker_names)
        if config.balance_weight > 0 and not mass.sum() > 0:
            raise ValueError(f"balance_weight needs body masses; model {model.name} has none")
        fixed = set(config.fixed_coordinates)
        self._free = np.array([i for i, c in enumerate(model.coordinates) if not c.locked and c.name not in fixed])
        self._lower = np.array([c.range_min for c in model.coordinates])
        self._upper = np.array([c.range_max for c in model.coordinates])
        self.default_q = np.array([c.default_value for c in model.coordinates])
        prior = dict(config.prior_weights)
        prior_weight = np.array([prior.get(c.name, 0.0) for c in model.coordinates])
        # prior residuals s_k (q_k - prior_k - sum_j c_kj (q_j - prior_j)) over the free coordinates: linear
        # in q, so one fixed matrix (rows of the identity minus the coupling matrix, scaled)
        coupled = (np.eye(len(names)) - coupling_matrix(names, config.prior_couplings))[np.ix_(self._free, self._free)]
        self._prior_rows = np.sqrt(prior_weight[self._free])[:, None] * coupled
        translation = np.array([c.motion_type is MotionType.TRANSLATIONAL for c in model.coordinates])
        # the free joint's translation is where the subject stands relative to the camera: unbounded
        self._lower[translation] = -np.inf
        self._upper[translation] = np.inf
        if "LHip" not in marker_names or "RHip" not in marker_names:
            raise ValueError("IK needs the LHip and RHip markers (world observations are hip-centred)")
        self._lhip, self._rhip = marker_names.index("LHip"), marker_names.index("RHip")
        feet = [("LHeel", "LBigToe"), ("RHeel", "RBigToe")]
        self._feet = np.array([[marker_names.index(h), marker_names.index(t)] for h, t in feet
                               if h in marker_names and t in marker_names], dtype=int).reshape(-1, 2)
        m0 = self.markers(self.default_q)
        self._foot_flat_dy = m0[self._feet[:, 1], 1] - m0[self._feet[:, 0], 1]

    def markers(self, q: np.ndarray) -> np.ndarray:
        """Positions (..., M, 3) of the IK markers for coordinates q (..., n)."""
        return self._fk_points(q)[..., :self._n_markers, :]

    def foot_points(self, q: np.ndarray) -> np.ndarray:
        """Heel and big-toe markers (..., n_feet, 2, 3) for coordinates q (..., n): the layout of
        ``solve``'s foot anchors."""
        return self.markers(q)[..., self._feet, :]

    def _fk_points(self, q: np.ndarray) -> np.ndarray:
        """IK markers then body mass centres, (..., M + n_bodies, 3)."""
        return marker_positions(self._fk_model, q)[..., self._points, :]

    def solve(self, q_start: np.ndarray, *, world_m: np.ndarray | None = None, world_weights: np.ndarray | None = None,
              image_xy: np.ndarray | None = None, image_weights: np.ndarray | None = None,
              camera: PinholeCamera | None = None, q_prior: np.ndarray | None = None,
              foot_anchors_m: np.ndarray | None = None, max_iterations: int | None = None) -> IKResult:
        """Fit the model to one frame of observations.

        Two kinds of observation, either or both:
        - world_m (M, 3): marker positions relative to the mid-hip point (MediaPipe world landmarks
          rotated into the ground frame); compared with the model's markers relative to its mid-hip.
        - image_xy (M, 2): pixel positions, compared with the model's markers projected by ``camera``
          (whose world frame is the ground frame); errors are scaled by the subject's depth / focal
          length, so both kinds are in metres.
        Rows with NaN are ignored; weights are non-negative (e.g. MediaPipe visibility).

        Args:
            q_start: (n,) warm start (previous solution); also the temporal prior.
            q_prior: (n,) values the prior-weighted coordinates are pulled toward (default: model defaults);
                a coupled coordinate (``IKConfig.prior_couplings``) toward its value plus ratio x its
                source's departure from the source's value.
            foot_anchors_m: (n_feet, 2, 3) ground positions of each foot's (heel, big toe) markers, in the
                order LHeel/LBigToe, RHeel/RBigToe; the feet are pulled there with ``foot_anchor_weight``
                (planted feet). None: no anchor term.
            max_iterations: overrides the setting (a cold start needs more than a warm-started frame).

        Returns:
            The solution, its weighted marker RMS (metres) and the iterations used.
        """
        cfg = self.config
        if world_m is None and image_xy is None:
            raise ValueError("IK: give world_m, image_xy or both")
        if image_xy is not None and camera is None:
            raise ValueError("IK: image_xy needs a camera")
        n_markers = self._n_markers
        terms = []
        if world_m is not None:
            x3, w3 = _observation(world_m, world_weights, n_markers, 3, "world_m")
            x3 = x3 - 0.5 * (x3[self._lhip] + x3[self._rhip])
            terms.append(("world", x3, np.sqrt(w3)[:, None]))
        q_prev = np.clip(np.asarray(q_start, dtype=np.float64), self._lower, self._upper)
        if image_xy is not None:
            x2, w2 = _observation(image_xy, image_weights, n_markers, 2, "image_xy")
            depth_m = float(camera.to_camera(self.markers(q_prev)[[self._lhip, self._rhip]].mean(axis=0))[2])
            if not depth_m > 0.1:
                raise ValueError(f"IK: the warm start puts the subject behind or at the camera (depth {depth_m:.2f} m)")
            # normalised image coordinates; residuals in metres at the subject's depth
            xn = np.stack([(x2[:, 0] - camera.cx) / camera.fx, (x2[:, 1] - camera.cy) / camera.fy], axis=1)
            terms.append(("image", xn, np.sqrt(w2)[:, None] * depth_m))
        if sum(float((t[2] ** 2).sum()) for t in terms) <= 0:
            raise ValueError("IK: no marker has a positive weight")
        q_prior = self.default_q if q_prior is None else np.asarray(q_prior, dtype=np.float64)
        s_temporal = np.sqrt(cfg.temporal_weight)
        s_flat = np.sqrt(cfg.foot_flat_weight)
        s_balance = np.sqrt(cfg.balance_weight)
        s_anchor = np.sqrt(cfg.foot_anchor_weight) if foot_anchors_m is not None else 0.0
        if s_anchor > 0:
            anchors = np.asarray(foot_anchors_m, dtype=np.float64)
            if anchors.shape != (*self._feet.shape, 3) or not np.all(np.isfinite(anchors)):
                raise ValueError(f"IK: foot_anchors_m must be finite with shape {(*self._feet.shape, 3)}, "
                                 f"got {anchors.shape}")
        free = self._free
        prior_rows = self._prior_rows
        n_free = free.size
        eye = np.eye(n_free)
        lower, upper = self._lower[free], self._upper[free]

        def observation_residuals(points: np.ndarray) -> np.ndarray:
            """(..., M + n_bodies, 3) markers and mass centres -> (..., K) weighted residuals."""
            m = points[..., :self._n_markers, :]
            parts = [self._term_residual(kind, m, target, scale, camera) for kind, target, scale in terms]
            if s_balance > 0:
                com = np.einsum("b,...bk->...k", self._mass_fraction, points[..., self._n_markers:, :])
                support = m[..., self._feet.ravel(), :].mean(axis=-2)
                parts.append(s_balance * (com - support)[..., [0, 2]])
            if s_flat > 0 and self._feet.size:
                dy = m[..., self._feet[:, 1], 1] - m[..., self._feet[:, 0], 1] - self._foot_flat_dy
                parts.append(s_flat * dy)
            if s_anchor > 0:
                parts.append(s_anchor * (m[..., self._feet, :] - anchors).reshape(*m.shape[:-2], -1))
            return np.concatenate(parts, axis=-1)

        def residual(obs: np.ndarray, q: np.ndarray) -> np.ndarray:
            return np.concatenate([obs, s_temporal * (q[free] - q_prev[free]), prior_rows @ (q[free] - q_prior[free])])

        q = q_prev.copy()
        batch = np.repeat(q[None], n_free + 1, axis=0)
        damping = cfg.initial_damping
        iterations = 0
        for iterations in range(1, (max_iterations or cfg.max_iterations) + 1):
            batch[:] = q
            batch[np.arange(1, n_free + 1), free] += FD_STEP
            obs = observation_residuals(self._fk_points(batch))  # (n_free + 1, K)
            r = residual(obs[0], q)
            J = np.vstack([(obs[1:] - obs[0]).T / FD_STEP, s_temporal * eye, prior_rows])
            JtJ = J.T @ J
            g = J.T @ r
            cost = r @ r
            while True:
                step = -np.linalg.solve(JtJ + damping * (np.diag(np.diag(JtJ)) + eye), g)
                q_new = q.copy()
                q_new[free] = np.clip(q[free] + step, lower, upper)
                r_new = residual(observation_residuals(self._fk_points(q_new)), q_new)
                if r_new @ r_new < cost or damping > 1e6:
                    break
                damping *= 10.0
            if r_new @ r_new >= cost:
                break
            largest_step = np.abs(q_new - q).max()
            q = q_new
            damping = max(damping / 10.0, 1e-9)
            if largest_step < cfg.step_tolerance:
                break
        markers = self.markers(q)
        sq_err, total_w = 0.0, 0.0
        for kind, target, scale in terms:
            sq_err += float((self._term_residual(kind, markers, target, scale, camera) ** 2).sum())
            total_w += float((scale ** 2).sum())
        rms = float(np.sqrt(sq_err / total_w))
        return IKResult(q=q, marker_rms_m=rms, iterations=iterations)

    def _term_residual(self, kind: str, m: np.ndarray, target: np.ndarray, scale: np.ndarray,
                       camera: PinholeCamera | None) -> np.ndarray:
        """Weighted residuals (..., M * dim) of one observation kind for markers m (..., M, 3)."""
        if kind == "world":
            mid_hip = 0.5 * (m[..., self._lhip:self._lhip + 1, :] + m[..., self._rhip:self._rhip + 1, :])
            return (((m - mid_hip) - target) * scale).reshape(*m.shape[:-2], -1)
        pc = m @ camera.R_cw.T + camera.t_cw
        z = np.maximum(pc[..., 2:3], 1e-3)
        return ((pc[..., :2] / z - target) * scale).reshape(*m.shape[:-2], -1)


def _observation(values: np.ndarray, weights: np.ndarray | None, n: int, dim: int, name: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(values, dtype=np.float64)
    if x.shape != (n, dim):
        raise ValueError(f"IK: {name} must have shape ({n}, {dim}), got {x.shape}")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"IK: weights of {name} must have shape ({n},), got {w.shape}")
    w = np.where(np.isfinite(x).all(axis=1), np.clip(w, 0.0, None), 0.0)
    return np.nan_to_num(x), w
