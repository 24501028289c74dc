"""Frame sources: files, image folders, absent webcams and streams, reconnect after an unplug."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.sources import (
    ImageFolderSource, LiveSource, SourceConfig, SourceError, SourceKind, SourceState, VideoFileSource,
    backoff_delay_ms, open_source, parse_spec,
)

N_FRAMES = 12
FPS = 25.0


def _grey(level: int, shape: tuple[int, int] = (120, 160)) -> np.ndarray:
    return np.full((*shape, 3), level, np.uint8)


@pytest.fixture(scope="module")
def video_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames, 160x120, frame i a uniform grey of level 20 * i (so the order can be checked)."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (160, 120))
    assert writer.isOpened()
    for i in range(N_FRAMES):
        writer.write(_grey(20 * i))
    writer.release()
    return path


def test_parse_spec_kinds() -> None:
    assert parse_spec("0") == (SourceKind.WEBCAM, 0)
    assert parse_spec(" 2 ") == (SourceKind.WEBCAM, 2)
    assert parse_spec("/dev/video3") == (SourceKind.WEBCAM, 3)
    assert parse_spec("rtsp://10.0.0.2:554/cam") == (SourceKind.STREAM, "rtsp://10.0.0.2:554/cam")
    assert parse_spec("http://host/stream.mjpg")[0] is SourceKind.STREAM
    assert parse_spec("clips/squat.mp4") == (SourceKind.FILE, "clips/squat.mp4")


@pytest.mark.parametrize("spec", ["", "   ", "ftp://host/video.mp4"])
def test_parse_spec_rejects(spec: str) -> None:
    with pytest.raises(ValueError, match="source spec"):
        parse_spec(spec)


@pytest.mark.parametrize("kwargs, field", [
    ({"processing_width_px": 8}, "processing_width_px"),
    ({"folder_fps": 0}, "folder_fps"),
    ({"reconnect_initial_delay_ms": 0}, "reconnect_initial_delay_ms"),
    ({"reconnect_initial_delay_ms": 100, "reconnect_max_delay_ms": 50}, "reconnect_max_delay_ms"),
    ({"capture_fps": -1}, "capture_fps"),
    ({"spec": "gopher://x"}, "scheme"),
])
def test_source_config_validation(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SourceConfig(**kwargs)


def test_backoff_doubles_up_to_max() -> None:
    config = SourceConfig(reconnect_initial_delay_ms=500, reconnect_max_delay_ms=3000)
    assert [backoff_delay_ms(a, config) for a in range(5)] == [500, 1000, 2000, 3000, 3000]
    assert backoff_delay_ms(10_000, config) == 3000


def test_video_file_reads_every_frame_in_order_then_ends(video_path: Path) -> None:
    with open_source(str(video_path)) as source:
        assert isinstance(source, VideoFileSource)
        assert source.state is SourceState.OPEN
        assert source.fps == pytest.approx(FPS)
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
        assert source.state is SourceState.ENDED
        assert source.read() is None
    assert source.state is SourceState.CLOSED
    assert [f.frame_index for f in frames] == list(range(N_FRAMES))
    levels = [float(f.image_bgr.mean()) for f in frames]
    assert levels == pytest.approx([20 * i for i in range(N_FRAMES)], abs=4)
    t = [f.t_capture_ns for f in frames]
    assert all(b > a for a, b in zip(t, t[1:]))
    assert [f.t_source_s for f in frames] == pytest.approx([i / FPS for i in range(N_FRAMES)])
    assert frames[0].image_bgr.shape == (120, 160, 3)


def test_video_file_resized_to_processing_width(video_path: Path) -> None:
    with open_source(SourceConfig(spec=str(video_path), processing_width_px=80)) as source:
        frame = source.read()
    assert frame is not None and frame.image_bgr.shape == (60, 80, 3)


def test_realtime_pacing_plays_at_file_rate_without_dropping(video_path: Path) -> None:
    with open_source(SourceConfig(spec=str(video_path), realtime=True)) as source:
        frames = [source.read() for _ in range(6)]
    assert [f.frame_index for f in frames if f is not None] == list(range(6))
    span_s = (frames[-1].t_capture_ns - frames[0].t_capture_ns) / 1e9
    assert span_s >= 5 / FPS * 0.95  # paced: never faster than the file's rate


def test_image_folder_natural_order_and_end(tmp_path: Path) -> None:
    for i in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), _grey(10 * i))
    (tmp_path / "notes.txt").write_text("not an image")
    config = SourceConfig(spec=str(tmp_path), folder_fps=10.0)
    with open_source(config) as source:
        assert isinstance(source, ImageFolderSource)
        assert [p.name for p in source.files] == ["frame1.png", "frame2.png", "frame10.png"]
        frames = [source.read() for _ in range(3)]
        assert source.read() is None
        assert source.state is SourceState.ENDED
    assert [f.image_bgr[0, 0, 0] for f in frames] == [10, 20, 100]
    assert [f.t_source_s for f in frames] == pytest.approx([0.0, 0.1, 0.2])


def test_single_image_is_a_one_frame_source(tmp_path: Path) -> None:
    path = tmp_path / "still.jpg"
    cv2.imwrite(str(path), _grey(128))
    with open_source(str(path)) as source:
        assert source.read() is not None
        assert source.read() is None
        assert source.state is SourceState.ENDED


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        open_source(str(missing))


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(SourceError, match="contains no images"):
        open_source(str(tmp_path))


def test_unreadable_video_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"this is not a video")
    with pytest.raises(SourceError, match="broken.mp4"):
        open_source(str(path))


def test_undecodable_image_in_folder_names_the_file(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), _grey(50))
    (tmp_path / "b.png").write_bytes(b"garbage")
    with open_source(str(tmp_path)) as source:
        assert source.read() is not None
        with pytest.raises(SourceError, match="b.png"):
            source.read()


@pytest.mark.parametrize("spec", ["99", "rtsp://127.0.0.1:9/absent"])
def test_absent_live_source_retries_without_raising(spec: str) -> None:
    config = SourceConfig(spec=spec, reconnect_initial_delay_ms=20, reconnect_max_delay_ms=80,
                          stream_timeout_ms=500)
    source = open_source(config)
    try:
        deadline = time.monotonic() + 5.0
        while source.open_attempts < 3 and time.monotonic() < deadline:
            assert source.read(timeout_ms=20) is None
        assert source.open_attempts >= 3
        assert source.state is SourceState.UNAVAILABLE
        assert "attempt" in source.detail
    finally:
        source.close()
    assert source.state is SourceState.CLOSED


class FakeCapture:
    """A device that delivers ``n_frames`` frames (None: forever) of grey level ``level``, then fails."""

    def __init__(self, opened: bool, level: int = 0, n_frames: int | None = None) -> None:
        self.opened = opened
        self.level = level
        self.remaining = n_frames
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802
        return self.opened

    def grab(self) -> bool:
        time.sleep(0.002)
        if self.remaining is not None:
            if self.remaining == 0:
                return False
            self.remaining -= 1
        return True

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        return True, _grey(self.level, (8, 8))

    def release(self) -> None:
        self.released = True

    def get(self, prop_id: int) -> float:
        return 30.0


def test_unplugged_device_reconnects_with_backoff() -> None:
    captures = [FakeCapture(False), FakeCapture(True, 50, n_frames=3), FakeCapture(False),
                FakeCapture(True, 200)]
    states_at_attempt: list[SourceState] = []
    lock = threading.Lock()

    def open_capture() -> FakeCapture:
        with lock:
            states_at_attempt.append(source.state)
            return captures[min(len(states_at_attempt), len(captures)) - 1]

    config = SourceConfig(spec="0", reconnect_initial_delay_ms=10, reconnect_max_delay_ms=40)
    source = LiveSource(SourceKind.WEBCAM, 0, config, open_capture)
    frames = []
    with source:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            frame = source.read(timeout_ms=50)
            if frame is not None:
                frames.append(frame)
                if frame.image_bgr[0, 0, 0] == 200:
                    break
        assert source.state is SourceState.OPEN
    assert states_at_attempt[:4] == [SourceState.UNAVAILABLE, SourceState.UNAVAILABLE,
                                     SourceState.RECONNECTING, SourceState.RECONNECTING]
    assert frames and frames[-1].image_bgr[0, 0, 0] == 200  # frames flow again after the reconnect
    indices = [f.frame_index for f in frames]
    assert all(b > a for a, b in zip(indices, indices[1:]))  # one running count across reconnects
    assert all(f.t_source_s is None for f in frames)
    assert captures[1].released and captures[3].released


def test_live_source_hands_over_only_the_newest_frame() -> None:
    config = SourceConfig(spec="0", processing_width_px=16)
    source = LiveSource(SourceKind.WEBCAM, 0, config, lambda: FakeCapture(True, 90))
    with source:
        first = source.read(timeout_ms=2000)
        time.sleep(0.1)  # the device keeps delivering while the consumer is busy
        newest = source.read(timeout_ms=2000)
        assert source.frames_dropped > 0
    assert first is not None and newest is not None
    assert newest.frame_index > first.frame_index + 1
    assert newest.image_bgr.shape == (16, 16, 3)  # resized on hand-over
