"""Polynomial muscle geometry: evaluation, serialisation, the shipped fit against OpenSim."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from edge.paths import shared_dir
from models.biomech.muscles.fit import calibrate_ankle_muscles, fit_muscle_path, sample_poses
from models.biomech.muscles.geometry import (
    BIGE_MUSCLE_ORDER, LEG_COORDINATES, LEG_DOFS, MUSCLE_BASE_NAMES, GeometryFormatError, Muscle, MuscleGeometry,
    MuscleParameters, MusclePath, design_matrices, load_default_geometry, monomial_exponents,
)

from .conftest import opensim_or_skip, pose2sim_model


@pytest.fixture(scope="module")
def geometry() -> MuscleGeometry:
    return load_default_geometry()


def _leg_q(q_leg: np.ndarray, side: str) -> np.ndarray:
    q = np.zeros((q_leg.shape[0], len(LEG_COORDINATES)))
    q[:, [LEG_COORDINATES.index(f"{d}_{side}") for d in LEG_DOFS]] = q_leg
    return q


def test_monomials_and_their_derivatives():
    e = monomial_exponents(3, 4)
    assert e.shape == (35, 3) and e.sum(axis=1).max() == 4 and len({tuple(r) for r in e}) == 35
    rng = np.random.default_rng(0)
    q = rng.uniform(-1.5, 2.0, (6, 3))
    phi, dphi = design_matrices(q, e)
    np.testing.assert_allclose(phi, np.prod(q[:, None, :] ** e[None], axis=2), rtol=1e-12)
    h = 1e-6
    for c in range(3):
        dq = np.zeros(3)
        dq[c] = h
        fd = (design_matrices(q + dq, e)[0] - design_matrices(q - dq, e)[0]) / (2 * h)
        np.testing.assert_allclose(dphi[:, c], fd, atol=1e-6)


def test_fit_recovers_a_polynomial_and_trims_a_jump():
    rng = np.random.default_rng(1)
    q = rng.uniform(-0.5, 2.0, (600, 2))
    true = 0.3 + 0.02 * q[:, 0] - 0.01 * q[:, 0] * q[:, 1] + 0.004 * q[:, 1] ** 3
    arms = -np.stack([0.02 - 0.01 * q[:, 1], -0.01 * q[:, 0] + 0.012 * q[:, 1] ** 2], axis=1)
    jump = q[:, 0] > 1.8  # a path slipping off a wrapping surface: 2 cm shorter beyond 1.8 rad
    lengths = true - 0.02 * jump
    pf = fit_muscle_path(("a", "b"), q[:500], lengths[:500], arms[:500], q[500:], lengths[500:], arms[500:])
    assert pf.path.fit["degree"] == 3
    assert pf.rms_length_m < 1e-6 and pf.rms_moment_arm_m < 1e-6
    assert 0.0 < pf.outlier_fraction < 0.2
    fitted, fitted_arms = pf.path.length_and_moment_arms(q)
    np.testing.assert_allclose(fitted, true, atol=1e-6)  # the jumped poses follow the main branch
    np.testing.assert_allclose(fitted_arms, arms, atol=1e-6)


def test_default_geometry_layout_and_parameters(geometry):
    assert geometry.names == BIGE_MUSCLE_ORDER and geometry.n_muscles == 80
    assert geometry.coordinates == LEG_COORDINATES
    assert BIGE_MUSCLE_ORDER[:40] == tuple(f"{m}_l" for m in MUSCLE_BASE_NAMES)
    f_max = geometry.parameter_array("max_isometric_force_n")
    assert np.all(f_max > 100) and f_max[geometry.muscle_index("soleus_r")] > 6000
    assert np.all(geometry.parameter_array("min_activation") == 0.01)
    for m in geometry.muscles:  # each muscle spans only its own leg's coordinates
        assert all(c.endswith(m.name[-2:]) for c in m.path.coordinates), m.name
    assert geometry.muscles[geometry.muscle_index("vaslat_r")].path.coordinates == ("knee_angle_r",)


def test_evaluate_shapes_signs_and_derivatives(geometry):
    q = np.concatenate([_leg_q(sample_poses(5, 3), "r")[:, :7], _leg_q(sample_poses(5, 4), "l")[:, 7:]], axis=1)
    lengths, arms = geometry.evaluate(q)
    assert lengths.shape == (5, 80) and arms.shape == (5, 80, 14)
    assert np.all((lengths > 0.05) & (lengths < 0.7))
    one_l, one_a = geometry.evaluate(q[0])
    np.testing.assert_allclose(one_l, lengths[0])
    np.testing.assert_allclose(one_a, arms[0])
    h = 1e-6
    for c in (0, 3, 4, 10):  # moment arms are -dL/dq of the same polynomials
        dq = np.zeros(14)
        dq[c] = h
        fd = -(geometry.evaluate(q + dq)[0] - geometry.evaluate(q - dq)[0]) / (2 * h)
        np.testing.assert_allclose(arms[:, :, c], fd, atol=1e-7)
    idx = geometry.muscle_index
    knee_r, ankle_r, hip_r = (LEG_COORDINATES.index(f"{d}_r") for d in ("knee_angle", "ankle_angle", "hip_flexion"))
    for m in ("vaslat_r", "vasmed_r", "vasint_r"):
        assert np.all(arms[:, idx(m), knee_r] < -0.01)  # knee extensors (knee_angle + = flexion)
    assert np.all(arms[:, idx("soleus_r"), ankle_r] < -0.02)  # plantarflexor (ankle_angle + = dorsiflexion)
    assert np.all(arms[:, idx("tibant_r"), ankle_r] > 0.01)
    assert np.all(arms[:, idx("glmax3_r"), hip_r] < 0)  # hip extensor
    assert np.all(arms[:, idx("vaslat_r"), 7:] == 0)  # no moment arm about the other leg


def test_evaluate_rejects_bad_input(geometry):
    with pytest.raises(ValueError, match=r"expected shape \(B, 14\)"):
        geometry.evaluate(np.zeros((3, 13)))
    with pytest.raises(ValueError, match="non-finite"):
        geometry.evaluate(np.full(14, np.nan))


def test_round_trip_and_format_errors(tmp_path, geometry):
    path = tmp_path / "g.json"
    geometry.save(path)
    back = MuscleGeometry.load(path)
    q = _leg_q(sample_poses(3, 5), "r")
    for a, b in zip(back.evaluate(q), geometry.evaluate(q)):
        np.testing.assert_array_equal(a, b)
    d = json.loads(path.read_text())
    del d["muscles"][3]["parameters"]["optimal_fibre_length_m"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    with pytest.raises(GeometryFormatError, match="addmagIsch_l"):
        MuscleGeometry.load(bad)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        MuscleGeometry.load(tmp_path / "nope.json")
    with pytest.raises(GeometryFormatError, match="pennation"):
        MuscleParameters(1000.0, 0.1, 0.2, 2.0)
    with pytest.raises(GeometryFormatError, match="not in"):
        MuscleGeometry((Muscle("m", MuscleParameters(1000.0, 0.1, 0.2, 0.1),
                               MusclePath(("x",), np.array([[0], [1]]), np.array([0.3, 0.01]))),), ("y",))


@pytest.mark.opensim
def test_shipped_fit_matches_opensim_lengths_and_moment_arms(geometry, muscle_sampler):
    """New random squat poses: lengths within a few mm of OpenSim's paths, moment arms of the main movers
    against OpenSim's own computeMomentArm (the polynomials follow the wrapped branch of paths that slip
    off their wrapping surfaces, so a few poses of a few muscles differ more; see fit.fit_trimmed)."""
    q_leg = sample_poses(12, 1234)
    lengths = np.array([muscle_sampler.set_leg("r", q) or [m.getLength(muscle_sampler.state)
                                                           for m in muscle_sampler.muscles["r"]] for q in q_leg])
    ours_l, ours_a = geometry.evaluate(_leg_q(q_leg, "r"))
    right = [geometry.muscle_index(f"{m}_r") for m in MUSCLE_BASE_NAMES]
    err = np.abs(ours_l[:, right] - lengths)
    assert np.median(err) < 0.5e-3 and np.percentile(err, 90) < 3e-3
    movers = ["vaslat", "vasmed", "vasint", "soleus", "bflh", "semimem", "glmax3", "recfem", "tibant"]
    mi = [MUSCLE_BASE_NAMES.index(m) for m in movers]
    dofs = [0, 3, 4]  # hip flexion, knee, ankle
    ref = muscle_sampler.opensim_moment_arms("r", q_leg[:6], mi, dofs)  # (6, n, 3)
    cols = [LEG_COORDINATES.index(f"{LEG_DOFS[j]}_r") for j in dofs]
    ours = ours_a[:6][:, [geometry.muscle_index(f"{m}_r") for m in movers]][:, :, cols]
    assert np.median(np.abs(ours - ref)) < 0.5e-3
    assert np.percentile(np.abs(ours - ref), 95) < 5e-3


def test_ankle_muscle_calibration(geometry):
    """The shipped asset is calibrated: every muscle crossing the ankle has its fibre at optimal length and
    its tendon at slack length in the neutral pose; the others keep the source model's parameters."""
    lengths, _ = geometry.evaluate(np.zeros(len(LEG_COORDINATES)))
    l_opt = geometry.parameter_array("optimal_fibre_length_m")
    l_ts = geometry.parameter_array("tendon_slack_length_m")
    nominal = l_ts + l_opt * np.cos(geometry.parameter_array("pennation_at_optimal_rad"))
    ankle = np.array([any(c.startswith("ankle_angle") for c in m.path.coordinates) for m in geometry.muscles])
    assert ankle.sum() == 22 and ankle[geometry.muscle_index("soleus_l")]
    assert not ankle[geometry.muscle_index("bflh_r")]
    np.testing.assert_allclose(lengths[ankle], nominal[ankle], rtol=1e-9)
    assert np.max(np.abs(lengths[~ankle] / nominal[~ankle] - 1)) > 0.05  # the others untouched
    recalibrated, factors = calibrate_ankle_muscles(geometry)  # idempotent
    np.testing.assert_allclose(list(factors.values()), 1.0, atol=1e-9)
    assert set(factors) == {n for n, a in zip(geometry.names, ankle) if a}
    # From uncalibrated parameters: both lengths scale by one factor, the architecture ratio is kept.
    p = [m.parameters for m in geometry.muscles]
    shrunk = [replace(q, optimal_fibre_length_m=0.9 * q.optimal_fibre_length_m,
                      tendon_slack_length_m=0.9 * q.tendon_slack_length_m) for q in p]
    stretched = MuscleGeometry(tuple(Muscle(m.name, q, m.path) for m, q in zip(geometry.muscles, shrunk)),
                               geometry.coordinates, geometry.metadata)
    back, factors = calibrate_ankle_muscles(stretched)
    k = np.array([factors.get(n, 1.0) for n in geometry.names])
    np.testing.assert_allclose(k[ankle], 1 / 0.9, rtol=1e-9)
    np.testing.assert_allclose(back.parameter_array("optimal_fibre_length_m")[ankle], l_opt[ankle], rtol=1e-9)
    np.testing.assert_allclose(back.parameter_array("tendon_slack_length_m")[ankle], l_ts[ankle], rtol=1e-9)
    assert recalibrated.metadata == geometry.metadata and "ankle_muscle_length_factors" in geometry.metadata


@pytest.mark.opensim
def test_calibration_convention_holds_in_the_rajagopal_family():
    """The convention the calibration restores, checked on OpenCap's LaiUhlrich2022 model (../shared): each
    ankle muscle's neutral-pose path length is its tendon slack length + optimal fibre length x cos(pennation)
    within 2 %, while pose2sim's model with the same parameters is 6-17 % longer."""
    osim = opensim_or_skip()
    path = shared_dir() / "models" / "LaiUhlrich2022.osim"
    if not path.is_file():
        pytest.skip(f"shared model missing: {path}")
    model = osim.Model(str(path))
    state = model.initSystem()
    source = osim.Model(str(pose2sim_model("Model_Pose2Sim_muscles_flex.osim")))
    source_state = source.initSystem()
    for name in ("soleus", "gasmed", "gaslat", "tibant", "tibpost", "perlong", "perbrev", "edl", "ehl", "fdl", "fhl"):
        ratios = []
        for mdl, st in ((model, state), (source, source_state)):
            m = mdl.getMuscles().get(f"{name}_r")
            ratios.append(m.getLength(st) / (m.getTendonSlackLength() + m.getOptimalFiberLength()
                                             * np.cos(m.getPennationAngleAtOptimalFiberLength())))
        assert abs(ratios[0] - 1) < 0.02 and 1.05 < ratios[1] < 1.18, (name, ratios)
