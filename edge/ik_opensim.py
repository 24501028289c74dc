"""Per-frame marker inverse kinematics by OpenSim itself: the reference for, and an optional backend to, edge.ik.

Purpose: keep OpenSim the source of truth of the live lifter. ``OpenSimMarkerIK`` solves the same
world-marker problem as ``edge.ik.MarkerIK`` (same call, same ``IKResult``, coordinates in the
exported model's order) with OpenSim's ``InverseKinematicsSolver``, so the numpy solver can be checked
against it (tests/edge/test_ik_opensim.py, scripts/compare_ik_opensim.py) and, on x86-64, replaced by it.

Inputs: an .osim model (pose2sim's ``Model_Pose2Sim_simple.osim`` with ``Markers_BlazePose.xml``, or
any scaled model file carrying the markers), the marker names, per frame the target marker positions
(M, 3) in the ground frame (metres) and per-marker weights. Output: ``edge.ik.IKResult``.

Algorithm: OpenSim minimises sum_i w_i |m_i(q) - x_i|^2 over the coordinates, within the coordinates
the model clamps, with the fixed coordinates locked at their warm-start values. The observations go
into an in-memory ``MarkersReference`` (a ``TimeSeriesTableVec3``; a marker with weight 0 or NaN
becomes a missing observation, which OpenSim ignores). ``solve`` builds a one-frame reference and
solver and assembles from the warm start (OpenSim's solver copies its reference, so a live stream
cannot feed a solver frame by frame); ``solve_sequence`` puts a whole trial in one table, assembles
the first frame and tracks the rest, each from the previous solution (OpenSim's IK tool's scheme).

Translation (``WorldTargets``): MarkerIK's world term compares markers relative to their mid-hip, so
it ignores where the targets are and keeps the pelvis translation at its warm start. HIP_CENTRED (the
default, MarkerIK's meaning) moves the targets so their mid-hip lies on the warm-start model's
mid-hip, lets OpenSim fit the translation with the angles, and returns the warm start's translation
(as MarkerIK does), so absolute and hip-centred targets give the same angles. ABSOLUTE takes the
targets as ground-frame positions and returns the fitted translation. Either way OpenSim's problem
has a free translation, where MarkerIK pins the two mid-hips together: on exact markers both reach
the same pose; on noisy ones the free translation spreads the misfit over all markers, and angles
the markers barely observe (hip rotation with straight legs) differ by degrees between the two.
(Pinning a virtual mid-hip marker with a heavy weight would make the objectives equal, but OpenSim
normalises its marker goal by the total weight, and its optimiser then stops far from the optimum.)

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

from edge.ik import IKConfig, IKResult

_TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")


class WorldTargets(enum.Enum):
    """What the target positions fix (see the module docstring)."""

    HIP_CENTRED = "hip_centred"  # only positions relative to the targets' mid-hip count (MarkerIK's meaning)
    ABSOLUTE = "absolute"  # ground-frame positions; the pelvis translation is fitted and returned


@dataclass(frozen=True)
class OpenSimIKConfig:
    """Settings of OpenSim's marker IK."""

    targets: WorldTargets = WorldTargets.HIP_CENTRED
    # OpenSim's IK accuracy (convergence tolerance of its optimiser); 1e-5 is OpenSim's and pose2sim's
    # setting. On exact squat markers it stops ~2 deg (pelvis tilt) short of the exact fit; 1e-6 agrees
    # with edge.ik.MarkerIK within 1 deg at several times the cost (tests/edge/test_ik_opensim.py)
    accuracy: float = 1e-5
    # locked at the warm start's values; MarkerIK's default set (edge.ik.IKConfig)
    fixed_coordinates: tuple[str, ...] = IKConfig.fixed_coordinates

    def __post_init__(self) -> None:
        if not isinstance(self.targets, WorldTargets):
            raise ValueError(f"targets must be a WorldTargets, got {self.targets!r}")
        if not 0 < self.accuracy < 1:
            raise ValueError(f"accuracy must be in (0, 1), got {self.accuracy}")
        object.__setattr__(self, "fixed_coordinates", tuple(self.fixed_coordinates))


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
        unknown = [c for c in (*self.coordinate_names, *config.fixed_coordinates) if c not in model_names]
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
        """Fit T frames in order: assemble the first from q_start, then track each from the previous solution.

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
        osim = self._osim
        hip_centred = self.config.targets is WorldTargets.HIP_CENTRED
        self._set_q(q_start)
        if hip_centred:  # every frame's mid-hip on the warm-start model's mid-hip; the translation absorbs the rest
            model_mid_hip = self._marker_array()[[self._lhip, self._rhip]].mean(axis=0)
            x = x - x[:, [self._lhip, self._rhip]].mean(axis=1, keepdims=True) + model_mid_hip
        table = osim.TimeSeriesTableVec3()
        table.setColumnLabels(self.marker_names)
        for t, frame in enumerate(x):
            table.appendRow(float(t), osim.RowVectorVec3([osim.Vec3(*map(float, p)) for p in frame]))
        weight_set = osim.SetMarkerWeights()
        for name, weight in zip(self.marker_names, w[0]):
            weight_set.cloneAndAppend(osim.MarkerWeight(name, float(weight) if weight > 0 else 1.0))
        solver = osim.InverseKinematicsSolver(self.model, osim.MarkersReference(table, weight_set),
                                              osim.SimTKArrayCoordinateReference())
        solver.setAccuracy(self.config.accuracy)
        results = []
        for t in range(x.shape[0]):
            self.state.setTime(float(t))
            if t == 0:
                solver.assemble(self.state)
            else:
                for k in np.flatnonzero((w[t] != w[t - 1]) & (w[t] > 0)):  # weight 0: observation NaN (missing)
                    solver.updateMarkerWeight(self.marker_names[k], float(w[t, k]))
                solver.track(self.state)
            self.model.realizePosition(self.state)
            q = self._get_q()
            m = self._marker_array()
            if hip_centred:
                q[self._translation] = q_start[self._translation]
                m = m - m[[self._lhip, self._rhip]].mean(axis=0)
                target = x[t] - x[t, [self._lhip, self._rhip]].mean(axis=0)
            else:
                target = x[t]
            sq = np.nansum((m - target) ** 2, axis=1)
            rms = math.sqrt(float((w[t] * sq).sum() / w[t].sum()))
            results.append(IKResult(q=q, marker_rms_m=rms, iterations=1))
        return results
