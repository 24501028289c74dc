"""OpenSim's own marker IK (edge.ik_opensim) against the numpy MarkerIK on a synthetic squat (needs opensim)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edge.ik import IKConfig, MarkerIK
from edge.lifter import MARKER_NAMES
from edge.skeleton.fk import marker_positions
from edge.skeleton.model import load_default

COMPARED = ("pelvis_tilt", "pelvis_list", "pelvis_rotation",
            "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r",
            "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "ankle_angle_l")
LOWER_BODY = COMPARED[:3] + ("L5_S1_Flex_Ext", "L5_S1_Lat_Bending", "L5_S1_axial_rotation") + COMPARED[3:]
# Largest allowed |OpenSim - MarkerIK| per frame (deg), 2 mm marker noise, same priors. The two minimise
# slightly different objectives (OpenSim fits the pelvis translation freely, MarkerIK pins the mid-hips;
# each solution is the better one under its own objective), so noise moves them apart, most in the
# ankle and hip rotation (only the feet show them): up to 0.9 deg per frame, RMS 0.3, over seeds 0-5.
# (Before the priors went into OpenSim's goals, hip rotation differed by up to 4 deg.) The margin is
# the noise's, not the solvers' tolerances: those are tested on exact markers below.
MAX_DIFF_DEG = 1.5
RMS_DIFF_DEG = 0.6  # every compared coordinate, over the frames


def _opensim_ik(**config):
    """OpenSim's IK on the product model. Without coupled priors unless given: the solvers are compared
    on one objective, and OpenSim takes a coupled prior's source from the warm start where MarkerIK
    solves it jointly (test_coupled_prior_agrees_at_the_solution compares them with it)."""
    config.setdefault("prior_couplings", ())
    pytest.importorskip("opensim", reason="opensim not installed (x86-64 only)")
    from edge.ik_opensim import OpenSimIKConfig, OpenSimMarkerIK, default_model_files
    try:
        osim_path, marker_xml = default_model_files()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return OpenSimMarkerIK(osim_path, MARKER_NAMES, OpenSimIKConfig(**config), marker_set_path=marker_xml)


def _squat(n_frames: int, noise_m: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True coordinates (T, n) of a squat descent and noisy BlazePose markers (T, 25, 3), ground frame."""
    model = load_default()
    s = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_frames))
    q = np.repeat(model.default_q()[None], n_frames, axis=0)
    ramps_deg = {"hip_flexion": 90.0, "knee_angle": 100.0, "ankle_angle": 25.0, "arm_flex": 60.0, "elbow_flex": 30.0}
    for side in "rl":
        for name, deg in ramps_deg.items():
            q[:, model.coordinate_index(f"{name}_{side}")] = np.radians(deg) * s
        q[:, model.coordinate_index(f"hip_adduction_{side}")] = np.radians(-5.0)
    q[:, model.coordinate_index("pelvis_tilt")] = np.radians(-20.0) * s
    q[:, model.coordinate_index("pelvis_list")] = np.radians(3.0) * s
    q[:, model.coordinate_index("pelvis_rotation")] = np.radians(10.0)
    q[:, model.coordinate_index("pelvis_ty")] -= 0.3 * s
    q[:, model.coordinate_index("pelvis_tx")] = 0.2
    rows = [model.marker_names.index(m) for m in MARKER_NAMES]
    rng = np.random.default_rng(seed)
    return q, marker_positions(model, q)[:, rows] + rng.normal(0.0, noise_m, (n_frames, len(rows), 3))


def _squat_off_the_range_limits(n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """True coordinates (T, n) and exact BlazePose markers (T, 25, 3) of a squat descent whose clamped
    coordinates stay inside their ranges (knee, hip and elbow flexion start at 10-20 deg, not at 0), and
    whose prior-held coordinates (lumbar, neck, subtalar, arm and forearm rotation) sit at their priors:
    the exact fit is then the optimum of MarkerIK's objective with priors, in both solvers."""
    model = load_default()
    s = np.linspace(0.0, 1.0, n_frames)
    q = np.repeat(model.default_q()[None], n_frames, axis=0)
    ramps_deg = {"hip_flexion": (10.0, 80.0), "knee_angle": (10.0, 90.0), "ankle_angle": (5.0, 20.0),
                 "arm_flex": (20.0, 40.0), "elbow_flex": (20.0, 30.0)}
    for side in "rl":
        for name, (start, deg) in ramps_deg.items():
            q[:, model.coordinate_index(f"{name}_{side}")] = np.radians(start + deg * s)
        q[:, model.coordinate_index(f"hip_adduction_{side}")] = np.radians(-5.0)
    q[:, model.coordinate_index("pelvis_tilt")] = np.radians(-20.0) * s
    q[:, model.coordinate_index("pelvis_list")] = np.radians(3.0) * s
    q[:, model.coordinate_index("pelvis_rotation")] = np.radians(10.0)
    q[:, model.coordinate_index("pelvis_ty")] -= 0.3 * s
    rows = [model.marker_names.index(m) for m in MARKER_NAMES]
    return q, marker_positions(model, q)[:, rows]


def _stopping_bound_deg(ik, q: np.ndarray, accuracy: float, prior_weights, temporal_weight: float) -> np.ndarray:
    """Largest error (T, n) in deg that OpenSim's stop leaves around the optimum q (T, n), per coordinate.

    OpenSim stops once every coordinate's gradient of its objective F = E / (2 W) is below ``accuracy``
    (E: MarkerIK's objective, W: the total marker weight, 25 here). Near the optimum grad F = H dq / W,
    H = J'J + diag(prior + temporal), so |dq_j| <= W accuracy sum_k |H^-1_jk| (k over OpenSim's free
    coordinates, the pelvis translation included: it is fitted too). J by forward differences of the
    numpy model's kinematics (the same model as the .osim, to 1e-15 m). Valid with the optimum inside
    the clamped ranges: with it on a range limit (knee straight) L-BFGS-B's other stopping rule, too
    little decrease of the objective, can end it earlier (seen: 0.5 deg knee error against a 0.14 bound)."""
    free = np.flatnonzero([name not in ik.config.fixed_coordinates for name in ik.coordinate_names])
    weights = dict(prior_weights)
    translation = [name in ("pelvis_tx", "pelvis_ty", "pelvis_tz") for name in ik.coordinate_names]
    diagonal = np.array([weights.get(ik.coordinate_names[k], 0.0) + (0.0 if translation[k] else temporal_weight)
                         for k in free])
    model = load_default()
    rows = [model.marker_names.index(m) for m in MARKER_NAMES]
    bound = np.full(q.shape, np.inf)
    step = 1e-7
    for t, q_t in enumerate(q):
        batch = np.repeat(q_t[None], free.size + 1, axis=0)
        batch[np.arange(1, free.size + 1), free] += step
        m = marker_positions(model, batch)[:, rows].reshape(free.size + 1, -1)  # (1 + n_free, 75)
        jacobian = (m[1:] - m[0]).T / step  # (75, n_free)
        h_inv = np.linalg.inv(jacobian.T @ jacobian + np.diag(diagonal))
        bound[t, free] = np.degrees(len(MARKER_NAMES) * accuracy * np.abs(h_inv).sum(axis=1))
    return bound


@pytest.mark.opensim
def test_opensim_ik_agrees_with_marker_ik_on_a_noisy_squat():
    from edge.ik_opensim import WorldTargets
    osim_ik = _opensim_ik(targets=WorldTargets.ABSOLUTE, temporal_weight=0.0)
    model = load_default()
    truth, markers = _squat(n_frames=20, noise_m=0.002, seed=4)
    numpy_ik = MarkerIK(model, MARKER_NAMES, IKConfig(temporal_weight=0.0, foot_flat_weight=0.0, balance_weight=0.0,
                                                      max_iterations=30, prior_couplings=()))
    q_numpy, q = [], truth[0]
    for x in markers:  # absolute targets; MarkerIK compares them relative to their mid-hip
        q = numpy_ik.solve(q, world_m=x, world_weights=np.ones(len(MARKER_NAMES))).q
        q_numpy.append(q)
    results = osim_ik.solve_sequence(truth[0], markers)
    q_osim = np.array([r.q for r in results])
    cols = [model.coordinate_index(c) for c in COMPARED]
    diff_deg = np.degrees(q_osim[:, cols] - np.array(q_numpy)[:, cols])
    max_deg, rms_deg = np.abs(diff_deg).max(axis=0), np.sqrt((diff_deg ** 2).mean(axis=0))
    report = ", ".join(f"{c} max {m:.2f} rms {r:.2f}" for c, m, r in zip(COMPARED, max_deg, rms_deg))
    print(f"\nOpenSim - MarkerIK (deg): {report}")
    assert (max_deg < MAX_DIFF_DEG).all() and (rms_deg < RMS_DIFF_DEG).all(), report
    # ABSOLUTE targets: OpenSim fits the pelvis translation too (MarkerIK's world term cannot)
    t_cols = [model.coordinate_index(c) for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    assert np.abs(q_osim[:, t_cols] - truth[:, t_cols]).max() < 0.01
    assert max(r.marker_rms_m for r in results) < 0.005  # 2 mm per axis of noise: ~3.5 mm per marker
    # the solution changed from the warm start: OpenSim really tracked the squat
    knee = model.coordinate_index("knee_angle_r")
    assert np.degrees(q_osim[-1, knee] - truth[0, knee]) > 90.0


@pytest.mark.opensim
def test_opensim_ik_matches_converged_marker_ik_within_its_stopping_bound():
    """Both solvers on MarkerIK's objective with its priors (lumbar free, as in the lifter) and exact
    markers: the optimum is the truth. MarkerIK, run to convergence, lands on it; OpenSim must land
    within the error its stopping rule allows (_stopping_bound_deg), frame by frame and coordinate by
    coordinate. Without the priors the lumbar/pelvis/hip-flexion valley makes that bound degrees wide."""
    osim_ik = _opensim_ik(temporal_weight=0.0)
    model = load_default()
    truth, markers = _squat_off_the_range_limits(n_frames=12)
    hips = [MARKER_NAMES.index("LHip"), MARKER_NAMES.index("RHip")]
    targets = markers - markers[:, hips].mean(axis=1, keepdims=True)  # hip-centred, as the lifter gives them
    numpy_ik = MarkerIK(model, MARKER_NAMES, IKConfig(temporal_weight=0.0, foot_flat_weight=0.0, balance_weight=0.0,
                                                      max_iterations=50, step_tolerance=1e-10, prior_couplings=()))
    start = truth[0].copy()
    start[[model.coordinate_index(f"hip_flexion_{side}") for side in "rl"]] += np.radians(3.0)
    q_numpy, q = [], start
    for x in targets:
        q = numpy_ik.solve(q, world_m=x).q
        q_numpy.append(q)
    q_numpy = np.array(q_numpy)
    cols = [model.coordinate_index(c) for c in LOWER_BODY]
    numpy_error_deg = 1e-4
    assert np.degrees(np.abs(q_numpy - truth)[:, cols]).max() < numpy_error_deg  # converged: the optimum
    q_osim = np.array([r.q for r in osim_ik.solve_sequence(start, targets)])
    bound_deg = _stopping_bound_deg(osim_ik, truth, osim_ik.config.accuracy, IKConfig().prior_weights, 0.0)[:, cols]
    diff_deg = np.degrees(np.abs(q_osim - q_numpy))[:, cols]
    report = ", ".join(f"{c} {d:.3f}/{b:.3f}" for c, d, b in zip(LOWER_BODY, diff_deg.max(0), bound_deg.min(0)))
    print(f"\n|OpenSim - MarkerIK| max / bound (deg): {report}")
    assert (diff_deg <= bound_deg + numpy_error_deg).all(), report
    assert bound_deg[:, [LOWER_BODY.index(c) for c in ("hip_flexion_r", "knee_angle_r")]].max() < 0.25


@pytest.mark.opensim
def test_opensim_ik_is_stable_under_tiny_input_changes():
    """The live setting (hip-centred targets, priors, temporal term, default accuracy), frame by frame:
    targets moved by ~1e-9 m move the optimum by ~1e-8 deg, so the two solutions, each within the
    stopping bound of it, differ by at most twice that bound. (Before the priors went into OpenSim's
    goals, at its default accuracy 1e-5, hip flexion moved by 3.5 deg here, the lumbar joint by 4.)"""
    osim_ik = _opensim_ik()
    model = load_default()
    truth, markers = _squat_off_the_range_limits(n_frames=10)
    hips = [MARKER_NAMES.index("LHip"), MARKER_NAMES.index("RHip")]
    targets = markers - markers[:, hips].mean(axis=1, keepdims=True)
    nudged = targets + np.random.default_rng(7).normal(0.0, 1e-9, targets.shape)
    q = np.array([r.q for r in osim_ik.solve_sequence(truth[0], targets)])
    q_nudged = np.array([r.q for r in osim_ik.solve_sequence(truth[0], nudged)])
    cols = [model.coordinate_index(c) for c in LOWER_BODY]
    config = osim_ik.config
    bound_deg = _stopping_bound_deg(osim_ik, truth, config.accuracy, config.prior_weights, config.temporal_weight)
    diff_deg = np.degrees(np.abs(q - q_nudged))[:, cols]
    twice_bound = 2 * bound_deg[:, cols].min(axis=0)
    report = ", ".join(f"{c} {d:.4f}/{b:.3f}" for c, d, b in zip(LOWER_BODY, diff_deg.max(0), twice_bound))
    print(f"\n|nudged - original| max / twice the bound (deg): {report}")
    assert (diff_deg <= 2 * bound_deg[:, cols]).all(), report
    flexion = [LOWER_BODY.index(c) for c in ("hip_flexion_r", "hip_flexion_l", "knee_angle_r", "knee_angle_l")]
    assert bound_deg[:, [cols[i] for i in flexion]].max() < 0.25, report


@pytest.mark.opensim
def test_hip_centred_targets_give_the_absolute_fit_and_keep_the_warm_start_translation():
    from edge.ik_opensim import WorldTargets
    absolute = _opensim_ik(targets=WorldTargets.ABSOLUTE)
    centred = _opensim_ik()
    model = load_default()
    truth, markers = _squat(n_frames=8, noise_m=0.0, seed=0)
    frame = markers[7]
    start = truth[6]
    mid_hip = frame[[MARKER_NAMES.index("LHip"), MARKER_NAMES.index("RHip")]].mean(axis=0)
    a = absolute.solve(start, world_m=frame)
    c = centred.solve(start, world_m=frame - mid_hip)  # as MediaPipe gives them
    angles = [model.coordinate_index(c) for c in COMPARED]
    translation = [model.coordinate_index(n) for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    assert np.degrees(np.abs(a.q[angles] - c.q[angles])).max() < 0.05
    assert np.array_equal(c.q[translation], start[translation])
    assert np.abs(a.q[translation] - truth[7, translation]).max() < 0.005
    assert a.marker_rms_m < 1e-3 and c.marker_rms_m < 1e-3
    assert np.degrees(np.abs(a.q[angles] - truth[7, angles])).max() < 1.0


@pytest.mark.opensim
def test_opensim_ik_input_errors_are_clear():
    ik = _opensim_ik()
    n = len(MARKER_NAMES)
    q0 = ik.default_q
    with pytest.raises(ValueError, match=r"world_m must have shape \(25, 3\)"):
        ik.solve(q0, world_m=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="no marker has a positive weight"):
        ik.solve(q0, world_m=np.zeros((n, 3)), world_weights=np.zeros(n))
    with pytest.raises(ValueError, match="LHip and RHip"):
        ik.solve(q0, world_m=np.zeros((n, 3)), world_weights=(np.arange(n) != MARKER_NAMES.index("LHip")) * 1.0)
    with pytest.raises(ValueError, match="q must be 40 finite values"):
        ik.solve(q0[:5], world_m=np.zeros((n, 3)))
    from edge.ik_opensim import OpenSimMarkerIK, default_model_files
    osim_path, marker_xml = default_model_files()
    with pytest.raises(ValueError, match="markers not on model.*Tailbone"):
        OpenSimMarkerIK(osim_path, ["LHip", "RHip", "Tailbone"], marker_set_path=marker_xml)
    with pytest.raises(FileNotFoundError, match="missing.osim"):
        OpenSimMarkerIK(osim_path.with_name("missing.osim"), MARKER_NAMES)
    from edge.ik_opensim import OpenSimIKConfig
    with pytest.raises(ValueError, match="coordinates not in model.*tail_wag"):
        OpenSimMarkerIK(osim_path, MARKER_NAMES, OpenSimIKConfig(fixed_coordinates=("tail_wag",)),
                        marker_set_path=marker_xml)
    with pytest.raises(ValueError, match="coordinates not in model.*tail_wag"):
        OpenSimMarkerIK(osim_path, MARKER_NAMES, OpenSimIKConfig(prior_weights=(("tail_wag", 1.0),)),
                        marker_set_path=marker_xml)


def test_missing_opensim_gives_a_clear_error(monkeypatch):
    from edge.ik_opensim import OpenSimMarkerIK
    monkeypatch.setitem(sys.modules, "opensim", None)  # import opensim now raises ImportError
    with pytest.raises(ImportError, match="x86-64.*MarkerIK"):
        OpenSimMarkerIK("Model_Pose2Sim_simple.osim", MARKER_NAMES)


def test_config_is_validated():
    from edge.ik_opensim import OpenSimIKConfig
    with pytest.raises(ValueError, match="accuracy"):
        OpenSimIKConfig(accuracy=0.0)
    with pytest.raises(ValueError, match="WorldTargets"):
        OpenSimIKConfig(targets="absolute")
    with pytest.raises(ValueError, match="temporal_weight"):
        OpenSimIKConfig(temporal_weight=-1.0)
    with pytest.raises(ValueError, match="prior weight of neck_flexion"):
        OpenSimIKConfig(prior_weights=(("neck_flexion", float("nan")),))


@pytest.mark.opensim
def test_coupled_prior_agrees_at_the_solution():
    """With the default lumbo-pelvic rhythm, OpenSim's lumbar goal takes its hip flexion from the warm
    start, MarkerIK couples them in the solve: from a warm start at the solution (exact markers of a pose
    that follows the rhythm) both stay on it, OpenSim within its stopping bound (< 0.25 deg on the flexions,
    test_opensim_ik_matches_converged_marker_ik_within_its_stopping_bound)."""
    osim_ik = _opensim_ik(prior_couplings=IKConfig().prior_couplings, temporal_weight=0.0)
    model = load_default()
    truth, markers = _squat_off_the_range_limits(n_frames=6)
    for name, source, ratio in IKConfig().prior_couplings:
        truth[:, model.coordinate_index(name)] += ratio * truth[:, model.coordinate_index(source)]
    rows = [model.marker_names.index(m) for m in MARKER_NAMES]
    markers = marker_positions(model, truth)[:, rows]
    hips = [MARKER_NAMES.index("LHip"), MARKER_NAMES.index("RHip")]
    targets = markers - markers[:, hips].mean(axis=1, keepdims=True)
    numpy_ik = MarkerIK(model, MARKER_NAMES, IKConfig(temporal_weight=0.0, foot_flat_weight=0.0, balance_weight=0.0,
                                                      max_iterations=50, step_tolerance=1e-10))
    cols = [model.coordinate_index(c) for c in ("L5_S1_Flex_Ext", "pelvis_tilt", "hip_flexion_r", "hip_flexion_l",
                                                "knee_angle_r", "knee_angle_l")]
    for q_true, x in zip(truth, targets):
        q_numpy = numpy_ik.solve(q_true, world_m=x).q
        q_osim = osim_ik.solve(q_true, world_m=x).q
        assert np.degrees(np.abs(q_numpy - q_true)[cols]).max() < 1e-3
        assert np.degrees(np.abs(q_osim - q_true)[cols]).max() < 0.25
