"""Camera process: frames -> FrameInfo + Pose + Heartbeat through a publish callback (no sockets)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.camera import CameraConfig, CameraProcess, decode_frame, encode_frame
from edge.messages import FrameInfo, Heartbeat, ImageEncoding, Message, Pose, ProcessState
from edge.pose_estimation import PoseBackend, PoseConfig
from edge.sources import SourceConfig
from tests.fixtures.mannequin import BACKGROUND, draw_mannequin
from tests.fixtures.pose_task import build_task_file

N_PERSON, N_EMPTY = 3, 2


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 320x240 clip: 3 frames of a mannequin, then 2 empty frames."""
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    assert writer.isOpened()
    for i in range(N_PERSON):
        canvas = np.full((240, 320, 3), BACKGROUND, np.uint8)
        writer.write(draw_mannequin(canvas, center_x_px=150 + 3 * i)[0])
    for _ in range(N_EMPTY):
        writer.write(np.full((240, 320, 3), BACKGROUND, np.uint8))
    writer.release()
    return path


def _split(messages: list[Message]) -> tuple[list[FrameInfo], list[Pose], list[Heartbeat]]:
    return ([m for m in messages if isinstance(m, FrameInfo)], [m for m in messages if isinstance(m, Pose)],
            [m for m in messages if isinstance(m, Heartbeat)])


@pytest.mark.parametrize("kwargs, field", [
    ({"jpeg_quality": 0}, "jpeg_quality"),
    ({"heartbeat_interval_ms": 0}, "heartbeat_interval_ms"),
    ({"forward": "jpeg"}, "forward"),
    ({"process_name": ""}, "process_name"),
])
def test_config_validation(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CameraConfig(**kwargs)


def test_jpeg_and_bgr8_round_trip() -> None:
    image, _ = draw_mannequin(height_px=240, width_px=200)
    for encoding in (ImageEncoding.JPEG, ImageEncoding.BGR8):
        data = encode_frame(image, encoding, jpeg_quality=90)
        info = FrameInfo(seq=0, t_capture_ns=1, frame_index=0, width=200, height=240, source="t",
                         image=data, image_encoding=encoding)
        decoded = decode_frame(info)
        assert decoded.shape == (240, 200, 3)
        assert np.abs(decoded.astype(int) - image).mean() < 3
    assert encode_frame(image, ImageEncoding.NONE) == b""
    bad = FrameInfo(seq=5, t_capture_ns=1, frame_index=0, width=100, height=240, source="t",
                    image=encode_frame(image, ImageEncoding.JPEG), image_encoding=ImageEncoding.JPEG)
    with pytest.raises(ValueError, match="seq 5"):
        decode_frame(bad)


def test_file_run_publishes_frames_poses_and_states(clip: Path) -> None:
    config = CameraConfig(source=SourceConfig(spec=str(clip)), forward=ImageEncoding.JPEG)
    messages: list[Message] = []
    with CameraProcess(config) as camera:
        final = camera.run(messages.append)
    assert final is ProcessState.ENDED
    frames, poses, beats = _split(messages)
    n = N_PERSON + N_EMPTY
    assert [f.seq for f in frames] == list(range(n)) and [p.seq for p in poses] == list(range(n))
    assert [f.frame_index for f in frames] == list(range(n))
    assert [f.t_capture_ns for f in frames] == [p.t_capture_ns for p in poses]  # stamped once, carried
    assert [p.detected for p in poses] == [True] * N_PERSON + [False] * N_EMPTY
    assert np.all(np.isnan(poses[-1].image_xyz))
    assert all(p.inference_ns > 0 for p in poses)
    for f in frames:
        assert (f.width, f.height, f.image_encoding) == (320, 240, ImageEncoding.JPEG)
        assert decode_frame(f).shape == (240, 320, 3)
    # per frame: FrameInfo then its Pose
    kinds = [type(m) for m in messages if not isinstance(m, Heartbeat)]
    assert kinds == [FrameInfo, Pose] * n
    assert [b.seq for b in beats] == list(range(len(beats)))
    states = [b.state for b in beats]
    for state in (ProcessState.RUNNING, ProcessState.NO_PERSON, ProcessState.ENDED):
        assert state in states
    order = [states.index(s) for s in (ProcessState.RUNNING, ProcessState.NO_PERSON, ProcessState.ENDED)]
    assert order == sorted(order)
    assert beats[-1].state is ProcessState.ENDED and beats[-1].process == "camera"
    assert {"read", "pose", "publish"} <= set(beats[-1].stage_ms)


def test_max_frames_and_stop_event(clip: Path) -> None:
    config = CameraConfig(source=SourceConfig(spec=str(clip), processing_width_px=160))
    messages: list[Message] = []
    with CameraProcess(config) as camera:
        state = camera.run(messages.append, max_frames=2)
        frames, poses, _ = _split(messages)
        assert len(frames) == 2 and len(poses) == 2 and state is ProcessState.RUNNING
        assert (frames[0].width, frames[0].height) == (160, 120) and frames[0].image == b""
        stop = threading.Event()
        stop.set()
        messages.clear()
        camera.run(messages.append, stop_event=stop)
        assert not _split(messages)[0]  # stopped before reading a frame; only the exit heartbeat
        assert isinstance(messages[-1], Heartbeat)


def test_absent_webcam_reports_unavailable_and_stops_cleanly() -> None:
    config = CameraConfig(source=SourceConfig(spec="99", reconnect_initial_delay_ms=20, reconnect_max_delay_ms=50),
                          heartbeat_interval_ms=50)
    messages: list[Message] = []
    stop = threading.Event()
    timer = threading.Timer(0.6, stop.set)
    with CameraProcess(config) as camera:
        timer.start()
        try:
            state = camera.run(messages.append, stop_event=stop)
        finally:
            timer.cancel()
    frames, poses, beats = _split(messages)
    assert not frames and not poses
    assert state is ProcessState.SOURCE_UNAVAILABLE
    assert len(beats) >= 3  # periodic heartbeats continue while the source is away
    assert beats[-1].state is ProcessState.SOURCE_UNAVAILABLE and "attempt" in beats[-1].detail


def test_multiple_people_state_with_tasks_backend(tmp_path: Path) -> None:
    canvas = np.full((480, 800, 3), BACKGROUND, np.uint8)
    draw_mannequin(canvas, center_x_px=220)
    draw_mannequin(canvas, center_x_px=620, scale=0.75)
    cv2.imwrite(str(tmp_path / "two.png"), canvas)
    task = build_task_file(tmp_path / "pose.task")
    config = CameraConfig(source=SourceConfig(spec=str(tmp_path / "two.png")),
                          pose=PoseConfig(backend=PoseBackend.TASKS, task_path=task, num_poses=2))
    messages: list[Message] = []
    with CameraProcess(config) as camera:
        camera.run(messages.append)
    _, poses, beats = _split(messages)
    assert len(poses) == 1 and poses[0].detected
    assert ProcessState.MULTIPLE_PEOPLE in [b.state for b in beats]


def test_bad_source_fails_at_open_with_its_name(tmp_path: Path) -> None:
    camera = CameraProcess(CameraConfig(source=SourceConfig(spec=str(tmp_path / "missing.mp4"))))
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        camera.open()
