"""SkeletonModel: JSON round trip, malformed input, functions, scaling rule (no opensim needed)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from edge.skeleton import fk
from edge.skeleton.model import (
    Constant, CubicSpline, Linear, ModelFormatError, Multiplier, Polynomial, SkeletonModel, load_default,
)


@pytest.fixture(scope="module")
def model() -> SkeletonModel:
    return load_default()


def test_default_model_contents(model):
    assert model.name == "Pose2Sim_Simple"
    assert model.n_coordinates == 40 and len(model.bodies) == 22 and len(model.markers) == 25
    assert "knee_angle_r" in model.coordinate_names and "RHeel" in model.marker_names
    assert model.metadata["licence"].startswith("BSD-3-Clause")


def test_json_round_trip_is_exact(model, tmp_path):
    path = tmp_path / "m.json"
    model.save(path)
    again = SkeletonModel.load(path)
    assert again == model
    q = np.random.default_rng(0).uniform(-1, 1, (3, model.n_coordinates))
    np.testing.assert_array_equal(fk.marker_positions(again, q), fk.marker_positions(model, q))
    scaled = model.scaled({"femur_r": [1.1, 0.9, 1.0]})
    scaled.save(path)
    assert SkeletonModel.load(path) == scaled  # Multiplier functions survive too


def _broken(model: SkeletonModel, tmp_path, edit) -> str:
    d = copy.deepcopy(model.to_dict())
    edit(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ModelFormatError) as info:
        SkeletonModel.load(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_malformed_json_gives_clear_errors(model, tmp_path):
    msg = _broken(model, tmp_path, lambda d: d["bodies"][3].pop("mass_kg"))
    assert "bodies[3]" in msg and "mass_kg" in msg
    msg = _broken(model, tmp_path, lambda d: d["markers"][0].__setitem__("offset_m", [0.1, 0.2]))
    assert "markers[0]" in msg and "offset_m" in msg and "3 numbers" in msg
    msg = _broken(model, tmp_path, lambda d: d["bodies"][2]["joint"]["axes"].pop())
    assert "6 transform axes" in msg
    msg = _broken(model, tmp_path, lambda d: d["bodies"][1]["joint"]["parent_offset"].__setitem__(
        "rotation", [[1, 0, 0], [0, 1, 0]]))
    assert "rotation" in msg and "3x3" in msg
    msg = _broken(model, tmp_path, lambda d: d["bodies"][2]["joint"]["axes"][0]["function"].__setitem__("type", "sine"))
    assert "unknown function type 'sine'" in msg
    msg = _broken(model, tmp_path, lambda d: d["bodies"][0].__setitem__("parent", 5))
    assert "parent index 5" in msg
    msg = _broken(model, tmp_path, lambda d: d["bodies"][2]["joint"]["axes"][0].__setitem__("coordinate", "nope"))
    assert "unknown coordinate 'nope'" in msg
    msg = _broken(model, tmp_path, lambda d: d["coordinates"][0].__setitem__("motion_type", "twisty"))
    assert "motion_type" in msg and "twisty" in msg
    msg = _broken(model, tmp_path, lambda d: d.pop("coordinates"))
    assert "missing field 'coordinates'" in msg
    bad = tmp_path / "garbage.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        SkeletonModel.load(bad)


def test_functions():
    x = np.array([-1.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(Linear(2.0, 1.0)(x), 2 * x + 1)
    np.testing.assert_allclose(Polynomial((1.0, 0.0, -1.0))(x), x**2 - 1)
    np.testing.assert_allclose(Multiplier(3.0, Constant(0.5))(x), np.full(4, 1.5))
    knots = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    spline = CubicSpline.from_knots(knots, np.sin(knots))
    np.testing.assert_allclose(spline(knots), np.sin(knots), atol=1e-15)  # interpolates
    np.testing.assert_allclose(spline(np.array([0.75])), np.sin(0.75), atol=2e-3)
    # Linear extrapolation with the end slopes.
    left, right = spline(np.array([-1.0, -0.5])), spline(np.array([3.0, 3.5]))
    assert left[1] - left[0] == pytest.approx(0.5 * spline.b[0])
    assert right[1] - right[0] == pytest.approx(0.5 * spline.b[-1])
    with pytest.raises(ModelFormatError, match="strictly increasing"):
        CubicSpline.from_knots([0.0, 0.0, 1.0], [1.0, 2.0, 3.0])


def test_scaled_applies_opensim_rule(model):
    s = np.array([1.2, 0.8, 1.1])
    scaled = model.scaled({"femur_r": s}, mass_kg=80.0)
    i = model.body_index("femur_r")
    np.testing.assert_allclose(scaled.bodies[i].mass_centre_m, np.array(model.bodies[i].mass_centre_m) * s)
    knee = scaled.bodies[model.body_index("tibia_r")].joint
    np.testing.assert_allclose(knee.parent_offset.translation,
                               np.array(model.bodies[model.body_index("tibia_r")].joint.parent_offset.translation) * s)
    for ax in knee.axes[3:]:  # translation functions scaled by axis . s_parent
        assert isinstance(ax.function, Multiplier) and ax.function.scale == pytest.approx(np.dot(ax.axis, s))
    assert scaled.bodies[0].joint == model.bodies[0].joint  # pelvis hangs on ground: its joint is not scaled
    assert sum(b.mass_kg for b in scaled.bodies) == pytest.approx(80.0)
    assert scaled.metadata["body_scales"] == {"femur_r": s.tolist()}
    with pytest.raises(KeyError, match="femur_x"):
        model.scaled({"femur_x": s})
    with pytest.raises(ValueError, match="3 positive numbers"):
        model.scaled({"femur_r": [1.0, -1.0, 1.0]})
