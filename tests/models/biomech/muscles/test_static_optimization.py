"""Static optimisation: DeGroote-Fregly curves against OpenSim, the batched QP solver, small known problems."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from models.biomech.muscles.fit import sample_poses
from models.biomech.muscles.geometry import LEG_COORDINATES, LEG_DOFS, MUSCLE_BASE_NAMES, load_default_geometry
from models.biomech.muscles.static_optimization import (
    MuscleForceModel, StaticOptimizationConfig, active_force_length, force_velocity, kkt_violation,
    muscle_force_model, passive_force_length, solve_reserve_qp, static_optimization,
)

from .conftest import opensim_or_skip, pose2sim_model


def test_curve_landmarks():
    assert active_force_length(np.array([1.0]))[0] == pytest.approx(1.0, abs=0.01)
    assert force_velocity(np.array([0.0]))[0] == pytest.approx(1.0, abs=0.01)
    assert force_velocity(np.array([-1.0]))[0] < 0.05 and force_velocity(np.array([1.0]))[0] > 1.3
    assert passive_force_length(np.array([0.2]))[0] == pytest.approx(0.0, abs=1e-12)
    wide = active_force_length(np.array([0.6, 1.4]), 1.5)
    assert np.all(wide > active_force_length(np.array([0.6, 1.4])))


@pytest.mark.opensim
def test_curves_match_opensim():
    osim = opensim_or_skip()
    model = osim.Model(str(pose2sim_model("Model_Pose2Sim_muscles_flex.osim")))
    muscle = osim.DeGrooteFregly2016Muscle.safeDownCast(model.getMuscles().get("vaslat_r"))
    muscle.set_ignore_passive_fiber_force(False)
    lengths, speeds = np.linspace(0.3, 1.8, 31), np.linspace(-1, 1, 21)
    width, strain = muscle.get_active_force_width_scale(), muscle.get_passive_fiber_strain_at_one_norm_force()
    np.testing.assert_allclose(active_force_length(lengths, width),
                               [muscle.calcActiveForceLengthMultiplier(float(x)) for x in lengths], atol=1e-12)
    np.testing.assert_allclose(force_velocity(speeds), [muscle.calcForceVelocityMultiplier(float(v)) for v in speeds],
                               atol=1e-12)
    np.testing.assert_allclose(passive_force_length(lengths, strain),
                               [muscle.calcPassiveForceMultiplier(float(x)) for x in lengths], atol=1e-12)


@pytest.mark.opensim
def test_tendon_forces_match_opensim_rigid_tendon_muscles(muscle_sampler):
    """Same pose, activation 0.5, no motion: our tendon force equals OpenSim's for every right-leg muscle."""
    geometry = load_default_geometry()
    s = muscle_sampler
    for q_leg in sample_poses(2, 77):
        s.set_leg("r", q_leg)
        s.model.realizeVelocity(s.state)
        for m in s.muscles["r"]:
            m.setActivation(s.state, 0.5)
        s.model.equilibrateMuscles(s.state)
        s.model.realizeDynamics(s.state)
        theirs = np.array([m.getTendonForce(s.state) for m in s.muscles["r"]])
        q = np.zeros((1, len(LEG_COORDINATES)))
        q[0, :7] = q_leg
        assert LEG_COORDINATES[:7] == tuple(f"{d}_r" for d in LEG_DOFS)
        lengths, _ = geometry.evaluate(q)
        fm = muscle_force_model(geometry, lengths, np.zeros_like(lengths))
        idx = [geometry.muscle_index(f"{b}_r") for b in MUSCLE_BASE_NAMES]
        ours = (0.5 * fm.active_n + fm.passive_n)[0, idx]
        # Polynomial path lengths (sub-mm) are the only difference. Paths shorter than the tendon (fibre
        # length below 0.5 optimal) are left out: OpenSim's rigid tendon then gives negative forces.
        valid = fm.norm_fibre_length[0, idx] > 0.5
        assert valid.sum() >= 35
        np.testing.assert_allclose(ours[valid], theirs[valid], rtol=0.03, atol=15.0)


def test_reserve_qp_matches_bounded_least_squares():
    rng = np.random.default_rng(3)
    b, n, j = 40, 10, 3
    a = rng.normal(0, 3, (b, j, n))
    target = rng.normal(0, 30, (b, j))
    lower, upper = np.full(n, 0.01), np.ones(n)
    x, ok = solve_reserve_qp(a, target, lower, upper, weight=1.0)
    assert ok.all()
    for k in range(b):
        ref = lsq_linear(np.concatenate([np.eye(n), a[k]]), np.concatenate([np.zeros(n), target[k]]),
                         bounds=(lower, upper), method="bvls", tol=1e-12).x
        np.testing.assert_allclose(x[k], ref, atol=1e-7)
    active = (x <= lower + 1e-9) | (x >= upper - 1e-9)
    assert active.any() and (~active).any()  # both kinds of constraints exercised
    gradient = x - np.einsum("bjn,bj->bn", a, target - np.einsum("bjn,bn->bj", a, x))
    assert kkt_violation(x, gradient, np.broadcast_to(lower, x.shape), np.broadcast_to(upper, x.shape)).max() < 1e-7


def _one_joint(force_n: np.ndarray, arm_m: np.ndarray, moments: np.ndarray) -> tuple:
    t, m = len(moments), len(force_n)
    fm = MuscleForceModel(np.tile(force_n, (t, 1)), np.zeros((t, m)), np.ones((t, m)), np.zeros((t, m)),
                          np.ones((t, m)))
    arms = np.tile(arm_m[None, :, None], (t, 1, 1))
    return moments[:, None], arms, fm


def test_static_optimization_small_problems():
    # Two identical extensors and a flexor: the moment is shared equally by the extensors; the flexor rests.
    tau, arms, fm = _one_joint(np.array([1000.0, 1000.0, 1000.0]), np.array([-0.04, -0.04, 0.03]),
                               np.array([-20.0, -40.0, 10.0, -200.0]))
    res = static_optimization(tau, arms, fm, np.full(3, 0.01))
    a = res.activations
    assert np.all((a >= 0.01 - 1e-12) & (a <= 1 + 1e-12))
    np.testing.assert_allclose(a[:3, 0], a[:3, 1], atol=1e-9)
    assert a[0, 2] == pytest.approx(0.01) and a[2, 2] > 0.05
    produced = np.einsum("tmj,tm->tj", arms, res.tendon_forces_n)
    np.testing.assert_allclose(produced[:3] + res.reserves_n_m[:3], tau[:3], atol=1e-9)
    assert np.abs(res.reserves_n_m[:3]).max() < 0.05  # feasible: reserves nearly idle
    # -200 N m exceeds the extensors' 80 N m: both saturate and the reserve supplies the rest.
    np.testing.assert_allclose(a[3, :2], 1.0)
    assert res.reserves_n_m[3, 0] == pytest.approx(-200 + 80 - 0.01 * 30, abs=0.5)
    assert res.max_kkt_violation < 1e-6 and res.n_fallback_frames == 0
    # A weaker reserve (larger reserve_n_m is cheaper) gives a lower activation for the same moment.
    cheap = static_optimization(tau, arms, fm, np.full(3, 0.01), StaticOptimizationConfig(reserve_n_m=50.0))
    assert cheap.activations[1, 0] < a[1, 0]


def test_static_optimization_rejects_bad_input():
    tau, arms, fm = _one_joint(np.array([1000.0, 1000.0]), np.array([-0.04, 0.03]), np.array([-20.0, 5.0]))
    with pytest.raises(ValueError, match="disagree"):
        static_optimization(tau[:1], arms, fm, np.full(2, 0.01))
    with pytest.raises(ValueError, match="moments contain non-finite"):
        static_optimization(np.full_like(tau, np.nan), arms, fm, np.full(2, 0.01))
    with pytest.raises(ValueError, match="reserve_n_m"):
        StaticOptimizationConfig(reserve_n_m=0.0)
