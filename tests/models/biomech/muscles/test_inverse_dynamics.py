"""Squat inverse dynamics: against OpenSim's InverseDynamicsSolver (with the same ground reactions), statics."""

from __future__ import annotations

import numpy as np
import pytest

from edge.skeleton.model import load_default
from models.biomech.muscles.inverse_dynamics import (
    FOOT_BODIES, PELVIS_COORDINATES, BodyInertias, InverseDynamicsConfig, coordinate_derivatives,
    generalized_forces, inverse_dynamics,
)

from .conftest import opensim_or_skip, pose2sim_model, synthetic_squat

LEGS = tuple(f"{d}_{s}" for s in "rl" for d in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle",
                                                 "ankle_angle", "subtalar_angle"))


@pytest.fixture(scope="module")
def model():
    return load_default()


class _OpenSimID:
    """OpenSim's InverseDynamicsSolver on pose2sim's simple model, coordinates mapped to its mobilities."""

    def __init__(self, names):
        self.osim = opensim_or_skip()
        self.model = self.osim.Model(str(pose2sim_model("Model_Pose2Sim_simple.osim")))
        self.state = self.model.initSystem()
        self.solver = self.osim.InverseDynamicsSolver(self.model)
        self.coords = self.model.getCoordinateSet()
        self.names = names
        self.nu = self.state.getNU()
        self.u_index = {}
        for n in names:  # which slot of u each coordinate's speed occupies
            for c in self.coords:
                c.setSpeedValue(self.state, 0.0)
            self.coords.get(n).setSpeedValue(self.state, 1.0)
            u = self.state.getU()
            self.u_index[n] = next(i for i in range(self.nu) if u.get(i) == 1.0)

    def solve(self, q, qd, qdd, body_wrenches=None):
        """Generalized forces (n,); body_wrenches: {body: (moment about its origin, force)} in ground."""
        osim = self.osim
        for j, n in enumerate(self.names):
            self.coords.get(n).setValue(self.state, float(q[j]), False)
            self.coords.get(n).setSpeedValue(self.state, float(qd[j]))
        self.model.realizeVelocity(self.state)
        udot = osim.Vector(self.nu, 0.0)
        for j, n in enumerate(self.names):
            udot.set(self.u_index[n], float(qdd[j]))
        tau = self.solver.solve(self.state, udot)  # the model's forces (gravity) included
        out = np.array([tau.get(self.u_index[n]) for n in self.names])
        if body_wrenches:
            # The 4-argument solve takes only the given forces: its difference with and without the
            # wrenches is their generalized force (-J^T F).
            n_mob = self.model.getBodySet().getSize() + 1
            zero = osim.SpatialVec(osim.Vec3(0, 0, 0), osim.Vec3(0, 0, 0))
            forces = osim.VectorOfSpatialVec(n_mob, zero)
            for body, (moment, force) in body_wrenches.items():
                k = int(self.model.getBodySet().get(body).getMobilizedBodyIndex())
                forces.set(k, osim.SpatialVec(osim.Vec3(*map(float, moment)), osim.Vec3(*map(float, force))))
            none = osim.Vector(self.nu, 0.0)
            with_f = self.solver.solve(self.state, none, none, forces)
            without = self.solver.solve(self.state, none, none, osim.VectorOfSpatialVec(n_mob, zero))
            out += np.array([with_f.get(self.u_index[n]) - without.get(self.u_index[n]) for n in self.names])
        return out


@pytest.mark.opensim
def test_matches_opensim_without_external_loads(model):
    names = model.coordinate_names
    ref = _OpenSimID(names)
    rng = np.random.default_rng(0)
    lo = np.array([max(c.range_min, -1.0) for c in model.coordinates])
    hi = np.array([min(c.range_max, 1.2) for c in model.coordinates])
    q = lo + (hi - lo) * rng.random((3, len(names)))
    qd, qdd = rng.normal(0, 1, q.shape), rng.normal(0, 3, q.shape)
    ours = generalized_forces(model, q, qd, qdd, names, with_ground_reactions=False).moments(names)
    for k in range(3):
        theirs = ref.solve(q[k], qd[k], qdd[k])
        np.testing.assert_allclose(ours[k], theirs, atol=0.02 + 1e-4 * np.abs(theirs).max())


@pytest.mark.opensim
def test_matches_opensim_with_the_same_ground_reactions(model):
    names = model.coordinate_names
    ref = _OpenSimID(names)
    q, qd, qdd, _ = synthetic_squat(model, n_frames=60)
    frames = [5, 20, 30, 45]
    res = generalized_forces(model, q[frames], qd[frames], qdd[frames], names)
    from edge.skeleton import fk
    _, origins = fk.body_poses(model, q[frames])
    for i, k in enumerate(frames):
        wrenches = {}
        for f, side in enumerate("rl"):
            b = FOOT_BODIES[side][0]
            o = origins[i, model.body_index(b)]
            moment = np.cross(res.cop_m[i, f] - o, res.grf_n[i, f]) + res.free_moment_n_m[i, f] * np.array([0, 1, 0])
            wrenches[b] = (moment, res.grf_n[i, f])
        theirs = ref.solve(q[k], qd[k], qdd[k], wrenches)
        # 0.5 N (m): OpenSim's velocity terms of the knee's spline-driven CustomJoint differ by ~2% from
        # the exact second derivative of its own body positions (checked: tibia origin acceleration
        # 0.0718 vs 0.0732 m/s^2 from differencing OpenSim's positions); ours follow the positions.
        np.testing.assert_allclose(res.moments(names)[i], theirs, atol=0.5)
        assert np.abs(res.moments(names)[i] - theirs).mean() < 0.05


def test_standing_still_balances_gravity(model):
    q = np.tile(model.default_q(), (30, 1))
    res = inverse_dynamics(model, q, 60.0, LEGS)
    weight = sum(b.mass_kg for b in model.bodies) * 9.80665
    np.testing.assert_allclose(res.grf_n.sum(axis=1), np.tile([0.0, weight, 0.0], (30, 1)), atol=1e-6)
    np.testing.assert_allclose(res.grf_n[:, :, 1], weight / 2, atol=1e-6)  # symmetric stance: half each
    np.testing.assert_allclose(res.grf_n[:, 0, 2], -res.grf_n[:, 1, 2], atol=1e-6)  # equal and opposite lateral parts
    assert np.all(res.grf_n[:, 0, 2] < -1.0)  # the ground pushes the right foot (z > 0) towards the middle
    np.testing.assert_allclose(res.pelvis_residuals, 0.0, atol=1e-3)
    from edge.skeleton import fk
    com = fk.centre_of_mass(model, model.default_q())
    cop = res.grf_n[:, 0, 1, None] * res.cop_m[:, 0] + res.grf_n[:, 1, 1, None] * res.cop_m[:, 1]
    np.testing.assert_allclose((cop / weight)[:, [0, 2]], np.tile(com[[0, 2]], (30, 1)), atol=1e-6)
    m = res.moments(LEGS)
    np.testing.assert_allclose(m[:, :6], m[:, 6:], atol=1e-3)  # mirror-symmetric conventions: equal sides


def test_quasi_static_squat_moments_are_gravity_moments(model):
    """Slow squat: dynamics are negligible, so the moments equal those of the static poses; the bottom
    needs knee and hip extensor moments, and the total vertical ground reaction is body weight."""
    q, qd, qdd, t = synthetic_squat(model, n_frames=600, fps=60.0)  # 10 s squat
    res = inverse_dynamics(model, q, 60.0, LEGS)
    static = generalized_forces(model, q, 0 * qd, 0 * qdd, LEGS)
    inner = slice(60, 540)  # away from the filter's edges
    np.testing.assert_allclose(res.moments(LEGS)[inner], static.moments(LEGS)[inner], atol=1.5)
    weight = sum(b.mass_kg for b in model.bodies) * 9.80665
    np.testing.assert_allclose(res.grf_n[inner, :, 1].sum(1), weight, rtol=0.01)
    bottom = static.moments(LEGS)[300]
    assert bottom[LEGS.index("knee_angle_r")] < -20 and bottom[LEGS.index("hip_flexion_r")] < -20


def test_derivatives_and_errors(model):
    t = np.arange(120) / 60.0
    q = np.sin(2 * np.pi * 0.5 * t)[:, None] * np.ones((1, 2))
    qf, qd, qdd = coordinate_derivatives(q, 60.0, 6.0)
    inner = slice(20, 100)
    np.testing.assert_allclose(qd[inner, 0], np.pi * np.cos(np.pi * t[inner]), atol=0.01)
    np.testing.assert_allclose(qdd[inner, 0], -np.pi ** 2 * np.sin(np.pi * t[inner]), atol=0.05)
    with pytest.raises(ValueError, match="too few"):
        coordinate_derivatives(q[:10], 60.0, 6.0)
    with pytest.raises(ValueError, match="Nyquist"):
        coordinate_derivatives(q, 60.0, 30.0)
    with pytest.raises(ValueError, match=r"expected \(T, 40\)"):
        inverse_dynamics(model, np.zeros((30, 33)), 60.0, LEGS)
    with pytest.raises(KeyError, match="knee_angle_x"):
        inverse_dynamics(model, np.tile(model.default_q(), (30, 1)), 60.0, ["knee_angle_x"])
    with pytest.raises(ValueError, match="foot_support_ratio"):
        InverseDynamicsConfig(foot_support_ratio=3.0)
    table = BodyInertias.load()
    del table["femur_r"]
    with pytest.raises(KeyError, match="femur_r"):
        BodyInertias.for_model(model, table)
    assert PELVIS_COORDINATES[0] == "pelvis_tilt"
