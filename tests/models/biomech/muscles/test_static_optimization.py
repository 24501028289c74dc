"""Static optimisation: DeGroote-Fregly curves against OpenSim, the batched QP solver, small known problems."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from models.biomech.muscles.fit import OpenSimMuscleSampler, sample_poses
from models.biomech.muscles.geometry import (
    LEG_COORDINATES, MUSCLE_BASE_NAMES, Muscle, MuscleGeometry, load_default_geometry,
)
from models.biomech.muscles.static_optimization import (
    MuscleForceModel, StaticOptimizationConfig, active_force_length, equilibrium_tendon_lengths, force_velocity,
    kkt_violation, muscle_force_model, passive_force_length, solve_reserve_qp, static_optimization,
    tendon_force_length, tendon_length_at_force,
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
    tendon = np.linspace(0.99, 1.06, 15)
    t_strain = muscle.get_tendon_strain_at_one_norm_force()
    np.testing.assert_allclose(tendon_force_length(tendon, t_strain),
                               [muscle.calcTendonForceMultiplier(float(x)) for x in tendon], atol=1e-12)


def _opensim_parameter_geometry(sampler) -> MuscleGeometry:
    """The right leg's muscles with the OpenSim model's own parameters (the asset's ankle muscles are
    rescaled) and the shipped paths (unused: lengths come from OpenSim)."""
    shipped = load_default_geometry()
    return MuscleGeometry(tuple(Muscle(f"{b}_r", sampler.parameters("r", i), shipped.muscles[shipped.muscle_index(
        f"{b}_r")].path) for i, b in enumerate(MUSCLE_BASE_NAMES)), shipped.coordinates)


def _opensim_state(sampler, q_leg: np.ndarray, activation: float, compliant: bool) -> tuple:
    """Path lengths (1, 40), tendon forces (40,), normalised fibre lengths (40,) and which muscles
    OpenSim could equilibrate, at a pose with every right-leg muscle at one activation."""
    osim = sampler.osim
    sampler.set_leg("r", q_leg)
    sampler.model.realizeVelocity(sampler.state)
    ok = np.ones(40, dtype=bool)
    for k, m in enumerate(sampler.muscles["r"]):
        m.setActivation(sampler.state, activation)
        if compliant:  # OpenSim's bisection fails where the path is shorter than the slack tendon: skipped
            try:
                osim.DeGrooteFregly2016Muscle.safeDownCast(m).computeInitialFiberEquilibrium(sampler.state)
            except RuntimeError:
                ok[k] = False
    sampler.model.realizeDynamics(sampler.state)
    muscles = sampler.muscles["r"]
    return (np.array([[m.getLength(sampler.state) for m in muscles]]),
            np.array([m.getTendonForce(sampler.state) for m in muscles]),
            np.array([m.getNormalizedFiberLength(sampler.state) for m in muscles]), ok)


@pytest.mark.opensim
def test_tendon_forces_match_opensim_rigid_tendon_muscles(muscle_sampler):
    """Same pose and path length, activation 0.5, no motion: our rigid-tendon force equals OpenSim's."""
    geometry = _opensim_parameter_geometry(muscle_sampler)
    for q_leg in sample_poses(2, 77):
        lengths, theirs, _, _ = _opensim_state(muscle_sampler, q_leg, 0.5, compliant=False)
        fm = muscle_force_model(geometry, lengths, np.zeros_like(lengths))
        ours = (0.5 * fm.active_n + fm.passive_n)[0]
        # Paths shorter than the tendon (fibre length below 0.5 optimal) are left out: OpenSim's rigid
        # tendon then gives negative forces.
        valid = fm.norm_fibre_length[0] > 0.5
        assert valid.sum() >= 30
        np.testing.assert_allclose(ours[valid], theirs[valid], rtol=1e-6, atol=1e-6)


@pytest.mark.opensim
def test_compliant_tendon_equilibrium_matches_opensim():
    """OpenSim's DeGrooteFregly2016Muscle with compliant tendons, equilibrated at activation 0.5: the same
    tendon forces and fibre lengths from our bisection (muscles carrying over 5 % of their max force;
    below that, with passive fibre force off, the slack fibre's length is not determined)."""
    opensim_or_skip()
    sampler = OpenSimMuscleSampler(pose2sim_model("Model_Pose2Sim_muscles_flex.osim"))
    for m in sampler.muscles["r"]:
        sampler.osim.DeGrooteFregly2016Muscle.safeDownCast(m).set_ignore_tendon_compliance(False)
    sampler.state = sampler.model.initSystem()
    geometry = _opensim_parameter_geometry(sampler)
    f_max = geometry.parameter_array("max_isometric_force_n")
    for q_leg in sample_poses(2, 5):
        lengths, theirs, fibre, ok = _opensim_state(sampler, q_leg, 0.5, compliant=True)
        l_tendon = equilibrium_tendon_lengths(geometry, lengths, np.zeros_like(lengths), np.full_like(lengths, 0.5))
        fm = muscle_force_model(geometry, lengths, np.zeros_like(lengths), 1.0, l_tendon)
        ours = (0.5 * fm.active_n + fm.passive_n)[0]
        loaded = ok & (theirs > 0.05 * f_max)
        assert loaded.sum() >= 30
        np.testing.assert_allclose(ours[loaded], theirs[loaded], rtol=0.02)
        np.testing.assert_allclose(fm.norm_fibre_length[0, loaded], fibre[loaded], atol=0.01)
        # The tendon then carries the fibre's force (the equilibrium itself).
        t_force = f_max * tendon_force_length(l_tendon[0] / geometry.parameter_array("tendon_slack_length_m"),
                                              geometry.parameter_array("tendon_strain_at_one_norm_force"))
        np.testing.assert_allclose(t_force[loaded], ours[loaded], rtol=1e-3, atol=1.0)


def test_tendon_curve_inverse_and_compliance():
    strain = np.array([0.033, 0.049])
    forces = np.linspace(0.0, 1.5, 16)[:, None]
    lengths = tendon_length_at_force(forces, strain)
    np.testing.assert_allclose(tendon_force_length(lengths, strain), np.broadcast_to(forces, lengths.shape), atol=1e-12)
    np.testing.assert_allclose(tendon_force_length(1.0 + strain, strain), 1.0, atol=1e-12)  # strain at one force
    assert np.all(np.diff(lengths, axis=0) > 0) and np.all(lengths[-1, 1] > lengths[-1, 0])  # softer stretches more
    assert tendon_length_at_force(-0.5, 0.049) == tendon_length_at_force(0.0, 0.049)  # a tendon cannot push
    # A loaded soleus-like muscle: the compliant tendon stretches and its fibre shortens.
    geometry = load_default_geometry()
    i = geometry.muscle_index("soleus_r")
    q = np.zeros((1, len(LEG_COORDINATES)))
    q[0, LEG_COORDINATES.index("ankle_angle_r")] = np.radians(20.0)  # dorsiflexed: stretched
    lengths_m, _ = geometry.evaluate(q)
    rigid = muscle_force_model(geometry, lengths_m, np.zeros_like(lengths_m))
    l_tendon = equilibrium_tendon_lengths(geometry, lengths_m, np.zeros_like(lengths_m), np.ones_like(lengths_m))
    compliant = muscle_force_model(geometry, lengths_m, np.zeros_like(lengths_m), 1.0, l_tendon)
    assert l_tendon[0, i] > 1.01 * geometry.parameter_array("tendon_slack_length_m")[i]
    assert compliant.norm_fibre_length[0, i] < rigid.norm_fibre_length[0, i] - 0.1


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


def test_static_optimization_with_a_further_variable_and_warm_start():
    """A free bounded variable with its own moment column, costing like an activation: same optimum as
    bounded least squares over [activations, variable]; a warm start from the reserves changes nothing."""
    rng = np.random.default_rng(11)
    t, m, j = 30, 8, 3
    arms = rng.normal(0, 0.04, (t, m, j))
    fm = MuscleForceModel(rng.uniform(300, 2000, (t, m)), rng.uniform(0, 50, (t, m)), np.ones((t, m)),
                          np.zeros((t, m)), np.ones((t, m)))
    tau = rng.normal(0, 40, (t, j))
    extra = rng.normal(0, 20, (t, j, 1))
    bounds = (np.full((t, 1), -0.5), np.full((t, 1), 0.8))
    config = StaticOptimizationConfig(reserve_n_m=2.0)
    res = static_optimization(tau, arms, fm, np.full(m, 0.01), config, extra, bounds)
    assert res.extra.shape == (t, 1) and res.max_kkt_violation < 1e-6
    a_mat = np.concatenate([np.swapaxes(arms * fm.active_n[..., None], 1, 2), extra], axis=2)
    target = tau - np.einsum("tmj,tm->tj", arms, fm.passive_n)
    for k in range(t):
        ref = lsq_linear(np.concatenate([np.eye(m + 1), a_mat[k] / 2.0]),
                         np.concatenate([np.zeros(m + 1), target[k] / 2.0]),
                         bounds=(np.r_[np.full(m, 0.01), -0.5], np.r_[np.ones(m), 0.8]), method="bvls", tol=1e-12).x
        np.testing.assert_allclose(np.r_[res.activations[k], res.extra[k]], ref, atol=1e-6)
    assert np.any(np.abs(res.extra) > 1e-3)  # the variable is used
    warm = static_optimization(tau, arms, fm, np.full(m, 0.01), config, extra, bounds, res.reserves_n_m)
    np.testing.assert_allclose(warm.activations, res.activations, atol=1e-8)
    with pytest.raises(ValueError, match="extra"):
        static_optimization(tau, arms, fm, np.full(m, 0.01), config, extra, None)


def test_static_optimization_rejects_bad_input():
    tau, arms, fm = _one_joint(np.array([1000.0, 1000.0]), np.array([-0.04, 0.03]), np.array([-20.0, 5.0]))
    with pytest.raises(ValueError, match="disagree"):
        static_optimization(tau[:1], arms, fm, np.full(2, 0.01))
    with pytest.raises(ValueError, match="moments contain non-finite"):
        static_optimization(np.full_like(tau, np.nan), arms, fm, np.full(2, 0.01))
    with pytest.raises(ValueError, match="reserve_n_m"):
        StaticOptimizationConfig(reserve_n_m=0.0)


def test_bounded_least_squares_holds_variables_whose_bounds_meet():
    """The fallback solver must accept a variable pinned by equal bounds (scipy's bvls rejects them)."""
    from models.biomech.muscles.static_optimization import bounded_least_squares

    a = np.array([[1.0, 2.0, 0.5], [0.0, 1.0, 1.0]])
    residual = np.array([2.0, 1.0])
    lower, upper = np.array([0.0, 0.0, 0.3]), np.array([1.0, 1.0, 0.3])
    x = bounded_least_squares(a, residual, lower, upper, reserve_n_m=0.01)
    assert x[2] == 0.3 and np.all((x >= lower) & (x <= upper))
    np.testing.assert_allclose(a @ x, residual, atol=1e-3)  # the free variables still produce the moments
