"""torch forward kinematics: equal to numpy, differentiable, follows q's dtype."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge.skeleton import fk, fk_torch  # noqa: E402
from edge.skeleton.model import load_default  # noqa: E402

from .conftest import random_configurations  # noqa: E402

FUNCTIONS = ("body_transforms", "marker_positions", "joint_centres", "centre_of_mass")


@pytest.fixture(scope="module")
def model():
    return load_default()


def _check_equal(model, q: np.ndarray) -> None:
    qt = torch.tensor(q, dtype=torch.float64)
    for name in FUNCTIONS:
        expected = getattr(fk, name)(model, q)
        got = getattr(fk_torch, name)(model, qt)
        assert got.dtype == torch.float64 and tuple(got.shape) == expected.shape, name
        np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-9, err_msg=name)


def test_torch_equals_numpy_float64(model):
    q = random_configurations(model, 8, seed=5)  # knee up to its range end: spline extrapolation too
    _check_equal(model, q)
    _check_equal(model, q[0])  # single configuration


@pytest.mark.opensim
def test_torch_equals_numpy_with_coupled_coordinates(lai_export):
    sm, _, _ = lai_export
    _check_equal(sm, random_configurations(sm, 4, seed=6))


def test_gradients(model):
    q = torch.tensor(random_configurations(model, 2, seed=7), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: fk_torch.marker_positions(model, x), (q,), eps=1e-6, atol=1e-6)
    com = fk_torch.centre_of_mass(model, q).sum()
    (grad,) = torch.autograd.grad(com, q)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_follows_input_dtype(model):
    q = torch.zeros(3, model.n_coordinates, dtype=torch.float32)
    out = fk_torch.marker_positions(model, q)
    assert out.dtype == torch.float32 and out.device == q.device
    np.testing.assert_allclose(out.numpy(), fk.marker_positions(model, np.zeros((3, model.n_coordinates))), atol=1e-5)
    with pytest.raises(TypeError, match="floating-point"):
        fk_torch.marker_positions(model, torch.zeros(model.n_coordinates, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, 40\)"):
        fk_torch.marker_positions(model, torch.zeros(2, 41))
