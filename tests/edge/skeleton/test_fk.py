"""numpy forward kinematics: shapes, batching, consistency between outputs (no opensim needed)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.skeleton import fk
from edge.skeleton.model import load_default


@pytest.fixture(scope="module")
def model():
    return load_default()


def test_shapes_and_single_configuration(model):
    q = np.random.default_rng(0).uniform(-0.5, 0.5, (4, model.n_coordinates))
    n_b, n_m = len(model.bodies), len(model.markers)
    transforms = fk.body_transforms(model, q)
    assert transforms.shape == (4, n_b, 4, 4)
    assert fk.marker_positions(model, q).shape == (4, n_m, 3)
    assert fk.joint_centres(model, q).shape == (4, n_b, 3)
    assert fk.centre_of_mass(model, q).shape == (4, 3)
    np.testing.assert_allclose(fk.marker_positions(model, q[2]), fk.marker_positions(model, q)[2], atol=1e-15)
    np.testing.assert_allclose(fk.body_transforms(model, q[1]), transforms[1], atol=1e-15)
    rot = transforms[..., :3, :3]
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12)
    np.testing.assert_array_equal(transforms[..., 3, :], np.broadcast_to([0.0, 0.0, 0.0, 1.0], (4, n_b, 4)))


def test_outputs_agree_with_body_transforms(model):
    q = np.random.default_rng(1).uniform(-0.5, 0.5, (3, model.n_coordinates))
    transforms = fk.body_transforms(model, q)
    c = model.markers[5]
    expected = transforms[:, c.body, :3, :3] @ np.array(c.offset_m) + transforms[:, c.body, :3, 3]
    np.testing.assert_allclose(fk.marker_positions(model, q)[:, 5], expected, atol=1e-14)
    masses = np.array([b.mass_kg for b in model.bodies])
    com_b = np.einsum("bnij,nj->bni", transforms[..., :3, :3], np.array([b.mass_centre_m for b in model.bodies]))
    com = ((com_b + transforms[..., :3, 3]) * masses[:, None]).sum(1) / masses.sum()
    np.testing.assert_allclose(fk.centre_of_mass(model, q), com, atol=1e-14)


def test_pelvis_translation_moves_everything(model):
    q0 = model.default_q()
    q1 = q0.copy()
    q1[model.coordinate_index("pelvis_tx")] += 0.25
    moved = fk.marker_positions(model, np.stack([q0, q1]))
    np.testing.assert_allclose(moved[1] - moved[0], np.broadcast_to([0.25, 0.0, 0.0], moved[0].shape), atol=1e-14)


def test_wrong_shape_is_rejected(model):
    with pytest.raises(ValueError, match=r"expected shape \(B, 40\)"):
        fk.marker_positions(model, np.zeros((2, 39)))
    with pytest.raises(ValueError, match="got"):
        fk.body_transforms(model, np.zeros((2, 3, 40)))
