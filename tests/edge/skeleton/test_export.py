"""The exporter: functions against OpenSim's calcValue, errors, and the export script (needs opensim)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.skeleton.export import ExportError, export_osim
from edge.skeleton.model import CubicSpline, Polynomial, SkeletonModel

from .conftest import opensim_or_skip, pose2sim_files

pytestmark = pytest.mark.opensim


@pytest.mark.parametrize("n_knots", [2, 3, 4, 7, 13])
def test_cubic_spline_matches_opensim_simmspline(n_knots):
    osim = opensim_or_skip()
    rng = np.random.default_rng(n_knots)
    x = np.sort(rng.uniform(-1.0, 2.0, n_knots))
    y = rng.normal(size=n_knots)
    theirs = osim.SimmSpline()
    for xi, yi in zip(x, y):
        theirs.addPoint(float(xi), float(yi))
    ours = CubicSpline.from_knots(x, y)
    xs = np.concatenate([np.linspace(x[0] - 1.0, x[-1] + 1.0, 301), x, 0.5 * (x[1:] + x[:-1])])
    expected = np.array([theirs.calcValue(osim.Vector(1, float(v))) for v in xs])
    np.testing.assert_allclose(ours(xs), expected, rtol=0, atol=1e-12)


def test_polynomial_coefficients_are_highest_power_first():
    osim = opensim_or_skip()
    coefficients = [0.3, -1.2, 0.5, 2.0]
    theirs = osim.PolynomialFunction(osim.Vector(coefficients))
    xs = np.linspace(-2, 2, 9)
    expected = [theirs.calcValue(osim.Vector(1, float(v))) for v in xs]
    np.testing.assert_allclose(Polynomial(tuple(coefficients))(xs), expected, rtol=0, atol=1e-12)


def test_export_reads_pose2sim_model(pose2sim_export):
    sm, _, _ = pose2sim_export
    assert sm.n_coordinates == 40 and len(sm.bodies) == 22 and len(sm.markers) == 25
    assert sm.bodies[0].name == "pelvis" and sm.bodies[0].parent == -1
    assert all(b.parent < i for i, b in enumerate(sm.bodies))
    assert sm.bodies[sm.body_index("tibia_r")].joint.opensim_type == "CustomJoint"
    assert any(isinstance(a.function, CubicSpline) for a in sm.bodies[sm.body_index("tibia_r")].joint.axes)


def test_export_rejects_missing_files_and_unsupported_joints(tmp_path):
    opensim_or_skip()
    with pytest.raises(FileNotFoundError, match="nope.osim"):
        export_osim(tmp_path / "nope.osim")
    osim_path, _ = pose2sim_files()
    text = osim_path.read_text(encoding="utf-8")
    # Turn the subtalar PinJoint into a SliderJoint (same sockets and coordinate), which is not supported.
    start = text.index('<PinJoint name="subtalar_r">')
    end = text.index("</PinJoint>", start) + len("</PinJoint>")
    block = text[start:end].replace("<PinJoint", "<SliderJoint").replace("</PinJoint>", "</SliderJoint>")
    bad = tmp_path / "slider.osim"
    bad.write_text(text[:start] + block + text[end:], encoding="utf-8")
    with pytest.raises(ExportError, match="subtalar_r.*SliderJoint"):
        export_osim(bad)


def test_export_script_writes_loadable_model(tmp_path):
    opensim_or_skip()
    from scripts.export_skeleton import main
    osim_path, markers = pose2sim_files()
    out = tmp_path / "model.json"
    assert main(["--osim", str(osim_path), "--markers", str(markers), "--out", str(out)]) == 0
    model = SkeletonModel.load(out)
    assert len(model.markers) == 25 and "pose2sim" in model.metadata["provenance"]
