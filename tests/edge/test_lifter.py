"""Lifter on synthetic truth: landmarks made by forward kinematics of the model itself."""

import dataclasses

import numpy as np
import pytest

from calibration.camera import PinholeCamera
from calibration.floor import FloorAlignment
from edge.ik import IKConfig
from edge.lifter import (LANDMARKS, MARKER_NAMES, Lifter, LifterConfig, MotionClock, OneEuroConfig, OneEuroFilter,
                         knee_bend_deg)
from edge.messages import BIGE_COORDINATES, Pose
from edge.skeleton.bige_map import to_bige
from edge.skeleton.fk import marker_positions
from edge.skeleton.model import load_default

FPS = 30.0
W, H = 640, 480


@pytest.fixture(scope="module")
def model():
    return load_default()


def squat_truth(model, n_stand=40, n_squat=90):
    """Model coordinates: standing, then one squat with flat, planted feet (``truth_from_depth``)."""
    return truth_from_depth(model, np.concatenate([np.zeros(n_stand),
                                                   0.5 - 0.5 * np.cos(np.linspace(0, 2 * np.pi, n_squat))]))


def truth_from_depth(model, depth):
    """Model coordinates for squat depths (T,) in 0 (standing) .. 1 (bottom): flat, planted feet (ankle =
    knee - hip - pelvis tilt; the pelvis translates so that the heels stay where they stood).

    The lumbar joint follows the lifter's lumbo-pelvic rhythm (IKConfig.prior_couplings): its lumbar
    prior (the trunk markers cannot split a trunk lean between pelvis and lumbar spine) is then exact,
    so the test measures the solver itself."""
    q0 = model.default_q()
    q0[model.coordinate_index("pelvis_tx")] = -3.0  # 3 m in front of the camera, facing it
    q = np.repeat(q0[None], depth.size, axis=0)
    for side in "rl":
        q[:, model.coordinate_index(f"hip_flexion_{side}")] = np.radians(80) * depth
        q[:, model.coordinate_index(f"knee_angle_{side}")] = np.radians(100) * depth
        q[:, model.coordinate_index(f"ankle_angle_{side}")] = np.radians(100 - 80 + 10) * depth
    q[:, model.coordinate_index("pelvis_tilt")] = np.radians(-10) * depth
    for name, source, ratio in IKConfig().prior_couplings:
        q[:, model.coordinate_index(name)] += ratio * q[:, model.coordinate_index(source)]
    heels = [m.name for m in model.markers].index("RHeel"), [m.name for m in model.markers].index("LHeel")
    mid_heel = marker_positions(model, q)[:, heels].mean(axis=1)
    translation = [model.coordinate_index(c) for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    q[:, translation] -= mid_heel - mid_heel[0]
    return q


def poses_from_truth(model, q, hfov_deg, align=FloorAlignment.level_camera()):
    base = PinholeCamera.from_fov(W, H, hfov_deg)
    cam = PinholeCamera(W, H, base.fx, base.fy, base.cx, base.cy, align.R_ground_from_mp.T, np.zeros(3))
    markers = marker_positions(model, q)
    names = [m.name for m in model.markers]
    idx = [names.index(n) for n in MARKER_NAMES]
    poses = []
    for f, m in enumerate(markers[:, idx]):
        world = np.full((33, 3), 0.0, np.float32)
        image = np.full((33, 3), 0.0, np.float32)
        mid_hip = 0.5 * (m[MARKER_NAMES.index("LHip")] + m[MARKER_NAMES.index("RHip")])
        world[LANDMARKS] = (m - mid_hip) @ align.R_ground_from_mp  # ground -> MediaPipe axes
        image[LANDMARKS, :2] = cam.project(m) / [W, H]
        vis = np.zeros(33, np.float32)
        vis[LANDMARKS] = 1.0
        poses.append(Pose(f, int(1e9 + f * 1e9 / FPS), f, True, image, world, vis,
                          np.full(33, np.nan, np.float32), 0, W, H))
    return poses


def test_lifter_recovers_synthetic_squat(model):
    q = squat_truth(model)
    # this truth keeps the pelvis over the ankles but not the centre of mass over the feet: no balance prior
    config = LifterConfig(long_side_fov_deg=60.0, smoothing=OneEuroConfig(min_cutoff_hz=0.0),
                          ik=IKConfig(balance_weight=0.0))
    lifter = Lifter(config, model)
    out = []
    for pose in poses_from_truth(model, q, 60.0):
        out += lifter.process(pose)
    assert len(out) == q.shape[0] and all(k.valid for k in out)
    assert [k.seq for k in out] == list(range(len(out)))
    est = np.array([k.coordinates for k in out])
    truth = to_bige(model, q)
    # gravity comes from the standing posture (shoulders over ankles), which is ~2 deg off vertical in
    # the model's default pose: that tilts the floor, so the feet-flat prior costs the ankle ~1 deg
    tolerance_deg = {"hip_flexion": 0.5, "knee_angle": 0.5, "ankle_angle": 2.0, "pelvis_tilt": 3.0}
    for prefix, tol in tolerance_deg.items():
        for name in [n for n in BIGE_COORDINATES if n.startswith(prefix)]:
            i = BIGE_COORDINATES.index(name)
            rmse = np.sqrt(np.mean((est[:, i] - truth[:, i]) ** 2))
            assert rmse < tol, f"{name}: RMSE {rmse:.2f} deg"
    ty = BIGE_COORDINATES.index("pelvis_ty")
    drop, true_drop = (c[:40, ty].mean() - c[:, ty].min() for c in (est, truth))
    assert true_drop > 0.25 and drop == pytest.approx(true_drop, abs=0.02)  # pelvis height follows the squat


def test_lifter_buffers_calibration_then_emits_backlog_in_order(model):
    q = squat_truth(model, n_stand=35, n_squat=10)
    lifter = Lifter(LifterConfig(calibration_frames=30), model)
    poses = poses_from_truth(model, q, 65.0)
    counts = [len(lifter.process(p)) for p in poses]
    assert counts[:29] == [0] * 29 and counts[29] == 30 and counts[30:] == [1] * (len(poses) - 30)
    assert lifter.calibrated


def test_lost_person_gives_invalid_frames_holding_the_last_values(model):
    q = squat_truth(model, n_stand=35, n_squat=4)
    poses = poses_from_truth(model, q, 65.0)
    lifter = Lifter(LifterConfig(calibration_frames=30), model)
    for p in poses:
        last = lifter.process(p)
    nan = np.full((33, 3), np.nan, np.float32)
    missing = Pose(999, poses[-1].t_capture_ns + 10**7, 999, False, nan, nan, np.full(33, np.nan, np.float32),
                   np.full(33, np.nan, np.float32), 0, W, H)
    (kin,) = lifter.process(missing)
    assert not kin.valid and np.array_equal(kin.coordinates, last[-1].coordinates)


def test_one_euro_filter_smooths_noise_and_follows_steps():
    rng = np.random.default_rng(1)
    f = OneEuroFilter(OneEuroConfig(min_cutoff_hz=1.0, beta=0.0))
    t = (np.arange(300) * 1e9 / 60).astype(np.int64)
    noisy = 10.0 + rng.normal(0, 1.0, 300)
    out = np.array([f(np.array([x]), ti)[0] for x, ti in zip(noisy, t)])
    assert out[100:].std() < 0.5 * noisy[100:].std()
    assert abs(out[100:].mean() - 10.0) < 0.3


def test_knee_bend_of_straight_and_bent_legs():
    world = np.zeros((33, 3))
    world[[23, 24], 1] = 0.0
    world[[25, 26], 1] = 0.45
    world[[27, 28], 1] = 0.9
    np.testing.assert_allclose(knee_bend_deg(world), [0.0, 0.0], atol=1e-6)
    world[[27, 28]] = [[0.0, 0.45, 0.45], [0.0, 0.45, 0.45]]  # shank horizontal: 90 deg bend
    np.testing.assert_allclose(knee_bend_deg(world), [90.0, 90.0], atol=1e-6)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="calibration_frames"):
        LifterConfig(calibration_frames=1)
    with pytest.raises(ValueError, match="not both 0"):
        LifterConfig(world_weight=0.0, image_weight=0.0)


def test_finish_solves_a_short_input_or_marks_it_invalid(model):
    q = squat_truth(model, n_stand=12, n_squat=0)
    poses = poses_from_truth(model, q, 65.0)
    lifter = Lifter(LifterConfig(calibration_frames=30), model)
    assert sum(len(lifter.process(p)) for p in poses) == 0
    out = lifter.finish()
    assert len(out) == 12 and all(k.valid for k in out) and lifter.finish() == []
    short = Lifter(LifterConfig(calibration_frames=30), model)
    for p in poses[:3]:
        short.process(p)
    out = short.finish()
    assert len(out) == 3 and not any(k.valid for k in out)


def test_standing_calibration_removes_a_constant_world_landmark_bias(model):
    """MediaPipe's world knees read bent from the front: a constant forward shift of the knee landmarks.
    A standing start lets the lifter measure and remove it."""
    q = squat_truth(model)
    poses = poses_from_truth(model, q, 60.0)
    knees = [25, 26]
    biased = []
    for p in poses:
        world = p.world_xyz.copy()
        world[knees, 2] -= 0.08  # 8 cm toward the camera (MediaPipe z: away from the camera)
        biased.append(Pose(p.seq, p.t_capture_ns, p.frame_index, True, p.image_xyz, world, p.visibility,
                           p.presence, 0, W, H))
    errors = {}
    for offsets in (False, True):
        config = LifterConfig(long_side_fov_deg=60.0, world_weight=3.0, standing_offsets=offsets,
                              smoothing=OneEuroConfig(min_cutoff_hz=0.0), ik=IKConfig(balance_weight=0.0))
        lifter = Lifter(config, model)
        out = [k for p in biased for k in lifter.process(p)]
        est = np.array([k.coordinates for k in out])
        i = BIGE_COORDINATES.index("knee_angle_r")
        errors[offsets] = np.sqrt(np.mean((est[:, i] - to_bige(model, q)[:, i]) ** 2))
    assert errors[True] < 1.5 < errors[False]


@pytest.mark.opensim
def test_opensim_backend_tracks_the_same_squat(model):
    pytest.importorskip("opensim", reason="opensim (x86-64 only) is not installed")
    from edge.lifter import IKBackend

    q = squat_truth(model, n_stand=35, n_squat=30)
    config = LifterConfig(ik_backend=IKBackend.OPENSIM, image_weight=0.0, world_weight=1.0,
                          smoothing=OneEuroConfig(min_cutoff_hz=0.0))
    lifter = Lifter(config, model)
    out = [k for p in poses_from_truth(model, q, 60.0) for k in lifter.process(p)]
    est = np.array([k.coordinates for k in out])
    truth = to_bige(model, q)
    for name in ("hip_flexion_r", "knee_angle_r", "knee_angle_l"):
        i = BIGE_COORDINATES.index(name)
        assert np.sqrt(np.mean((est[:, i] - truth[:, i]) ** 2)) < 2.0, name


def test_opensim_backend_needs_world_only_generic_model():
    from edge.lifter import IKBackend

    with pytest.raises(ValueError, match="image_weight = 0"):
        LifterConfig(ik_backend=IKBackend.OPENSIM)


def test_sides_swapped_by_the_pose_estimator_are_swapped_back(model):
    """MediaPipe sometimes labels the left side right and the right side left for a few frames (at the
    bottom of squats seen from the front); the lifter notices the poor fit and swaps them back."""
    from edge.lifter import _MIRROR

    q = squat_truth(model)
    q[:, model.coordinate_index("arm_flex_r")] = np.radians(60.0)  # one arm forward: a swap would show
    poses = poses_from_truth(model, q, 60.0)
    swapped = range(80, 90)  # near the bottom
    mirror = np.arange(33)
    mirror[LANDMARKS] = LANDMARKS[_MIRROR]
    for f in swapped:
        p = poses[f]
        poses[f] = Pose(p.seq, p.t_capture_ns, p.frame_index, True, p.image_xyz[mirror], p.world_xyz[mirror],
                        p.visibility[mirror], p.presence, 0, W, H)
    config = LifterConfig(long_side_fov_deg=60.0, smoothing=OneEuroConfig(min_cutoff_hz=0.0),
                          ik=IKConfig(balance_weight=0.0))
    lifter = Lifter(config, model)
    est = np.array([k.coordinates for p in poses for k in lifter.process(p)])
    truth = to_bige(model, q)
    for name in ("arm_flex_r", "arm_flex_l", "knee_angle_r", "pelvis_rotation"):
        i = BIGE_COORDINATES.index(name)
        assert np.abs(est[list(swapped), i] - truth[list(swapped), i]).max() < 1.0, name


def test_planted_feet_settings_must_be_positive():
    with pytest.raises(ValueError, match="foot_release_m"):
        LifterConfig(foot_release_m=0.0)
    with pytest.raises(ValueError, match="foot_anchor_time_s"):
        LifterConfig(foot_anchor_time_s=-1.0)
    with pytest.raises(ValueError, match="lost_fit_rms_m"):
        LifterConfig(lost_fit_rms_m=0.0)


def test_planted_feet_follow_a_step_to_a_new_place(model):
    """The feet anchors are a prior, not a cage: after a 30 cm step sideways the feet are re-planted."""
    q = squat_truth(model, n_stand=200, n_squat=0)
    tz = model.coordinate_index("pelvis_tz")
    q[60:, tz] += 0.3
    lifter = Lifter(LifterConfig(long_side_fov_deg=60.0, smoothing=OneEuroConfig(min_cutoff_hz=0.0)), model)
    est = np.array([k.coordinates for p in poses_from_truth(model, q, 60.0) for k in lifter.process(p)])
    moved = est[-20:, BIGE_COORDINATES.index("pelvis_tz")] - est[:40, BIGE_COORDINATES.index("pelvis_tz")].mean()
    assert np.abs(moved - 0.3).max() < 0.02


def test_a_squatting_start_reports_pelvis_height_above_the_floor_after_gravity_is_found(model):
    """No standing frame to calibrate on: a level camera is assumed, and gravity is re-estimated when the
    subject stands. The pelvis height must then be measured from the floor in the new ground frame."""
    from calibration.floor import _rotation_from_up

    depth = np.concatenate([np.ones(45), 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, 30)), np.zeros(60)])
    q = truth_from_depth(model, depth)
    pitch = np.radians(12.0)  # the camera looks down
    tilted = FloorAlignment(_rotation_from_up(np.array([0.0, -np.cos(pitch), -np.sin(pitch)])))
    lifter = Lifter(LifterConfig(long_side_fov_deg=60.0, smoothing=OneEuroConfig(min_cutoff_hz=0.0)), model)
    est = np.array([k.coordinates for p in poses_from_truth(model, q, 60.0, tilted) for k in lifter.process(p)])
    assert lifter.alignment.camera_pitch_deg == pytest.approx(12.0, abs=3.0)
    names = [m.name for m in model.markers]
    feet = [names.index(n) for n in ("RHeel", "LHeel", "RBigToe", "LBigToe")]
    floor_y = marker_positions(model, q[:1])[0, feet, 1].min()
    ty = BIGE_COORDINATES.index("pelvis_ty")
    true_height = to_bige(model, q)[-20:, ty] - floor_y
    assert np.abs(est[-20:, ty] - true_height).max() < 0.02


def test_output_camera_projects_the_output_pose_onto_the_landmarks(model):
    """A display projects the model posed by the emitted coordinates (e.g. a target ghost) with
    ``output_camera``; on the subject's own pose that must land on the image landmarks."""
    from edge.skeleton.bige_map import from_bige

    q = squat_truth(model)
    poses = poses_from_truth(model, q, 60.0)
    lifter = Lifter(LifterConfig(long_side_fov_deg=60.0, smoothing=OneEuroConfig(min_cutoff_hz=0.0),
                                 ik=IKConfig(balance_weight=0.0)), model)
    assert lifter.output_camera() is None and lifter.calibration_revision == 0
    out = [k for p in poses for k in lifter.process(p)]
    camera = lifter.output_camera()
    assert lifter.calibration_revision == 1
    idx = [[m.name for m in model.markers].index(n) for n in MARKER_NAMES]
    for f in (0, 60, 85, len(out) - 1):
        markers = marker_positions(model, from_bige(model, out[f].coordinates))[idx]
        landmarks_px = poses[f].image_xyz[LANDMARKS, :2] * [W, H]
        error_px = np.linalg.norm(camera.project(markers) - landmarks_px, axis=1)
        assert np.median(error_px) < 1.0 and error_px.max() < 8.0, (f, error_px)  # the fit's own residual


def test_motion_clock_follows_the_source_and_never_runs_backwards():
    clock = MotionClock()
    ms = 1_000_000
    # a file: source steps of 16.7 ms, captured irregularly and slower than that
    assert [clock(s * ms, c * ms) for s, c in ((0, 100), (17, 160), (33, 171), (50, 300))] == [0, 17 * ms, 33 * ms, 50 * ms]
    assert clock(0, 330 * ms) == 80 * ms  # the source starts over (a looped file): the capture step
    assert clock(17 * ms, 400 * ms) == 97 * ms  # then the source's steps again
    no_source = MotionClock()  # a sender without source times: the capture clock's steps
    assert [no_source(0, c * ms) for c in (5, 25, 25, 60)] == [0, 20 * ms, 20 * ms + 1, 55 * ms + 1]


def test_a_file_lifts_the_same_however_fast_it_is_processed(model):
    poses = poses_from_truth(model, squat_truth(model, n_stand=35, n_squat=30), 65.0)
    rng = np.random.default_rng(0)
    capture_steps = {"real time": np.full(len(poses), 1e9 / FPS),
                     "loaded machine": 1e9 / FPS * rng.uniform(1.0, 3.0, len(poses))}
    lifted = {}
    for name, steps in capture_steps.items():
        lifter = Lifter(LifterConfig(calibration_frames=30), model)
        t_capture = 10**9 + np.cumsum(steps).astype(np.int64)
        out = []
        for p, t in zip(poses, t_capture):
            out += lifter.process(dataclasses.replace(p, t_capture_ns=int(t), t_source_ns=round(p.frame_index * 1e9 / FPS)))
        lifted[name] = np.array([k.coordinates for k in out])
    assert lifted["real time"].shape == (len(poses), len(BIGE_COORDINATES))
    assert np.array_equal(lifted["real time"], lifted["loaded machine"])
