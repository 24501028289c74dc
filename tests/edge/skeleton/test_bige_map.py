"""Model coordinates <-> the 33 BIGE coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from edge.messages import BIGE_COORDINATES
from edge.skeleton import fk
from edge.skeleton.bige_map import bige_indices, from_bige, to_bige
from edge.skeleton.model import load_default


@pytest.fixture(scope="module")
def model():
    return load_default()


def test_round_trip_and_units(model):
    rng = np.random.default_rng(0)
    q = rng.uniform(-1, 1, (5, model.n_coordinates))
    qb = to_bige(model, q)
    assert qb.shape == (5, 33)
    i_knee, i_ty = BIGE_COORDINATES.index("knee_angle_r"), BIGE_COORDINATES.index("pelvis_ty")
    np.testing.assert_allclose(qb[:, i_knee], np.degrees(q[:, model.coordinate_index("knee_angle_r")]))
    np.testing.assert_allclose(qb[:, i_ty], q[:, model.coordinate_index("pelvis_ty")])  # metres stay metres
    i_lumbar = BIGE_COORDINATES.index("lumbar_extension")
    np.testing.assert_allclose(qb[:, i_lumbar], np.degrees(q[:, model.coordinate_index("L5_S1_Flex_Ext")]))
    back = from_bige(model, qb)
    mapped = bige_indices(model)
    np.testing.assert_allclose(back[:, mapped], q[:, mapped], atol=1e-14)
    unmapped = np.setdiff1d(np.arange(model.n_coordinates), mapped)
    assert {model.coordinate_names[i] for i in unmapped} == {
        "neck_flexion", "neck_bending", "neck_rotation", "wrist_flex_r", "wrist_dev_r", "wrist_flex_l", "wrist_dev_l"}
    np.testing.assert_array_equal(back[:, unmapped], np.broadcast_to(model.default_q()[unmapped], (5, unmapped.size)))
    assert from_bige(model, qb[0]).shape == (model.n_coordinates,)


def test_bad_shapes(model):
    with pytest.raises(ValueError, match="last axis 33"):
        from_bige(model, np.zeros((2, 35)))
    with pytest.raises(ValueError, match="last axis 40"):
        to_bige(model, np.zeros(33))


def _joint_axes_at_zero(model, eps=1e-6):
    """For each BIGE coordinate: (child body, rotation axis, translation direction) of its joint, in the
    parent body, from a small finite step at q = 0."""
    q0 = np.zeros(model.n_coordinates)
    out = []
    for i in bige_indices(model):
        name = model.coordinate_names[i]
        body = next(k for k, b in enumerate(model.bodies) if any(a.coordinate == name for a in b.joint.axes))
        parent = model.bodies[body].parent
        q1 = q0.copy()
        q1[i] += eps
        rel = []
        for t in fk.body_transforms(model, np.stack([q0, q1])):
            rel.append(t[body] if parent < 0 else np.linalg.inv(t[parent]) @ t[body])
        d_rot = rel[1][:3, :3] @ rel[0][:3, :3].T
        omega = np.array([d_rot[2, 1] - d_rot[1, 2], d_rot[0, 2] - d_rot[2, 0], d_rot[1, 0] - d_rot[0, 1]]) / (2 * eps)
        out.append((model.bodies[body].name, omega, (rel[1][:3, 3] - rel[0][:3, 3]) / eps))
    return out


@pytest.mark.opensim
def test_axes_and_signs_agree_with_lai_uhlrich(model, lai_export):
    lai, _, _ = lai_export
    for name, (body_a, w_a, v_a), (body_b, w_b, v_b) in zip(
            BIGE_COORDINATES, _joint_axes_at_zero(model), _joint_axes_at_zero(lai)):
        assert body_a == body_b, name
        np.testing.assert_allclose(w_a, w_b, atol=1e-3, err_msg=name)  # same axis, same sign
        if name.startswith("pelvis_t"):
            np.testing.assert_allclose(v_a, v_b, atol=1e-6, err_msg=name)
