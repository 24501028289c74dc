"""Inverse dynamics of a squat with both feet on the ground: joint moments from kinematics alone.

Purpose: the net joint moments (generalized forces) the muscles must produce, for static optimisation.
Inputs: a ``SkeletonModel`` (edge.skeleton; the product's pose2sim model, optionally scaled), coordinates
q (T, n_coordinates) rad / m sampled at ``fps``, body inertias (models/biomech/assets, exported from
the same OpenSim model, since SkeletonModel carries none).
Outputs: ``InverseDynamicsResult``: generalized forces of the requested coordinates (N m for rotations,
N for translations), each foot's ground reaction force, centre of pressure and free moment, and the
pelvis residuals (which vanish when the ground reactions balance the motion).

Algorithm: coordinates are low-pass filtered (zero-lag Butterworth) and differentiated. Body mass-centre
accelerations, angular velocities and accelerations come from forward kinematics along the local path
q(t + s) = q + qd s + qdd s^2 / 2 (second-order central differences in s), exact up to O(s^2). The
generalized forces follow from d'Alembert's principle (virtual work): tau_j = sum_bodies
[m (a - g) . dc/dq_j + (I alpha + omega x I omega) . dtheta/dq_j] - sum_feet [F . dp/dq_j + M . dtheta/dq_j],
with the body Jacobians by forward differences of forward kinematics. The total ground reaction is the
whole-body inertial-plus-gravity wrench; its centre of pressure on the floor and free moment about the
vertical follow in closed form. It is shared between the feet by the lever rule along the line joining
the two mid-feet (both feet share the centre of pressure's offset from that line); each foot's force
points at the total force's line of action at the height of the centre of mass (in a wide stance the
ground pushes the feet inwards), which keeps the sum and its moment consistent. Where the kinematics
put the centre of pressure off the soles (a generic model moved by another subject's angles), it is
kept on them and the difference shows as pelvis residuals, as residual actuators do in OpenSim;
otherwise the pelvis residuals vanish. The centre of pressure is low-pass filtered before the split (its
noise would otherwise shift the load between the legs frame by frame); the pelvis residuals take up the
difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, filtfilt

from edge.skeleton import fk
from edge.skeleton.model import SkeletonModel

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_INERTIA_FILE = "pose2sim_body_inertias.json"
PELVIS_COORDINATES = ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz")
FOOT_BODIES = {"r": ("calcn_r", "toes_r"), "l": ("calcn_l", "toes_l")}
_UP = np.array([0.0, 1.0, 0.0])  # OpenSim ground: y up


@dataclass(frozen=True)
class InverseDynamicsConfig:
    """Settings of the squat inverse dynamics.

    lowpass_hz: cut-off of the 4th-order zero-lag Butterworth filter on the coordinates (0 = none).
    gravity_m_s2: magnitude of gravity, along -y.
    floor_height_m: floor height; None = estimated from the feet (median over frames of the lowest
        foot-body origin).
    min_vertical_force_fraction: below this fraction of body weight the centre of pressure is not
        defined (flight); it is then put midway between the feet.
    foot_support_ratio: each sole runs from the calcn origin (heel) to this multiple of the
        calcn-to-toes origin distance (toe tips); centres of pressure are kept on the soles.
    cop_lowpass_hz: the whole-body centre of pressure, which involves second derivatives of noisy
        kinematics times the body's height, is low-pass filtered at this frequency (2nd-order
        Butterworth, zero lag) before it is shared between the feet; 0 = not filtered. Needs the frame
        rate (inverse_dynamics, or generalized_forces with fps).
    forces_converge_at_com: each foot's force points at the total force's line of action at the height
        of the centre of mass (the ground pushes the feet inwards in a wide stance) instead of parallel
        to the total.
    path_step_s: step s of the time differences along the path.
    jacobian_step: step of the Jacobian differences (rad or m).
    """

    lowpass_hz: float = 4.0
    gravity_m_s2: float = 9.80665
    floor_height_m: float | None = None
    min_vertical_force_fraction: float = 0.2
    foot_support_ratio: float = 1.3
    cop_lowpass_hz: float = 2.0
    forces_converge_at_com: bool = True
    path_step_s: float = 1e-3
    jacobian_step: float = 1e-7

    def __post_init__(self) -> None:
        if not (self.lowpass_hz >= 0 and np.isfinite(self.lowpass_hz)):
            raise ValueError(f"InverseDynamicsConfig.lowpass_hz must be >= 0, got {self.lowpass_hz}")
        if not (self.gravity_m_s2 >= 0 and np.isfinite(self.gravity_m_s2)):
            raise ValueError(f"InverseDynamicsConfig.gravity_m_s2 must be >= 0, got {self.gravity_m_s2}")
        if self.floor_height_m is not None and not np.isfinite(self.floor_height_m):
            raise ValueError(f"InverseDynamicsConfig.floor_height_m must be finite or None, got {self.floor_height_m}")
        if not (self.cop_lowpass_hz >= 0 and np.isfinite(self.cop_lowpass_hz)):
            raise ValueError(f"InverseDynamicsConfig.cop_lowpass_hz must be >= 0, got {self.cop_lowpass_hz}")
        if not 1.0 <= self.foot_support_ratio <= 2.0:
            raise ValueError(
                f"InverseDynamicsConfig.foot_support_ratio must be in [1, 2], got {self.foot_support_ratio}")
        if not 0 <= self.min_vertical_force_fraction < 1:
            raise ValueError(f"InverseDynamicsConfig.min_vertical_force_fraction must be in [0, 1), "
                             f"got {self.min_vertical_force_fraction}")
        for name in ("path_step_s", "jacobian_step"):
            v = getattr(self, name)
            if not (0 < v < 0.1):
                raise ValueError(f"InverseDynamicsConfig.{name} must be in (0, 0.1), got {v}")


@dataclass(frozen=True)
class BodyInertias:
    """Inertia about each body's mass centre, in the body frame, for a model's bodies: (n_bodies, 3, 3) kg m^2."""

    body_names: tuple[str, ...]
    inertia_kg_m2: np.ndarray

    @classmethod
    def load(cls, path: str | Path = ASSETS_DIR / DEFAULT_INERTIA_FILE) -> dict[str, dict]:
        """The raw table (body -> mass_kg, mass_centre_m, inertia_kg_m2 [Ixx Iyy Izz Ixy Ixz Iyz]).

        Raises:
            FileNotFoundError: the file is missing.
            ValueError: it is malformed (names the file and body).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"body inertia file not found: {path} (run scripts/fit_muscle_geometry.py)")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            bodies = d["bodies"]
            for name, b in bodies.items():
                if len(b["inertia_kg_m2"]) != 6 or not b["mass_kg"] >= 0:
                    raise ValueError(f"body {name}: expected 6 inertia elements and a mass >= 0")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: malformed body inertia table ({exc})") from None
        return bodies

    @classmethod
    def for_model(cls, model: SkeletonModel, table: Mapping[str, Mapping] | None = None) -> BodyInertias:
        """Inertias for a model's bodies, scaled to its masses and body scale factors.

        A body's tabulated inertia is multiplied by (model mass / tabulated mass) and by the square of the
        mean of its scale factors (``model.metadata["body_scales"]``, written by SkeletonModel.scaled).

        Raises:
            KeyError: a body with mass has no entry in the table (names it).
        """
        table = cls.load() if table is None else table
        scales = model.metadata.get("body_scales", {}) if isinstance(model.metadata, Mapping) else {}
        out = np.zeros((len(model.bodies), 3, 3))
        for i, b in enumerate(model.bodies):
            if b.name not in table:
                if b.mass_kg > 0:
                    raise KeyError(f"no inertia for body {b.name!r} of model {model.name}")
                continue
            e = np.asarray(table[b.name]["inertia_kg_m2"], dtype=float)
            inertia = np.array([[e[0], e[3], e[4]], [e[3], e[1], e[5]], [e[4], e[5], e[2]]])
            m0 = float(table[b.name]["mass_kg"])
            ratio = b.mass_kg / m0 if m0 > 0 else 0.0
            s = float(np.mean(scales.get(b.name, [1.0, 1.0, 1.0])))
            out[i] = inertia * ratio * s * s
        return cls(model.body_names, out)


@dataclass(frozen=True)
class InverseDynamicsResult:
    """Per-frame results (T frames). Forces in ground (y up), N; moments N m; points m."""

    coordinate_names: tuple[str, ...]
    generalized_forces: np.ndarray  # (T, n) for coordinate_names: N m (rotations) or N (translations)
    pelvis_residuals: np.ndarray  # (T, 6) generalized forces of the pelvis coordinates (0 when balanced)
    grf_n: np.ndarray  # (T, 2, 3) ground reaction force on the right [0] and left [1] foot
    cop_m: np.ndarray  # (T, 2, 3) centres of pressure
    free_moment_n_m: np.ndarray  # (T, 2) free moments about the vertical
    q: np.ndarray  # (T, n_model) filtered coordinates used, rad / m
    qd: np.ndarray  # (T, n_model) velocities
    qdd: np.ndarray  # (T, n_model) accelerations
    cop_jacobians: np.ndarray  # (T, 2, n, 3) d(point of the foot at its CoP)/d(coordinate): a force F there
    # changes coordinate_names' generalized forces by -cop_jacobians @ F

    def moments(self, names: Sequence[str]) -> np.ndarray:
        """Generalized forces of the named coordinates, (T, len(names)).

        Raises:
            KeyError: a name was not computed (names it).
        """
        missing = [n for n in names if n not in self.coordinate_names]
        if missing:
            raise KeyError(f"generalized forces not computed for {missing}")
        return self.generalized_forces[:, [self.coordinate_names.index(n) for n in names]]


def coordinate_derivatives(q: np.ndarray, fps: float, lowpass_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Filtered coordinates and their first and second time derivatives.

    Args:
        q: (T, n) coordinates.
        fps: sampling rate, Hz.
        lowpass_hz: Butterworth cut-off (4th order, forward-backward); 0 = no filtering.

    Returns:
        (q_filtered, qd, qdd), each (T, n).

    Raises:
        ValueError: fewer than 5 frames, too few frames for the filter, a cut-off at or above Nyquist,
            or non-finite values.
    """
    q = np.asarray(q, dtype=float)
    if q.ndim != 2 or q.shape[0] < 5:
        raise ValueError(f"q: expected (T >= 5, n) coordinates, got shape {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("q: contains non-finite values")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if lowpass_hz > 0:
        if lowpass_hz >= fps / 2:
            raise ValueError(f"lowpass_hz {lowpass_hz} must be below the Nyquist frequency {fps / 2} Hz")
        b, a = butter(4, lowpass_hz / (fps / 2))
        pad = 3 * max(len(a), len(b))
        if q.shape[0] <= pad:
            raise ValueError(f"q: {q.shape[0]} frames are too few for the {lowpass_hz} Hz filter (need > {pad})")
        q = filtfilt(b, a, q, axis=0)
    dt = 1.0 / fps
    qd = np.gradient(q, dt, axis=0, edge_order=2)
    qdd = np.gradient(qd, dt, axis=0, edge_order=2)
    return q, qd, qdd


def _vee_skew(m: np.ndarray) -> np.ndarray:
    """Axial vector of the skew-symmetric part of (..., 3, 3) matrices."""
    return 0.5 * np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)


def _poses(model: SkeletonModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotations (B, nb, 3, 3), origins (B, nb, 3), mass centres (B, nb, 3)."""
    rot, pos = fk.body_poses(model, q)
    centres = np.array([b.mass_centre_m for b in model.bodies])
    return rot, pos, pos + (rot @ centres[:, :, None])[..., 0]


@dataclass(frozen=True)
class _Kinematics:
    rot: np.ndarray  # (T, nb, 3, 3)
    origin: np.ndarray  # (T, nb, 3)
    com: np.ndarray  # (T, nb, 3)
    acc: np.ndarray  # (T, nb, 3) mass-centre accelerations
    omega: np.ndarray  # (T, nb, 3)
    alpha: np.ndarray  # (T, nb, 3)


def _body_kinematics(model: SkeletonModel, q, qd, qdd, s: float) -> _Kinematics:
    t = q.shape[0]
    stacked = np.concatenate([q - qd * s + 0.5 * qdd * s * s, q, q + qd * s + 0.5 * qdd * s * s])
    rot, pos, com = _poses(model, stacked)
    rot = rot.reshape(3, t, *rot.shape[1:])
    com = com.reshape(3, t, *com.shape[1:])
    pos = pos.reshape(3, t, *pos.shape[1:])
    acc = (com[2] - 2 * com[1] + com[0]) / (s * s)
    r0t = np.swapaxes(rot[1], -1, -2)
    omega = _vee_skew((rot[2] - rot[0]) / (2 * s) @ r0t)
    alpha = _vee_skew((rot[2] - 2 * rot[1] + rot[0]) / (s * s) @ r0t)
    return _Kinematics(rot[1], pos[1], com[1], acc, omega, alpha)


def _jacobians(model: SkeletonModel, q: np.ndarray, coord_idx: np.ndarray, kin: _Kinematics, eps: float):
    """Mass-centre, origin and angular Jacobians by forward differences from kin's poses: each (T, n_j, nb, 3)."""
    t, n_j = q.shape[0], len(coord_idx)
    dq = np.zeros((n_j, 1, q.shape[1]))
    dq[np.arange(n_j), 0, coord_idx] = eps
    rot, pos, com = _poses(model, (q[None] + dq).reshape(-1, q.shape[1]))
    rot, pos, com = (x.reshape((n_j, t) + x.shape[1:]) for x in (rot, pos, com))
    jc = (com - kin.com[None]) / eps
    jo = (pos - kin.origin[None]) / eps
    jw = _vee_skew((rot - kin.rot[None]) / eps @ np.swapaxes(kin.rot, -1, -2)[None])
    return (np.swapaxes(x, 0, 1) for x in (jc, jo, jw))


def _ground_reactions(model: SkeletonModel, kin: _Kinematics, force_i: np.ndarray, torque_i: np.ndarray,
                      config: InverseDynamicsConfig, fps: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground reaction force, centre of pressure and free moment per foot (see the module docstring).

    Args:
        force_i, torque_i: (T, nb, 3) each body's inertial-plus-gravity force and torque about its mass centre.

    Returns:
        grf (T, 2, 3) N, cop (T, 2, 3) m, free moment (T, 2) N m; feet ordered right, left.
    """
    force = force_i.sum(1)  # (T, 3)
    moment = (np.cross(kin.com, force_i) + torque_i).sum(1)  # (T, 3) about the ground origin
    if config.floor_height_m is None:
        feet = [model.body_index(b) for pair in FOOT_BODIES.values() for b in pair]
        h = float(np.median(kin.origin[:, feet, 1].min(axis=1)))
    else:
        h = config.floor_height_m
    on_floor = lambda x: np.concatenate([x[:, :1], np.full((x.shape[0], 1), h), x[:, 2:]], axis=1)  # noqa: E731
    centre, half, direction = [], [], []  # per foot: support centre, half length, unit direction (heel -> toe)
    for calcn, toes in FOOT_BODIES.values():
        heel = on_floor(kin.origin[:, model.body_index(calcn)])
        toe = on_floor(heel + config.foot_support_ratio * (kin.origin[:, model.body_index(toes)] - heel))
        length = np.maximum(np.linalg.norm(toe - heel, axis=1), 1e-9)
        centre.append(0.5 * (heel + toe))
        half.append(0.5 * length)
        direction.append((toe - heel) / length[:, None])
    c_r, c_l = centre
    fy = force[:, 1]
    weight = sum(b.mass_kg for b in model.bodies) * config.gravity_m_s2
    ok = fy > config.min_vertical_force_fraction * weight
    fy_safe = np.where(ok, fy, 1.0)
    px = (moment[:, 2] + h * force[:, 0]) / fy_safe
    pz = (h * force[:, 2] - moment[:, 0]) / fy_safe
    p = np.stack([px, np.full_like(px, h), pz], axis=1)
    p = np.where(ok[:, None], p, 0.5 * (c_r + c_l))
    if fps is not None and config.cop_lowpass_hz > 0 and p.shape[0] > 9:
        b, a = butter(2, min(config.cop_lowpass_hz / (fps / 2), 0.99))
        p[:, [0, 2]] = filtfilt(b, a, p[:, [0, 2]], axis=0, padlen=min(9, p.shape[0] - 1))
    free = moment[:, 1] - (p[:, 2] * force[:, 0] - p[:, 0] * force[:, 2])
    axis = c_l - c_r
    span2 = np.maximum((axis * axis).sum(1), 1e-12)
    s = ((p - c_r) * axis).sum(1) / span2  # 0 at the right foot's centre, 1 at the left's
    w_l = np.clip(s, 0.0, 1.0)
    weights = np.stack([1.0 - w_l, w_l], axis=1)  # (T, 2)
    # Both feet share the offset from the line joining them (within the floor plane), limited to the soles.
    normal = np.cross(axis, _UP)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    offset = ((p - c_r) * normal).sum(1)
    limit = np.min([hk / np.maximum(np.abs((normal * uk).sum(1)), 1e-6) for hk, uk in zip(half, direction)], axis=0)
    offset = np.clip(offset, -limit, limit)[:, None] * normal
    cop = np.stack([c_r + offset, c_l + offset], axis=1)  # (T, 2, 3)
    grf = weights[..., None] * force[:, None, :]
    if config.forces_converge_at_com:
        # Each foot's force points from its centre of pressure to the point (apex) of the total force's line
        # of action at the height of the centre of mass: same vertical shares, inward horizontal parts,
        # and the forces still sum to the total and meet on its line (so the moments are unchanged).
        mass = np.array([b.mass_kg for b in model.bodies])
        com_y = (mass @ kin.com[..., 1].T) / mass.sum()  # (T,)
        height = np.maximum(com_y - h, 0.1)
        shared = (weights[..., None] * cop).sum(axis=1)  # (T, 3) = p where nothing was clipped
        apex = shared + force * (height / fy_safe)[:, None]
        converging = weights[..., None] * (fy_safe / height)[:, None, None] * (apex[:, None] - cop)
        grf = np.where(ok[:, None, None], converging, grf)
    return grf, cop, weights * free[:, None]


def inverse_dynamics(model: SkeletonModel, q: np.ndarray, fps: float, coordinates: Sequence[str],
                     inertias: BodyInertias | None = None,
                     config: InverseDynamicsConfig = InverseDynamicsConfig()) -> InverseDynamicsResult:
    """Generalized forces of a motion with both feet on the ground (filters and differentiates q first).

    Args:
        model: the skeletal model (its coordinate order, rad / m).
        q: (T, model.n_coordinates) coordinates sampled at fps.
        fps: sampling rate, Hz.
        coordinates: names of the coordinates whose generalized forces are wanted.
        inertias: body inertias (default: the shipped table, fitted to the model's masses and scales).
        config: filtering, gravity, floor and step settings.

    Returns:
        InverseDynamicsResult.

    Raises:
        ValueError: q has the wrong shape, too few frames or non-finite values.
        KeyError: an unknown coordinate name, or the model lacks a foot body or an inertia.
    """
    q = np.asarray(q, dtype=float)
    if q.ndim != 2 or q.shape[1] != model.n_coordinates:
        raise ValueError(f"q: expected (T, {model.n_coordinates}) coordinates of model {model.name}, got {q.shape}")
    qf, qd, qdd = coordinate_derivatives(q, fps, config.lowpass_hz)
    return generalized_forces(model, qf, qd, qdd, coordinates, inertias, config, fps=fps)


def generalized_forces(model: SkeletonModel, q: np.ndarray, qd: np.ndarray, qdd: np.ndarray,
                       coordinates: Sequence[str], inertias: BodyInertias | None = None,
                       config: InverseDynamicsConfig = InverseDynamicsConfig(),
                       with_ground_reactions: bool = True, fps: float | None = None) -> InverseDynamicsResult:
    """Generalized forces at given coordinates, velocities and accelerations (no filtering of q).

    Args:
        model: the skeletal model.
        q, qd, qdd: (T, model.n_coordinates) each, rad / m and their time derivatives.
        coordinates: names of the coordinates whose generalized forces are wanted (the pelvis
            coordinates are always computed, first).
        inertias: body inertias (default: the shipped table, fitted to the model's masses and scales).
        config: gravity, floor and step settings (lowpass_hz unused here).
        with_ground_reactions: False gives the generalized forces of inertia and gravity alone (no
            external loads), as OpenSim's InverseDynamicsSolver without applied loads.
        fps: frame rate of consecutive frames; given, the centre of pressure is low-pass filtered
            (config.cop_lowpass_hz); None treats the frames as independent (no filtering).

    Returns:
        InverseDynamicsResult.

    Raises:
        ValueError: an array has the wrong shape or non-finite values.
        KeyError: an unknown coordinate name, or the model lacks a foot body or an inertia.
    """
    arrays = [np.asarray(a, dtype=float) for a in (q, qd, qdd)]
    for name, a in zip(("q", "qd", "qdd"), arrays):
        if a.ndim != 2 or a.shape != arrays[0].shape or a.shape[1] != model.n_coordinates:
            raise ValueError(f"{name}: expected (T, {model.n_coordinates}) like q, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: contains non-finite values")
    q, qd, qdd = arrays
    names = tuple(dict.fromkeys(tuple(PELVIS_COORDINATES) + tuple(coordinates)))
    idx = np.array([model.coordinate_index(n) for n in names])
    inertias = BodyInertias.for_model(model) if inertias is None else inertias
    kin = _body_kinematics(model, q, qd, qdd, config.path_step_s)
    mass = np.array([b.mass_kg for b in model.bodies])
    inertia_world = kin.rot @ inertias.inertia_kg_m2[None] @ np.swapaxes(kin.rot, -1, -2)  # (T, nb, 3, 3)
    g = np.array([0.0, -config.gravity_m_s2, 0.0])
    force_i = mass[None, :, None] * (kin.acc - g)  # (T, nb, 3) inertial + gravity wrench per body
    torque_i = (inertia_world @ kin.alpha[..., None])[..., 0] + np.cross(
        kin.omega, (inertia_world @ kin.omega[..., None])[..., 0])
    jc, jo, jw = _jacobians(model, q, idx, kin, config.jacobian_step)  # (T, n_j, nb, 3)
    tau = np.einsum("tbk,tjbk->tj", force_i, jc) + np.einsum("tbk,tjbk->tj", torque_i, jw)
    t = q.shape[0]
    grf = np.zeros((t, 2, 3))
    cop = np.zeros((t, 2, 3))
    free = np.zeros((t, 2))
    cop_jac = np.zeros((t, 2, len(names), 3))
    if with_ground_reactions:
        grf, cop, free = _ground_reactions(model, kin, force_i, torque_i, config, fps)
        for k, side in enumerate(("r", "l")):
            b = model.body_index(FOOT_BODIES[side][0])
            lever = cop[:, k] - kin.origin[:, b]  # (T, 3)
            cop_jac[:, k] = jo[:, :, b] + np.cross(jw[:, :, b], lever[:, None, :])
            tau -= np.einsum("tk,tjk->tj", grf[:, k], cop_jac[:, k]) + np.einsum(
                "t,tj->tj", free[:, k], jw[:, :, b, 1])
    return InverseDynamicsResult(names, tau, tau[:, :6].copy(), grf, cop, free, q, qd, qdd, cop_jac)
