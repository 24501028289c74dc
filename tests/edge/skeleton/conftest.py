"""Fixtures for the skeleton tests: exported models and OpenSim's own kinematics as the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.paths import pose2sim_setup_dir, shared_dir
from edge.skeleton.model import SkeletonModel


def opensim_or_skip():
    """The opensim module (console logging reduced), or skip the test."""
    try:
        from edge.skeleton.export import import_opensim
        return import_opensim()
    except ImportError as exc:
        pytest.skip(f"opensim not importable: {exc}")


def pose2sim_files() -> tuple[Path, Path]:
    try:
        setup = pose2sim_setup_dir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return setup / "Model_Pose2Sim_simple.osim", setup / "Markers_BlazePose.xml"


def lai_files() -> tuple[Path, Path]:
    folder = shared_dir() / "models"
    osim, markers = folder / "LaiUhlrich2022.osim", folder / "LaiUhlrich2022_markers_mocap.xml"
    for p in (osim, markers):
        if not p.is_file():
            pytest.skip(f"shared model file missing: {p}")
    return osim, markers


class OpenSimReference:
    """An opensim.Model with a state, giving OpenSim's kinematics at a configuration."""

    def __init__(self, osim, osim_path: Path, marker_xml: Path | None):
        self.osim = osim
        self.model = osim.Model(str(osim_path))
        if marker_xml is not None:
            self.model.updateMarkerSet(osim.MarkerSet(str(marker_xml)))
        self.state = self.model.initSystem()

    def reinit(self) -> None:
        self.state = self.model.initSystem()

    def set_q(self, names: list[str], values: np.ndarray) -> None:
        coords = self.model.getCoordinateSet()
        for name, v in zip(names, values):
            coords.get(name).setValue(self.state, float(v), False)
        self.model.realizePosition(self.state)

    @staticmethod
    def _vec(v) -> np.ndarray:
        return np.array([v.get(i) for i in range(3)])

    def body_transform(self, name: str) -> np.ndarray:
        x = self.model.getBodySet().get(name).getTransformInGround(self.state)
        out = np.eye(4)
        rot = x.R().asMat33()
        out[:3, :3] = [[rot.get(i, j) for j in range(3)] for i in range(3)]
        out[:3, 3] = self._vec(x.p())
        return out

    def marker(self, name: str) -> np.ndarray:
        return self._vec(self.model.getMarkerSet().get(name).getLocationInGround(self.state))

    def joint_centre(self, joint: str) -> np.ndarray:
        return self._vec(self.model.getJointSet().get(joint).getChildFrame().getPositionInGround(self.state))

    def centre_of_mass(self) -> np.ndarray:
        return self._vec(self.model.calcMassCenterPosition(self.state))

    def constraint_error(self) -> float:
        qerr = self.state.getQErr()
        return max((abs(qerr.get(i)) for i in range(qerr.size())), default=0.0)


@pytest.fixture(scope="session")
def pose2sim_export() -> tuple[SkeletonModel, Path, Path]:
    osim = opensim_or_skip()  # noqa: F841 (skip early)
    from edge.skeleton.export import export_osim
    osim_path, markers = pose2sim_files()
    return export_osim(osim_path, markers), osim_path, markers


@pytest.fixture(scope="session")
def lai_export() -> tuple[SkeletonModel, Path, Path]:
    opensim_or_skip()
    from edge.skeleton.export import export_osim
    osim_path, markers = lai_files()
    return export_osim(osim_path, markers), osim_path, markers


def random_configurations(model: SkeletonModel, n: int, seed: int) -> np.ndarray:
    """(n, n_coordinates) uniform within each coordinate's range."""
    rng = np.random.default_rng(seed)
    lo = np.array([c.range_min for c in model.coordinates])
    hi = np.array([c.range_max for c in model.coordinates])
    return lo + (hi - lo) * rng.random((n, model.n_coordinates))
