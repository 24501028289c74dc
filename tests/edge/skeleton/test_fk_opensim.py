"""Forward kinematics of exported models against OpenSim's own kinematics (needs opensim)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.skeleton import fk
from edge.skeleton.model import SkeletonModel, load_default

from .conftest import OpenSimReference, opensim_or_skip, random_configurations

pytestmark = pytest.mark.opensim
TOL_M = 1e-6  # acceptance bar is 1 mm; OpenSim agreement is ~1e-14


def _max_errors(sm: SkeletonModel, ref: OpenSimReference, q: np.ndarray) -> dict[str, float]:
    """Max abs difference of every output over the configurations q (B, n)."""
    names = list(sm.coordinate_names) + [d.name for d in sm.dependent_coordinates]
    q_ext = fk.extended_coordinates(sm, q)
    transforms, markers = fk.body_transforms(sm, q), fk.marker_positions(sm, q)
    centres, com = fk.joint_centres(sm, q), fk.centre_of_mass(sm, q)
    err = dict.fromkeys(("body", "marker", "joint_centre", "com", "constraint"), 0.0)
    for b in range(q.shape[0]):
        ref.set_q(names, q_ext[b])
        for i, body in enumerate(sm.bodies):
            err["body"] = max(err["body"], np.abs(transforms[b, i] - ref.body_transform(body.name)).max())
            err["joint_centre"] = max(err["joint_centre"],
                                      np.abs(centres[b, i] - ref.joint_centre(body.joint.name)).max())
        for k, m in enumerate(sm.markers):
            err["marker"] = max(err["marker"], np.abs(markers[b, k] - ref.marker(m.name)).max())
        err["com"] = max(err["com"], np.abs(com[b] - ref.centre_of_mass()).max())
        err["constraint"] = max(err["constraint"], ref.constraint_error())
    return err


def test_pose2sim_fk_matches_opensim(pose2sim_export):
    sm, osim_path, markers = pose2sim_export
    ref = OpenSimReference(opensim_or_skip(), osim_path, markers)
    q = random_configurations(sm, 20, seed=1)
    assert np.any(q[:, sm.coordinate_index("knee_angle_r")] > 2.0944)  # spline extrapolation is exercised
    err = _max_errors(sm, ref, q)
    assert max(err.values()) < TOL_M, err
    assert {"CustomJoint", "WeldJoint", "PinJoint", "UniversalJoint"} <= {b.joint.opensim_type for b in sm.bodies}


def test_lai_fk_with_coupled_knee_matches_opensim(lai_export):
    sm, osim_path, markers = lai_export
    assert {d.name for d in sm.dependent_coordinates} == {"knee_angle_r_beta", "knee_angle_l_beta"}
    assert "knee_angle_r_beta" not in sm.coordinate_names
    ref = OpenSimReference(opensim_or_skip(), osim_path, markers)
    q = random_configurations(sm, 20, seed=2)
    err = _max_errors(sm, ref, q)
    assert max(err.values()) < TOL_M, err  # constraint: OpenSim's coupler constraints are satisfied
    # The constraint check can fail: a wrong knee_beta violates OpenSim's coupler constraint.
    names = list(sm.coordinate_names) + ["knee_angle_r_beta"]
    ref.set_q(names, np.append(q[0], q[0, sm.coordinate_index("knee_angle_r")] + 0.1))
    assert ref.constraint_error() > 0.05


def test_committed_default_model_matches_fresh_export(pose2sim_export):
    sm, _, _ = pose2sim_export
    default = load_default()
    fresh, committed = sm.to_dict(), default.to_dict()
    for key in ("coordinates", "dependent_coordinates", "bodies", "markers"):
        assert fresh[key] == committed[key], f"edge/assets model is stale in {key}: rerun scripts/export_skeleton.py"
    assert "BSD-3-Clause" in default.metadata["licence"] and "pose2sim" in default.metadata["provenance"]


def _opensim_scaled(ref: OpenSimReference, scales: dict[str, np.ndarray], mass_kg: float) -> None:
    osim = ref.osim
    scale_set = osim.ScaleSet()
    for name, s in scales.items():
        scale = osim.Scale()
        scale.setSegmentName(name)
        scale.setScaleFactors(osim.Vec3(*map(float, s)))
        scale.setApply(True)
        scale_set.cloneAndAppend(scale)
    assert ref.model.scale(ref.state, scale_set, True, mass_kg)
    ref.reinit()


@pytest.mark.parametrize("which", ["pose2sim", "lai"])
def test_scaled_model_matches_opensim_scaling(which, request):
    sm, osim_path, markers = request.getfixturevalue(f"{which}_export")
    rng = np.random.default_rng(3)
    scales = {b.name: rng.uniform(0.8, 1.25, 3) for b in sm.bodies}  # non-uniform, different per body
    del scales[sm.bodies[-1].name]  # a body left unscaled
    ref = OpenSimReference(opensim_or_skip(), osim_path, markers)
    _opensim_scaled(ref, scales, mass_kg=71.3)
    scaled = sm.scaled(scales, mass_kg=71.3)
    q = random_configurations(sm, 5, seed=4)
    err = _max_errors(scaled, ref, q)
    assert max(err.values()) < TOL_M, err
    # The reference can tell: the unscaled model is far off.
    assert max(_max_errors(sm, ref, q[:1]).values()) > 0.01
    assert sum(b.mass_kg for b in scaled.bodies) == pytest.approx(71.3)
