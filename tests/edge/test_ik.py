import numpy as np
import pytest

from calibration.camera import PinholeCamera
from edge.ik import IKConfig, MarkerIK
from edge.lifter import MARKER_NAMES
from edge.skeleton.model import load_default


@pytest.fixture(scope="module")
def model():
    return load_default()


def test_world_only_ik_recovers_a_random_pose_from_a_nearby_start(model):
    rng = np.random.default_rng(3)
    ik = MarkerIK(model, MARKER_NAMES, IKConfig(max_iterations=30, temporal_weight=0.0, foot_flat_weight=0.0,
                                                balance_weight=0.0, prior_weights=()))
    truth = ik.default_q.copy()
    for name, deg in (("hip_flexion_r", 40), ("knee_angle_r", 60), ("hip_flexion_l", 20), ("knee_angle_l", 30),
                      ("arm_flex_r", 30), ("elbow_flex_l", 45)):
        truth[model.coordinate_index(name)] = np.radians(deg)
    m = ik.markers(truth)
    mid_hip = 0.5 * (m[MARKER_NAMES.index("LHip")] + m[MARKER_NAMES.index("RHip")])
    start = truth + np.radians(rng.normal(0, 3, truth.size))
    result = ik.solve(start, world_m=m - mid_hip, world_weights=np.ones(len(MARKER_NAMES)))
    assert result.marker_rms_m < 2e-3
    for name in ("hip_flexion_r", "knee_angle_r", "hip_flexion_l", "knee_angle_l"):
        i = model.coordinate_index(name)
        assert np.degrees(abs(result.q[i] - truth[i])) < 1.0, name


def test_image_only_ik_finds_depth_and_ignores_nan_markers(model):
    ik = MarkerIK(model, MARKER_NAMES, IKConfig(max_iterations=30, foot_flat_weight=0.0, balance_weight=0.0))
    cam = PinholeCamera.look_at(np.array([3.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0]), 640, 480, 60.0)
    truth = ik.default_q.copy()
    px = cam.project(ik.markers(truth))
    px[0] = np.nan  # a missing landmark is ignored, not fitted
    start = truth.copy()
    start[model.coordinate_index("pelvis_tx")] += 0.3  # wrong depth
    result = ik.solve(start, image_xy=px, image_weights=np.ones(len(MARKER_NAMES)), camera=cam)
    assert abs(result.q[model.coordinate_index("pelvis_tx")] - truth[model.coordinate_index("pelvis_tx")]) < 0.05


def test_ik_input_errors_are_clear(model):
    ik = MarkerIK(model, MARKER_NAMES)
    n = len(MARKER_NAMES)
    with pytest.raises(ValueError, match="give world_m, image_xy or both"):
        ik.solve(ik.default_q)
    with pytest.raises(ValueError, match=r"world_m must have shape \(25, 3\)"):
        ik.solve(ik.default_q, world_m=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="no marker has a positive weight"):
        ik.solve(ik.default_q, world_m=np.zeros((n, 3)), world_weights=np.zeros(n))
    with pytest.raises(ValueError, match="needs a camera"):
        ik.solve(ik.default_q, image_xy=np.zeros((n, 2)))
    with pytest.raises(ValueError, match="markers not on model"):
        MarkerIK(model, ["LHip", "RHip", "Tailbone"])
    with pytest.raises(ValueError, match="not in model"):
        MarkerIK(model, MARKER_NAMES, IKConfig(fixed_coordinates=("tail_wag",)))


def test_balance_prior_moves_the_centre_of_mass_over_the_feet(model):
    from edge.skeleton.fk import centre_of_mass

    def com_offset_m(ik, q):
        m = ik.markers(q)
        feet = [MARKER_NAMES.index(n) for n in ("LHeel", "LBigToe", "RHeel", "RBigToe")]
        return np.linalg.norm((centre_of_mass(model, q) - m[feet].mean(axis=0))[[0, 2]])

    leaning = model.default_q()
    leaning[model.coordinate_index("L5_S1_Flex_Ext")] = np.radians(-40)  # trunk bent forward, hips straight
    targets = MarkerIK(model, MARKER_NAMES).markers(leaning)
    mid_hip = 0.5 * (targets[MARKER_NAMES.index("LHip")] + targets[MARKER_NAMES.index("RHip")])
    weights = np.full(len(MARKER_NAMES), 0.01)  # weak observations: the prior decides what they leave open
    offsets = []
    for balance in (0.0, 10.0):
        ik = MarkerIK(model, MARKER_NAMES, IKConfig(max_iterations=30, balance_weight=balance))
        q = ik.solve(leaning, world_m=targets - mid_hip, world_weights=weights).q
        offsets.append(com_offset_m(ik, q))
    assert offsets[1] < 0.5 * offsets[0]


def test_foot_anchors_pin_the_feet_where_the_image_leaves_depth_open(model):
    """Seen from the front by one camera, the body's distance is weakly observed; feet anchored where
    they stood hold it (and with it the leg angles)."""
    cam = PinholeCamera.look_at(np.array([3.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0]), 640, 480, 60.0)
    truth = model.default_q()
    px = cam.project(MarkerIK(model, MARKER_NAMES).markers(truth))
    start = truth.copy()
    start[model.coordinate_index("pelvis_tx")] += 0.4  # 40 cm nearer the camera than the truth
    errors = {}
    for weight in (0.0, 10.0):
        ik = MarkerIK(model, MARKER_NAMES, IKConfig(max_iterations=5, foot_flat_weight=0.0, balance_weight=0.0,
                                                    temporal_weight=1e-2, foot_anchor_weight=weight))
        q = ik.solve(start, image_xy=px, image_weights=np.full(len(MARKER_NAMES), 0.05), camera=cam,
                     foot_anchors_m=ik.foot_points(truth)).q
        errors[weight] = np.abs(ik.foot_points(q) - ik.foot_points(truth)).max()
    assert errors[10.0] < 0.02 < errors[0.0], errors


def test_foot_anchor_shape_is_checked(model):
    ik = MarkerIK(model, MARKER_NAMES)
    world = ik.markers(ik.default_q)
    with pytest.raises(ValueError, match=r"foot_anchors_m must be finite with shape \(2, 2, 3\)"):
        ik.solve(ik.default_q, world_m=world, foot_anchors_m=np.zeros((4, 3)))


def _trunk_lean_truth(model, lumbar_deg: float):
    """A squat-like pose (hips 60 deg, pelvis tilted 20 deg forward) with the given lumbar extension."""
    q = model.default_q()
    for side in "rl":
        q[model.coordinate_index(f"hip_flexion_{side}")] = np.radians(60.0)
        q[model.coordinate_index(f"knee_angle_{side}")] = np.radians(70.0)
    q[model.coordinate_index("pelvis_tilt")] = np.radians(-20.0)
    q[model.coordinate_index("L5_S1_Flex_Ext")] = np.radians(lumbar_deg)
    return q


def test_lumbo_pelvic_rhythm_splits_a_trunk_lean_between_pelvis_and_lumbar_spine(model):
    """Hip and shoulder markers see the trunk's lean, not how it splits between pelvis tilt and lumbar
    flexion. The coupled prior (default: lumbar flexion 0.10 deg per deg of hip flexion) recovers a pose
    that follows it; a neutral lumbar prior puts the flexion into the pelvis, and hence the hips."""
    ratio = sum(r for name, _, r in IKConfig().prior_couplings if name == "L5_S1_Flex_Ext")  # both hips
    assert ratio < 0  # flexion is negative extension
    truth = _trunk_lean_truth(model, lumbar_deg=ratio * 60.0)
    lumbar, hip = model.coordinate_index("L5_S1_Flex_Ext"), model.coordinate_index("hip_flexion_r")
    errors = {}
    for couplings in (IKConfig().prior_couplings, ()):
        ik = MarkerIK(model, MARKER_NAMES, IKConfig(max_iterations=50, step_tolerance=1e-10, temporal_weight=0.0,
                                                    foot_flat_weight=0.0, balance_weight=0.0,
                                                    prior_couplings=couplings))
        m = ik.markers(truth)
        mid_hip = 0.5 * (m[MARKER_NAMES.index("LHip")] + m[MARKER_NAMES.index("RHip")])
        q = ik.solve(truth, world_m=m - mid_hip).q
        errors[bool(couplings)] = np.degrees(np.abs(q[[lumbar, hip]] - truth[[lumbar, hip]]))
    assert errors[True].max() < 0.1, errors[True]  # the prior is exact here: the fit stays on the truth
    assert errors[False][0] > 4.0 and errors[False][1] > 2.0, errors[False]  # lumbar neutralised, hips pay


def test_prior_couplings_are_checked(model):
    with pytest.raises(ValueError, match="finite ratio"):
        IKConfig(prior_couplings=(("L5_S1_Flex_Ext", "hip_flexion_r", float("nan")),))
    with pytest.raises(ValueError, match="another coordinate"):
        IKConfig(prior_couplings=(("L5_S1_Flex_Ext", "L5_S1_Flex_Ext", 0.1),))
    with pytest.raises(ValueError, match=r"\(coordinate, source, ratio\)"):
        IKConfig(prior_couplings=(("L5_S1_Flex_Ext", 0.1),))
    with pytest.raises(ValueError, match="tail_wag"):
        MarkerIK(model, MARKER_NAMES, IKConfig(prior_couplings=(("L5_S1_Flex_Ext", "tail_wag", 0.1),)))
