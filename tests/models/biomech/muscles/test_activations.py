"""The activation pipeline on a synthetic squat and on a real squat trial (plausibility, not exact values)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.motion_io import read_mot, resample, to_bige33
from edge.skeleton.bige_map import to_bige
from models.biomech.muscles.activations import MuscleActivationConfig, MuscleActivationEstimator
from models.biomech.muscles.geometry import BIGE_MUSCLE_ORDER

from .conftest import squat_trial_or_skip, synthetic_squat

VASTI = ("vaslat", "vasmed", "vasint")
GLUTEUS_MAXIMUS = ("glmax1", "glmax2", "glmax3")


@pytest.fixture(scope="module")
def estimator() -> MuscleActivationEstimator:
    return MuscleActivationEstimator()


def test_synthetic_squat(estimator):
    model = estimator.model
    q, _, _, _ = synthetic_squat(model, n_frames=180, fps=60.0, depth_deg=95.0)  # a 3 s squat
    res = estimator.from_bige(to_bige(model, q), 60.0)
    a = res.activations
    assert res.names == BIGE_MUSCLE_ORDER and a.shape == (180, 80)
    assert np.all((a >= 0.01 - 1e-9) & (a <= 1 + 1e-9))
    assert res.max_kkt_violation < 1e-3 and res.n_fallback_frames == 0
    assert res.tendon_iteration_change < 0.05  # the compliant-tendon passes have settled
    # Symmetric motion: nearly symmetric activations (each leg has its own fit, moment arms differ ~1 mm).
    np.testing.assert_allclose(a[:, :40], a[:, 40:], atol=0.03)
    bottom = 90
    for group in (VASTI, GLUTEUS_MAXIMUS):
        total = sum(res.muscle(f"{m}_r") for m in group)
        assert abs(int(np.argmax(total)) - bottom) <= 25, group  # peak near the bottom of the squat
        assert total[bottom] > 3 * total[10], group  # far more active at the bottom than standing
    # Muscles supply the knee and hip moments: reserves are a small part of them at the bottom.
    knee = res.joint_names.index("knee_angle_r")
    assert abs(res.reserves_n_m[bottom, knee]) < 0.1 * abs(res.moments_n_m[bottom, knee])


def test_internal_force_between_the_feet(estimator):
    """The internal force is a pair along the line joining the centres of pressure: the total ground reaction
    and the pelvis residuals (whole-body balance) are those of inverse dynamics alone; friction bounds each
    foot's force along that line; the moments balanced are the inverse-dynamics moments it changes."""
    mot = resample(to_bige33(read_mot(squat_trial_or_skip())), 60.0)
    q = mot.values[:240]
    res = estimator.from_bige(q, 60.0)
    plain = MuscleActivationEstimator(config=MuscleActivationConfig(internal_force=False)).from_bige(q, 60.0)
    assert np.abs(res.internal_force_n).max() > 20.0 and np.all(plain.internal_force_n == 0)
    np.testing.assert_allclose(res.inverse_dynamics.grf_n.sum(1), plain.inverse_dynamics.grf_n.sum(1), atol=1e-9)
    idr = res.inverse_dynamics  # (equal up to the finite-difference Jacobians' error)
    np.testing.assert_allclose(idr.pelvis_residuals, plain.inverse_dynamics.pelvis_residuals, atol=1e-4)
    np.testing.assert_allclose(res.moments_n_m, idr.moments(res.joint_names), atol=1e-9)
    assert np.abs(res.moments_n_m - plain.moments_n_m).max() > 5.0
    cop = idr.cop_m
    u = cop[:, 1] - cop[:, 0]
    u[:, 1] = 0
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    along = np.abs(np.einsum("tfk,tk->tf", idr.grf_n, u))
    assert np.all(along <= 0.8 * idr.grf_n[..., 1] + 1e-6)
    # Letting the muscles choose the force needs no more reserve than fixing it.
    assert np.sum(res.reserves_n_m ** 2) <= np.sum(plain.reserves_n_m ** 2) + 1e-6


def test_real_squat_trial(estimator):
    mot = resample(to_bige33(read_mot(squat_trial_or_skip())), 60.0)
    res = estimator.from_bige(mot.values, 60.0)
    assert np.all(np.isfinite(res.activations))
    assert np.all((res.activations >= 0.01 - 1e-9) & (res.activations <= 1 + 1e-9))
    for side in "rl":
        knee = mot.column(f"knee_angle_{side}")
        vasti = sum(res.muscle(f"{m}_{side}") for m in VASTI)
        glmax = sum(res.muscle(f"{m}_{side}") for m in GLUTEUS_MAXIMUS)
        assert np.corrcoef(vasti, knee)[0, 1] > 0.6, side
        assert np.corrcoef(glmax, knee)[0, 1] > 0.4, side


def test_bad_input_and_config(estimator):
    with pytest.raises(ValueError, match="33"):
        estimator.from_bige(np.zeros((60, 30)), 60.0)
    with pytest.raises(ValueError, match="too few"):
        estimator.from_bige(np.zeros((12, 33)), 60.0)
    with pytest.raises(ValueError, match="length_scale"):
        MuscleActivationConfig(length_scale=-1.0)
    with pytest.raises(ValueError, match="tendon_iterations"):
        MuscleActivationConfig(tendon_iterations=-1)
    with pytest.raises(ValueError, match="friction_coefficient"):
        MuscleActivationConfig(friction_coefficient=3.0)
    with pytest.raises(ValueError, match="internal_force_unit_bw"):
        MuscleActivationConfig(internal_force_unit_bw=0.0)
