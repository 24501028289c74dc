"""Per-frame marker inverse kinematics by OpenSim itself: the reference for, and an optional backend to, edge.ik.

Purpose: keep OpenSim the source of truth of the live lifter. ``OpenSimMarkerIK`` solves the same
world-marker problem as ``edge.ik.MarkerIK`` (same call, same ``IKResult``, coordinates in the
exported model's order) with OpenSim's ``InverseKinematicsSolver``, so the numpy solver can be checked
against it (tests/edge/test_ik_opensim.py, scripts/compare_ik_opensim.py) and, on x86-64, replaced by it.

Inputs: an .osim model (pose2sim's ``Model_Pose2Sim_simple.osim`` with ``Markers_BlazePose.xml``, or
any scaled model file carrying the markers), the marker names, per frame the target marker positions
(M, 3) in the ground frame (metres) and per-marker weights. Output: ``edge.ik.IKResult``.

Objective: MarkerIK's, less its foot-flat and balance terms (OpenSim's IK has no such goals):

    sum_i w_i |m_i(q) - x_i|^2  +  sum_k s_k (q_k - prior_k)^2  +  t sum_k (q_k - start_k)^2

within the coordinates the model clamps, with the fixed coordinates locked at their warm-start values.
The priors (s_k, on what the markers barely observe) and the temporal term (t) go in as OpenSim
coordinate goals. OpenSim normalises its marker goal, 1/2 sum w_i r_i^2 / sum w_i, and adds each
coordinate goal as c_k (q_k - v_k)^2 / 2, so c_k = (s_k + t) / sum w_i and v_k = (s_k prior_k +
t start_k) / (s_k + t) make its objective MarkerIK's divided by 2 sum w_i. A goal's value is fixed, so a
coupled prior (MarkerIK's lumbo-pelvic rhythm, solved jointly there) takes its source from the warm
start: the same objective when the warm start is the solution, and within a frame's motion of it
otherwise. The observations go into an
in-memory ``MarkersReference``; a marker with weight 0 or NaN becomes a missing observation, which
OpenSim ignores. Each frame builds a one-frame reference and solver and assembles from the warm start
(OpenSim's solver copies its reference, so a stream cannot feed one solver frame by frame, and its
``track`` cannot change goal weights, which follow the visible markers' total weight).

Convergence: OpenSim's optimiser (Simbody's L-BFGS-B) stops when the largest projected gradient of
its normalised objective is below ``accuracy``. Near the optimum that leaves an error
dq = W H^-1 g, W = sum w_i, |g_k| <= accuracy, with H = J'J + diag(s + t) MarkerIK's Gauss-Newton
Hessian: small where the markers observe a coordinate, large along directions they barely observe.
Without the priors, pelvis tilt, lumbar flexion and hip flexion form such a valley (smallest
eigenvalue ~2e-3 m^2/rad^2 on a squat), and at OpenSim's default 1e-5 the optimiser stopped
up to ~5 deg along it, at a point set by its iteration count: inputs moved by 1e-9 m moved hip
flexion by 3-5 deg. With the priors the valley is gone, and the pelvis, lumbar and leg angles stay
within that bound of the optimum (tests/edge/test_ik_opensim.py, which keeps the optimum off the
range limits: at a limit L-BFGS-B's other stopping rule, too little decrease of the objective, can
end it a few tenths of a degree earlier). What stays loose are the directions only a weak prior
holds: arm flexion against arm rotation (the model's shoulder is in gimbal lock at arm_add = -90 deg,
hanging arms) and forearm rotation.

Translation (``WorldTargets``): MarkerIK's world term compares markers relative to their mid-hip, so
it ignores where the targets are and keeps the pelvis translation at its warm start. HIP_CENTRED (the
default, MarkerIK's meaning) moves the targets so their mid-hip lies on the warm-start model's
mid-hip, lets OpenSim fit the translation with the angles (no coordinate goal on it), and returns the
warm start's translation (as MarkerIK does), so absolute and hip-centred targets give the same angles.
ABSOLUTE takes the targets as ground-frame positions and returns the fitted translation. Either way
OpenSim's problem has a free translation, where MarkerIK pins the two mid-hips together: on exact
markers both reach the same pose; on noisy ones the free translation spreads the misfit over all
markers, and the two fits differ by degrees where that misfit is large (real landmarks: up to
~15 deg of hip flexion on a sit-to-stand, scripts/compare_ik_opensim.py).

OpenSim has no Linux aarch64 wheel (Jetson): it is imported only when a solver is built, with a
clear error where it is missing.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.ik import IKConfig, IKResult, check_priors, coupling_matrix

_TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")


class WorldTargets(enum.Enum):
    """What the target positions fix (see the module docstring)."""

    HIP_CENTRED = "hip_centred"  # only positions relative to the targets' mid-hip count (MarkerIK's meaning)
    ABSOLUTE = "absolute"  # ground-frame positions; the pelvis translation is fitted and returned


@dataclass(frozen=True)
class OpenSimIKConfig:
    """Settings of OpenSim's marker IK."""

    targets: WorldTargets = WorldTargets.HIP_CENTRED
    # OpenSim's IK accuracy: the optimiser stops when no coordinate's (projected) gradient of OpenSim's
    # normalised objective exceeds it (module docstring). On 40 frames of real landmarks (opencap_sts,
    # scripts/compare_ik_opensim.py), moving the inputs by 1e-9 m moves the result by up to 0.09 deg at
    # 1e-6 (hip flexion 0.01) against 0.85 deg at 1e-5 (hip flexion 0.24), for about twice the time
    # (~120 against ~65 ms a frame there, on a loaded core; OpenSim's 1e-5 without the priors took as
    # long as 1e-6 with them, and moved hip flexion by 2.7 deg)
    accuracy: float = 1e-6
    # locked at the warm start's values; MarkerIK's default set (edge.ik.IKConfig)
    fixed_coordinates: tuple[str, ...] = IKConfig.fixed_coordinates
    # MarkerIK's priors and temporal weight, in its units (per rad^2, against marker errors in m^2);
    # defaults: MarkerIK's
    prior_weights: tuple[tuple[str, float], ...] = IKConfig.prior_weights
    prior_couplings: tuple[tuple[str, str, float], ...] = IKConfig.prior_couplings
    temporal_weight: float = IKConfig.temporal_weight

    def __post_init__(self) -> None:
        if not isinstance(self.targets, WorldTargets):
            raise ValueError(f"targets must be a WorldTargets, got {self.targets!r}")
        if not 0 < self.accuracy < 1:
            raise ValueError(f"accuracy must be in (0, 1), got {self.accuracy}")
        if not self.temporal_weight >= 0:
            raise ValueError(f"temporal_weight must be >= 0, got {self.temporal_weight}")
        check_priors(self.prior_weights, self.prior_couplings)
        object.__setattr__(self, "fixed_coordinates", tuple(self.fixed_coordinates))
        object.__setattr__(self, "prior_weights", tuple((str(n), float(w)) for n, w in self.prior_weights))
        object.__setattr__(self, "prior_couplings",
                           tuple((str(n), str(s), float(r)) for n, s, r in self.prior_couplings))


def import_opensim() -> Any:
    """Import opensim with its console logging reduced to errors and no log file.

    Raises:
        ImportError: opensim is missing (x86-64 only; no Linux aarch64 wheel, so not on a Jetson).
    """
    try:
        import opensim
    except ImportError as exc:
        raise ImportError("the OpenSim IK backend needs the opensim package, which is not installed "
                          "(x86-64 only: pip install 'bige-edge[opensim]', i.e. opensim==4.6; there is no "
                          "aarch64/Jetson wheel, use edge.ik.MarkerIK there)") from exc
    opensim.Logger.setLevelString("error")
    opensim.Logger.removeFileSink()
    return opensim


def default_model_files() -> tuple[Path, Path]:
    """pose2sim's simple model and BlazePose marker set (the source of edge/assets' exported model).

    Raises:
        FileNotFoundError: pose2sim's OpenSim assets are not installed (edge.paths.pose2sim_setup_dir).
    """
    from edge.paths import pose2sim_setup_dir

    setup = pose2sim_setup_dir()
    return setup / "Model_Pose2Sim_simple.osim", setup / "Markers_BlazePose.xml"


class OpenSimMarkerIK:
    """OpenSim's inverse kinematics for one model and a fixed list of markers (edge.ik.MarkerIK's interface)."""

    def __init__(self, osim_path: str | Path, marker_names: Sequence[str], config: OpenSimIKConfig = OpenSimIKConfig(),
                 *, marker_set_path: str | Path | None = None,
                 coordinate_names: Sequence[str] | None = None) -> None:
        """Load the model and prepare a state.

        Args:
            osim_path: the .osim model (generic or scaled).
            marker_names: the IK markers, in the order of the observation rows.
            config: solver settings.
            marker_set_path: a MarkerSet .xml replacing the model's markers (e.g. Markers_BlazePose.xml).
            coordinate_names: order of q in and out (default: the exported model's, edge.skeleton.model).

        Raises:
            ImportError: opensim is missing.
            FileNotFoundError: a model or marker file does not exist.
            ValueError: markers or coordinates (names listed) do not match the model.
        """
        osim = import_opensim()
        for path in (osim_path, marker_set_path):
            if path is not None and not Path(path).is_file():
                raise FileNotFoundError(f"OpenSim IK: file not found: {path}")
        if coordinate_names is None:
            from edge.skeleton.model import load_default
            coordinate_names = load_default().coordinate_names
        self.config = config
        self.marker_names = list(marker_names)
        self.coordinate_names = tuple(coordinate_names)
        self._osim = osim
        model = osim.Model(str(osim_path))
        if marker_set_path is not None:
            model.updateMarkerSet(osim.MarkerSet(str(marker_set_path)))
        markers = model.getMarkerSet()
        missing = [m for m in self.marker_names if not markers.contains(m)]
        if missing:
            raise ValueError(f"OpenSim IK: markers not on model {osim_path}: {missing}")
        for hip in ("LHip", "RHip"):
            if hip not in self.marker_names:
                raise ValueError(f"OpenSim IK needs the {hip} marker (hip-centred targets, as edge.ik)")
        coords = model.getCoordinateSet()
        model_names = [coords.get(i).getName() for i in range(coords.getSize())]
        unknown = [c for c in (*self.coordinate_names, *config.fixed_coordinates,
                               *(name for name, _ in config.prior_weights),
                               *(c for coupling in config.prior_couplings for c in coupling[:2]))
                   if c not in model_names]
        if unknown:
            raise ValueError(f"OpenSim IK: coordinates not in model {osim_path}: {unknown}")
        for name in config.fixed_coordinates:
            coords.get(name).set_locked(True)
        self.model = model
        self.state = model.initSystem()
        self._coords = [coords.get(n) for n in self.coordinate_names]
        free = [n for n in model_names if n not in self.coordinate_names and not coords.get(n).isDependent(self.state)]
        if free:
            raise ValueError(f"OpenSim IK: model {osim_path} has independent coordinates missing from "
                             f"coordinate_names: {free}")
        self._fixed = [coords.get(n) for n in config.fixed_coordinates]
        self._translation = [self.coordinate_names.index(c) for c in _TRANSLATIONS if c in self.coordinate_names]
        self._marker_objects = [markers.get(m) for m in self.marker_names]
        self._lhip, self._rhip = self.marker_names.index("LHip"), self.marker_names.index("RHip")
        self.default_q = np.array([c.getDefaultValue() for c in self._coords])
        # coordinate goals (MarkerIK's priors and temporal term), one per free coordinate with a weight;
        # none on a hip-centred fit's translation, which only carries the targets' position
        hip_centred = config.targets is WorldTargets.HIP_CENTRED
        prior = dict(config.prior_weights)
        self._goal_index, self._prior_weight, self._temporal_weight = [], [], []
        for k, name in enumerate(self.coordinate_names):
            if name in config.fixed_coordinates or coords.get(name).isDependent(self.state):
                continue
            temporal = 0.0 if hip_centred and name in _TRANSLATIONS else config.temporal_weight
            if prior.get(name, 0.0) + temporal > 0:
                self._goal_index.append(k)
                self._prior_weight.append(prior.get(name, 0.0))
                self._temporal_weight.append(temporal)
        self._prior_weight, self._temporal_weight = np.array(self._prior_weight), np.array(self._temporal_weight)
        self._coupling = coupling_matrix(list(self.coordinate_names), config.prior_couplings)

    # ---- state access
    def _set_q(self, q: np.ndarray) -> None:
        for fixed in self._fixed:
            fixed.setLocked(self.state, False)
        for coord, value in zip(self._coords, q):
            coord.setValue(self.state, float(value), False)
        for fixed in self._fixed:
            fixed.setLocked(self.state, True)
        self.model.realizePosition(self.state)

    def _get_q(self) -> np.ndarray:
        return np.array([c.getValue(self.state) for c in self._coords])

    def _marker_array(self) -> np.ndarray:
        out = np.empty((len(self._marker_objects), 3))
        for i, marker in enumerate(self._marker_objects):
            p = marker.getLocationInGround(self.state)
            out[i] = (p.get(0), p.get(1), p.get(2))
        return out

    def markers(self, q: np.ndarray) -> np.ndarray:
        """Positions (M, 3) of the IK markers for coordinates q (n,), by OpenSim's kinematics."""
        self._set_q(self._check_q(q))
        return self._marker_array()

    def _check_q(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (len(self._coords),) or not np.isfinite(q).all():
            raise ValueError(f"OpenSim IK: q must be {len(self._coords)} finite values, got shape {q.shape}")
        return q

    # ---- solving
    def solve(self, q_start: np.ndarray, *, world_m: np.ndarray, world_weights: np.ndarray | None = None) -> IKResult:
        """Fit the model to one frame of world-marker observations, warm-started from q_start.

        Args:
            q_start: (n,) warm start (the previous solution), coordinate_names order.
            world_m: (M, 3) target marker positions, ground frame (hip-centred or absolute, per config).
            world_weights: (M,) non-negative weights (default 1); rows with NaN or weight 0 are ignored.

        Returns:
            The solution, its weighted RMS marker distance (metres; hip-centred for HIP_CENTRED) and
            iterations = 1 (one OpenSim assemble; OpenSim does not report its optimiser's iterations).
            The temporal term pulls toward q_start.

        Raises:
            ValueError: bad shapes, non-finite q_start, or no marker with a positive weight.
        """
        x = np.asarray(world_m, dtype=np.float64)
        n = len(self.marker_names)
        if x.shape != (n, 3):
            raise ValueError(f"OpenSim IK: world_m must have shape ({n}, 3), got {x.shape}")
        if world_weights is not None and np.shape(world_weights) != (n,):
            raise ValueError(f"OpenSim IK: world_weights must have shape ({n},), got {np.shape(world_weights)}")
        x, w = self._observations(x[None], None if world_weights is None else np.asarray(world_weights)[None])
        return self._run(self._check_q(q_start), x, w)[0]

    def solve_sequence(self, q_start: np.ndarray, world_m: np.ndarray, world_weights: np.ndarray | None = None
                       ) -> list[IKResult]:
        """Fit T frames in order, each frame as ``solve`` warm-started from the previous solution.

        Args:
            q_start: (n,) warm start of the first frame.
            world_m: (T, M, 3) target marker positions per frame (as ``solve``).
            world_weights: (T, M) weights per frame (default 1).

        Returns:
            One result per frame (as ``solve``).

        Raises:
            ValueError: bad shapes, non-finite q_start, or a frame with no marker of positive weight.
        """
        x, w = self._observations(np.asarray(world_m), None if world_weights is None else np.asarray(world_weights))
        return self._run(self._check_q(q_start), x, w)

    def _observations(self, x: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(T, M, 3) targets with NaN rows where a marker is missing or has weight 0, and (T, M) weights."""
        n = len(self.marker_names)
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (n, 3) or x.shape[0] < 1:
            raise ValueError(f"OpenSim IK: world_m must have shape ({n}, 3) per frame, got {x.shape}")
        w = np.ones(x.shape[:2]) if w is None else np.asarray(w, dtype=np.float64)
        if w.shape != x.shape[:2]:
            raise ValueError(f"OpenSim IK: world_weights must have shape {x.shape[:2]}, got {w.shape}")
        w = np.where(np.isfinite(x).all(axis=2) & np.isfinite(w), np.clip(w, 0.0, None), 0.0)
        empty = np.flatnonzero(w.sum(axis=1) <= 0)
        if empty.size:
            raise ValueError(f"OpenSim IK: no marker has a positive weight in frame(s) {empty[:10].tolist()}")
        hips_seen = (w[:, self._lhip] > 0) & (w[:, self._rhip] > 0)
        if self.config.targets is WorldTargets.HIP_CENTRED and not hips_seen.all():
            raise ValueError(f"OpenSim IK: hip-centred targets need LHip and RHip (positive weight) in every "
                             f"frame; missing in frame(s) {np.flatnonzero(~hips_seen)[:10].tolist()}")
        x = np.where((w > 0)[..., None], x, np.nan)
        return x, w

    def _run(self, q_start: np.ndarray, x: np.ndarray, w: np.ndarray) -> list[IKResult]:
        results, q = [], q_start
        for x_t, w_t in zip(x, w):
            results.append(self._solve_frame(q, x_t, w_t))
            q = results[-1].q
        return results

    def _solve_frame(self, q_start: np.ndarray, x: np.ndarray, w: np.ndarray) -> IKResult:
        """One frame: targets x (M, 3) with NaN rows where w (M,) is 0, assembled from q_start."""
        osim = self._osim
        hip_centred = self.config.targets is WorldTargets.HIP_CENTRED
        hips = [self._lhip, self._rhip]
        self._set_q(q_start)
        if hip_centred:  # the targets' mid-hip on the warm-start model's mid-hip; the translation absorbs the rest
            x = x - x[hips].mean(axis=0) + self._marker_array()[hips].mean(axis=0)
        table = osim.TimeSeriesTableVec3()
        table.setColumnLabels(self.marker_names)
        table.appendRow(0.0, osim.RowVectorVec3([osim.Vec3(*map(float, p)) for p in x]))
        weight_set = osim.SetMarkerWeights()
        for name, weight in zip(self.marker_names, w):
            weight_set.cloneAndAppend(osim.MarkerWeight(name, float(weight) if weight > 0 else 1.0))
        # coordinate goals c_k (q_k - v_k)^2 / 2 beside OpenSim's normalised marker goal (module docstring)
        k = self._goal_index
        s, t = self._prior_weight, self._temporal_weight
        prior = self.default_q + self._coupling @ (q_start - self.default_q)  # coupled priors as MarkerIK's
        values = (s * prior[k] + t * q_start[k]) / (s + t)
        references = osim.SimTKArrayCoordinateReference()
        for index, value, weight in zip(k, values, (s + t) / w.sum()):
            reference = osim.CoordinateReference(self.coordinate_names[index], osim.Constant(float(value)))
            reference.setWeight(float(weight))
            references.push_back(reference)
        solver = osim.InverseKinematicsSolver(self.model, osim.MarkersReference(table, weight_set), references)
        solver.setAccuracy(self.config.accuracy)
        self.state.setTime(0.0)
        solver.assemble(self.state)
        self.model.realizePosition(self.state)
        q = self._get_q()
        m = self._marker_array()
        if hip_centred:
            q[self._translation] = q_start[self._translation]
            m = m - m[hips].mean(axis=0)
            x = x - x[hips].mean(axis=0)
        sq = np.nansum((m - x) ** 2, axis=1)
        rms = math.sqrt(float((w * sq).sum() / w.sum()))
        return IKResult(q=q, marker_rms_m=rms, iterations=1)
