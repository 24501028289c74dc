"""Pose estimation with both MediaPipe backends on a drawn mannequin and on real video frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.messages import N_LANDMARKS, Pose
from edge.paths import shared_dir
from edge.pose_estimation import PoseBackend, PoseConfig, PoseEstimator, check_task_file
from tests.fixtures.mannequin import BACKGROUND, LANDMARK_INDEX, draw_mannequin
from tests.fixtures.pose_task import build_task_file

SHARED_VIDEO = shared_dir() / "data" / "opencap_sts" / "video.mp4"


@pytest.fixture(scope="module")
def task_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_task_file(tmp_path_factory.mktemp("task") / "pose_full.task")


@pytest.fixture(scope="module", params=[PoseBackend.LEGACY, PoseBackend.TASKS], ids=["legacy", "tasks"])
def config(request: pytest.FixtureRequest, task_path: Path) -> PoseConfig:
    if request.param is PoseBackend.LEGACY:
        return PoseConfig(backend=PoseBackend.LEGACY)
    return PoseConfig(backend=PoseBackend.TASKS, task_path=task_path)


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="task_path"):
        PoseConfig(backend=PoseBackend.TASKS)
    with pytest.raises(ValueError, match="min_tracking_confidence"):
        PoseConfig(min_tracking_confidence=1.5)
    with pytest.raises(ValueError, match="num_poses"):
        PoseConfig(num_poses=0)
    assert isinstance(PoseConfig(backend=PoseBackend.TASKS, task_path=str(tmp_path / "x.task")).task_path, Path)


def test_missing_task_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "absent.task"
    with pytest.raises(FileNotFoundError, match="absent.task"):
        PoseEstimator(PoseConfig(backend=PoseBackend.TASKS, task_path=missing)).open()


def test_task_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.task"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a zip"):
        check_task_file(bogus)


def test_built_task_file_is_a_pose_bundle(task_path: Path) -> None:
    check_task_file(task_path)  # raises if a member is missing


def test_estimate_before_open_and_bad_frames() -> None:
    estimator = PoseEstimator(PoseConfig())
    with pytest.raises(RuntimeError, match="not open"):
        estimator.estimate(np.zeros((4, 4, 3), np.uint8), 0)
    with estimator:
        with pytest.raises(ValueError, match="uint8"):
            estimator.estimate(np.zeros((4, 4), np.uint8), 0)
        with pytest.raises(ValueError, match="uint8"):
            estimator.estimate(np.zeros((4, 4, 3), np.float32), 0)


def test_video_timestamps_strictly_increase() -> None:
    estimator = PoseEstimator(PoseConfig())
    t_ns = [5_000_000, 5_000_000, 5_400_000, 7_000_000, 6_000_000]
    assert [estimator.video_timestamp_ms(t) for t in t_ns] == [5, 6, 7, 8, 9]


def test_mannequin_landmarks_at_drawn_joints(config: PoseConfig) -> None:
    image, joints = draw_mannequin()
    h, w = image.shape[:2]
    with PoseEstimator(config) as estimator:
        result = estimator.estimate(image, 1_000_000_000)
    assert result.detected and result.num_people == 1
    for array, shape in ((result.image_xyz, (N_LANDMARKS, 3)), (result.world_xyz, (N_LANDMARKS, 3)),
                         (result.visibility, (N_LANDMARKS,)), (result.presence, (N_LANDMARKS,))):
        assert array.shape == shape and array.dtype == np.float32
    for name, (x_px, y_px) in joints.items():
        x, y = result.image_xyz[LANDMARK_INDEX[name], :2]
        assert abs(x * w - x_px) < 0.04 * h and abs(y * h - y_px) < 0.04 * h, name
    assert np.all(result.visibility[list(LANDMARK_INDEX.values())] > 0.5)
    if config.backend is PoseBackend.TASKS:
        assert np.all(result.presence[list(LANDMARK_INDEX.values())] > 0.5)
    else:
        assert np.all(np.isnan(result.presence))  # the legacy API reports no presence
    # world frame: metres, hip-centred, y down: ankles ~0.8 m below the hips, shoulders above
    hips_y = result.world_xyz[[23, 24], 1].mean()
    assert 0.5 < result.world_xyz[[27, 28], 1].mean() - hips_y < 1.2
    assert result.world_xyz[[11, 12], 1].mean() < hips_y
    assert np.abs(result.world_xyz[[23, 24]].mean(axis=0)).max() < 0.05
    message = result.to_message(seq=3, t_capture_ns=1_000_000_000, frame_index=7, image_size_px=(640, 480))
    assert isinstance(message, Pose) and message.detected and message.frame_index == 7
    assert (message.image_width_px, message.image_height_px) == (640, 480)


def test_empty_frame_is_no_person(config: PoseConfig) -> None:
    with PoseEstimator(config) as estimator:
        result = estimator.estimate(np.full((480, 640, 3), BACKGROUND, np.uint8), 1_000_000)
    assert not result.detected and result.num_people == 0
    assert np.all(np.isnan(result.image_xyz)) and np.all(np.isnan(result.visibility))
    assert result.to_message(0, 1_000_000, 0, (640, 480)).detected is False


def test_equal_capture_times_are_accepted(config: PoseConfig) -> None:
    image, _ = draw_mannequin()
    with PoseEstimator(config) as estimator:
        results = [estimator.estimate(image, 42_000_000) for _ in range(2)]
    assert all(r.detected for r in results)


def test_tasks_backend_counts_people_and_reports_the_largest(task_path: Path) -> None:
    canvas = np.full((480, 800, 3), BACKGROUND, np.uint8)
    draw_mannequin(canvas, center_x_px=220, scale=1.0)
    draw_mannequin(canvas, center_x_px=620, scale=0.75)
    with PoseEstimator(PoseConfig(backend=PoseBackend.TASKS, task_path=task_path, num_poses=2)) as estimator:
        result = estimator.estimate(canvas, 0)
    assert result.detected and result.num_people == 2
    assert result.image_xyz[:, 0].mean() < 0.5  # the larger, left figure
    with PoseEstimator(PoseConfig(backend=PoseBackend.LEGACY)) as estimator:
        assert estimator.estimate(canvas, 0).num_people == 1  # the legacy API sees at most one


@pytest.mark.shared
def test_backends_agree_on_real_video(task_path: Path) -> None:
    if not SHARED_VIDEO.is_file():
        pytest.skip(f"shared video not found: {SHARED_VIDEO}")
    cap = cv2.VideoCapture(str(SHARED_VIDEO))
    frames = []
    for _ in range(4):
        ok, frame = cap.read()
        assert ok
        frames.append(cv2.resize(frame, (360, 640), interpolation=cv2.INTER_AREA))
    cap.release()
    legacy = PoseEstimator(PoseConfig(backend=PoseBackend.LEGACY))
    tasks = PoseEstimator(PoseConfig(backend=PoseBackend.TASKS, task_path=task_path))
    with legacy, tasks:
        for i, frame in enumerate(frames):
            t_ns = 1_000_000_000 + i * 16_666_667
            a, b = legacy.estimate(frame, t_ns), tasks.estimate(frame, t_ns)
            assert a.detected and b.detected and b.num_people == 1
            diff = np.abs(a.image_xyz[:, :2] - b.image_xyz[:, :2])  # (33, 2)
            assert diff.mean() < 0.01 and diff.max() < 0.03, (i, diff.mean(), diff.max())
            assert np.abs(a.world_xyz - b.world_xyz).mean() < 0.02
