"""OpenSim's IK against the numpy MarkerIK on real MediaPipe landmarks: per-coordinate RMS difference and time.

Usage: ``python scripts/compare_ik_opensim.py [--frames N] [--video PATH | --session DIR]``

Landmarks: the world landmarks of the first N frames of ../shared/data/opencap_sts/video.mp4 (MediaPipe
legacy, edge.pose_estimation), or of a session recorded by ``bige run`` (its landmarks.bin). They are
rotated into the ground frame (calibration.floor: gravity from standing frames, else a level
camera), and both solvers fit the same hip-centred world markers weighted by visibility, with
MarkerIK's default priors and temporal weight (or, with --no-priors, neither) and its fixed
coordinates (mtp, wrists), warm-started from one cold-start fit of the first frame, frame by frame
(the live path). OpenSim runs twice, the second time on landmarks moved by ~1e-9 m (its sensitivity
to its own stopping point). Prints a table of the RMS and largest difference per coordinate (deg)
and the time per frame. Needs opensim (x86-64); exits 0 with a message when the shared video is absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from calibration.floor import FloorAlignment, estimate_floor_alignment
from edge.ik import IKConfig, MarkerIK
from edge.lifter import COLD_START_ITERATIONS, LANDMARKS, MARKER_NAMES, LifterConfig, knee_bend_deg
from edge.paths import shared_dir
from edge.skeleton.model import load_default
from edge.timing import CycleTimer

NUDGE_M = 1e-9
TABLE_COORDINATES = (
    "pelvis_tilt", "pelvis_list", "pelvis_rotation",
    "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r", "subtalar_angle_r",
    "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "ankle_angle_l", "subtalar_angle_l",
    "L5_S1_Flex_Ext", "neck_flexion", "arm_flex_r", "arm_add_r", "elbow_flex_r", "arm_flex_l", "arm_add_l",
    "elbow_flex_l",
)


def video_landmarks(video: Path, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """World landmarks (T, 33, 3) and visibilities (T, 33) of the first n_frames with a person."""
    from edge.pose_estimation import PoseConfig, PoseEstimator

    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open video {video}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    world, vis = [], []
    with PoseEstimator(PoseConfig()) as estimator:
        index = 0
        while len(world) < n_frames:
            ok, frame = capture.read()
            if not ok:
                break
            result = estimator.estimate(frame, int(index * 1e9 / fps))
            index += 1
            if result.detected:
                world.append(result.world_xyz)
                vis.append(result.visibility)
    capture.release()
    if not world:
        raise ValueError(f"no person detected in the first {index} frames of {video}")
    return np.stack(world).astype(np.float64), np.stack(vis).astype(np.float64)


def session_landmarks(folder: Path, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """World landmarks and visibilities of the first n_frames detected poses of a recorded session."""
    from edge.recorder import read_session

    records = read_session(folder).landmarks
    records = records[records["detected"] == 1][:n_frames]
    if len(records) == 0:
        raise ValueError(f"session {folder} has no detected pose in landmarks.bin")
    return records["world_xyz"].astype(np.float64), records["visibility"].astype(np.float64)


def ground_alignment(world: np.ndarray, vis: np.ndarray) -> tuple[FloorAlignment, str]:
    """Gravity from the standing frames (straight knees, as the lifter), else a level camera."""
    standing = (knee_bend_deg(world) < LifterConfig().standing_knee_deg).all(axis=-1)
    if standing.sum() >= LifterConfig().min_standing_frames:
        return estimate_floor_alignment(world[standing], vis[standing]), f"{int(standing.sum())} standing frames"
    return FloorAlignment.level_camera(), "level camera assumed (too few standing frames)"


def objective_rms_m(ik: MarkerIK, q: np.ndarray, markers: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted RMS marker distance (m) of solutions q (T, n) under MarkerIK's objective (markers relative
    to their mid-hip) and under OpenSim's (markers after the best translation), over all frames."""
    m = np.stack([ik.markers(qt) for qt in q])  # (T, M, 3)
    hips = [MARKER_NAMES.index("LHip"), MARKER_NAMES.index("RHip")]
    w = weights[..., None]
    hip_centred = (m - m[:, hips].mean(axis=1, keepdims=True)) - (markers - markers[:, hips].mean(axis=1, keepdims=True))
    shift = (w * (markers - m)).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True)
    translated = m + shift - markers
    return tuple(float(np.sqrt((w * e ** 2).sum() / weights.sum())) for e in (hip_centred, translated))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="frames to compare (default 60)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--video", type=Path, help="video file (default ../shared/data/opencap_sts/video.mp4)")
    source.add_argument("--session", type=Path, help="a session folder recorded by `bige run`")
    parser.add_argument("--accuracy", type=float, default=None, help="OpenSim IK accuracy (default: the config's)")
    parser.add_argument("--no-priors", action="store_true", help="no priors, no temporal term, in both solvers")
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error(f"--frames must be >= 2, got {args.frames}")

    from edge.ik_opensim import OpenSimIKConfig, OpenSimMarkerIK, default_model_files

    if args.session is not None:
        world, vis = session_landmarks(args.session, args.frames)
        source_name = str(args.session)
    else:
        video = args.video or shared_dir() / "data" / "opencap_sts" / "video.mp4"
        if not video.is_file():
            print(f"video not found: {video} (shared data absent); nothing to compare")
            return 0
        world, vis = video_landmarks(video, args.frames)
        source_name = str(video)
    alignment, gravity = ground_alignment(world, vis)
    markers = alignment.apply(world[:, LANDMARKS])  # (T, 25, 3) ground frame, hip-centred
    weights = np.nan_to_num(vis[:, LANDMARKS])  # (T, 25)

    model = load_default()
    priors = {"prior_weights": (), "temporal_weight": 0.0} if args.no_priors else {}
    numpy_ik = MarkerIK(model, MARKER_NAMES, IKConfig(foot_flat_weight=0.0, balance_weight=0.0, max_iterations=30,
                                                      **priors))
    osim_config = OpenSimIKConfig(**priors, **({} if args.accuracy is None else {"accuracy": args.accuracy}))
    osim_path, marker_xml = default_model_files()
    osim_ik = OpenSimMarkerIK(osim_path, MARKER_NAMES, osim_config, marker_set_path=marker_xml)

    q0 = numpy_ik.solve(numpy_ik.default_q, world_m=markers[0], world_weights=weights[0],
                        max_iterations=COLD_START_ITERATIONS).q
    timer = CycleTimer()
    q_numpy, q = [], q0
    for x, w in zip(markers, weights):
        with timer.section("MarkerIK"):
            q = numpy_ik.solve(q, world_m=x, world_weights=w).q
        q_numpy.append(q)
    nudged = markers + np.random.default_rng(0).normal(0.0, NUDGE_M, markers.shape)
    q_osim, q_nudged = [], []
    for section, targets, out in (("OpenSim", markers, q_osim), ("OpenSim nudged", nudged, q_nudged)):
        q = q0
        for x, w in zip(targets, weights):
            with timer.section(section):
                q = osim_ik.solve(q, world_m=x, world_weights=w).q
            out.append(q)
    q_numpy, q_osim, q_nudged = np.array(q_numpy), np.array(q_osim), np.array(q_nudged)

    n = len(markers)
    print(f"source: {source_name}, {n} frames, gravity: {gravity}, OpenSim accuracy {osim_config.accuracy:g}, "
          f"{'no priors' if args.no_priors else 'priors and temporal term'}, "
          f"fixed: {', '.join(numpy_ik.config.fixed_coordinates)}")
    print(f"{'coordinate':<18} {'RMS deg':>8} {'max deg':>8} {'max deg':>10} {'mean deg':>9}")
    print(f"{'':<18} {'OpenSim - MarkerIK':>17} {'nudged':>10} {'(MarkerIK)':>10}")
    for name in TABLE_COORDINATES:
        if name in numpy_ik.config.fixed_coordinates:
            continue
        i = model.coordinate_index(name)
        d = np.degrees(q_osim[:, i] - q_numpy[:, i])
        d_nudged = np.degrees(q_osim[:, i] - q_nudged[:, i])
        print(f"{name:<18} {np.sqrt((d ** 2).mean()):8.2f} {np.abs(d).max():8.2f} "
              f"{np.abs(d_nudged).max():10.3f} {np.degrees(q_numpy[:, i]).mean():9.1f}")
    for label, q_sol in (("MarkerIK", q_numpy), ("OpenSim", q_osim)):
        hip_rms, free_rms = objective_rms_m(numpy_ik, q_sol, markers, weights)
        print(f"marker RMS of {label:<8}: {100 * hip_rms:.2f} cm hip-centred (MarkerIK's objective), "
              f"{100 * free_rms:.2f} cm with the best translation (OpenSim's)")
    summary = timer.summary()
    print("time per frame (ms): "
          f"MarkerIK {summary['MarkerIK']['mean_ms']:.1f} (p95 {summary['MarkerIK']['p95_ms']:.1f}), "
          f"OpenSim {summary['OpenSim']['mean_ms']:.1f} (p95 {summary['OpenSim']['p95_ms']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
