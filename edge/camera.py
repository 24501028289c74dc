"""Camera stage: read frames, estimate the pose, publish FrameInfo, Pose and Heartbeat messages.

Inputs: a ``CameraConfig`` (frame source, pose estimator, frame forwarding) and a ``publish``
callback (the lead wires it to the ZeroMQ bus; tests pass a list's append). Outputs, per frame: one
``FrameInfo`` (with the image as raw BGR8 or JPEG when forwarding is on) and one ``Pose``
(``detected=False`` with NaN arrays when nobody is seen; landmarks with low visibility, e.g. under
partial occlusion, are published with their visibility for the lifter to weight); and a
``Heartbeat`` every ``heartbeat_interval_ms`` and on every state change, carrying the ProcessState
(RUNNING, NO_PERSON, MULTIPLE_PEOPLE, SOURCE_UNAVAILABLE, RECONNECTING, ENDED) and the p50 timings
of the read, pose and publish sections (edge.timing.CycleTimer).

Algorithm: a single loop, read -> estimate -> publish. ``t_capture_ns`` is stamped once by the
source and carried unchanged into both messages; FrameInfo, Pose and Heartbeat each count their own
``seq`` from 0. Live sources hand over only their newest frame, so a slow pose model drops frames
at the source instead of adding latency; files are processed frame by frame. State changes are
logged once each.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from edge.messages import FrameInfo, Heartbeat, ImageEncoding, Message, ProcessState
from edge.pose_estimation import PoseConfig, PoseEstimator, PoseResult
from edge.sources import FrameSource, SourceConfig, SourceFrame, SourceState, open_source
from edge.synthetic.source import SyntheticSource, SyntheticSourceConfig
from edge.timing import CycleTimer

log = logging.getLogger(__name__)

SYNTHETIC_SPEC = "synthetic"
"""Source spec of the built-in synthetic subject (settings: ``CameraConfig.synthetic``)."""

_SOURCE_STATES = {
    SourceState.UNAVAILABLE: ProcessState.SOURCE_UNAVAILABLE,
    SourceState.RECONNECTING: ProcessState.RECONNECTING,
    SourceState.ENDED: ProcessState.ENDED,
    SourceState.CLOSED: ProcessState.ENDED,
}


@dataclass(frozen=True)
class CameraConfig:
    """Camera process settings.

    source: where frames come from (spec, processing width, pacing, reconnect backoff).
    pose: the pose estimator.
    forward: put each frame into FrameInfo as NONE, raw BGR8 (local overlay) or JPEG (remote overlay).
    jpeg_quality: 1..100, when forward is JPEG.
    heartbeat_interval_ms: period of Heartbeat messages (state changes also send one at once).
    process_name: the name heartbeats carry.
    synthetic: the rendered subject filmed when ``source.spec`` is ``"synthetic"`` (``bige demo``).
    """

    source: SourceConfig = field(default_factory=SourceConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    forward: ImageEncoding = ImageEncoding.NONE
    jpeg_quality: int = 80
    heartbeat_interval_ms: float = 1000.0
    process_name: str = "camera"
    synthetic: SyntheticSourceConfig = field(default_factory=SyntheticSourceConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.forward, ImageEncoding):
            raise ValueError(f"forward must be one of {[e.value for e in ImageEncoding]}, got {self.forward!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if not self.heartbeat_interval_ms > 0:
            raise ValueError(f"heartbeat_interval_ms must be positive, got {self.heartbeat_interval_ms}")
        if not self.process_name:
            raise ValueError("process_name must not be empty")


def encode_frame(image_bgr: np.ndarray, encoding: ImageEncoding, jpeg_quality: int = 80) -> bytes:
    """The frame's bytes for FrameInfo.image (empty for NONE).

    Raises:
        RuntimeError: OpenCV failed to encode the JPEG.
    """
    if encoding is ImageEncoding.NONE:
        return b""
    if encoding is ImageEncoding.BGR8:
        return np.ascontiguousarray(image_bgr).tobytes()
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding of a {image_bgr.shape} frame failed")
    return buf.tobytes()


def decode_frame(info: FrameInfo) -> np.ndarray:
    """The forwarded image of a FrameInfo as an (height, width, 3) uint8 BGR array.

    Raises:
        ValueError: the FrameInfo carries no image, or its bytes do not match its size and encoding.
    """
    if info.image_encoding is ImageEncoding.NONE or not info.image:
        raise ValueError(f"FrameInfo seq {info.seq} carries no image (encoding {info.image_encoding.value})")
    if info.image_encoding is ImageEncoding.BGR8:
        expected = info.height * info.width * 3
        if len(info.image) != expected:
            raise ValueError(f"FrameInfo seq {info.seq}: {len(info.image)} bytes of BGR8, expected "
                             f"{expected} for {info.width}x{info.height}")
        return np.frombuffer(info.image, np.uint8).reshape(info.height, info.width, 3)
    image = cv2.imdecode(np.frombuffer(info.image, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != (info.height, info.width):
        raise ValueError(f"FrameInfo seq {info.seq}: JPEG does not decode to {info.width}x{info.height}")
    return image


class CameraProcess:
    """Source + pose estimator + publishing loop; open(), run(), close(), or use as a context manager."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.timer = CycleTimer()
        self.state = ProcessState.STARTING
        self._source: FrameSource | None = None
        self._estimator: PoseEstimator | None = None
        self._seq = {"frame": 0, "pose": 0, "heartbeat": 0}
        self._first_capture_ns: int | None = None
        self._state_detail = ""
        self._last_heartbeat_ns: int | None = None

    def open(self) -> None:
        """Load the pose model, then open the source (a live source that is absent does not raise).

        Raises:
            FileNotFoundError, SourceError, ValueError, RuntimeError: from the source or the estimator,
            each naming the file or setting at fault.
        """
        estimator = PoseEstimator(self.config.pose)
        estimator.open()
        try:
            if self.config.source.spec.strip() == SYNTHETIC_SPEC:
                self._source = SyntheticSource(self.config.synthetic)
                self._source.open()
            else:
                self._source = open_source(self.config.source)
        except BaseException:
            estimator.close()
            raise
        self._estimator = estimator

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
        if self._estimator is not None:
            self._estimator.close()
            self._estimator = None

    def __enter__(self) -> CameraProcess:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, publish: Callable[[Message], None], stop_event: threading.Event | None = None,
            max_frames: int | None = None) -> ProcessState:
        """Process frames until the source ends, ``stop_event`` is set, or ``max_frames`` were published.

        Args:
            publish: called with each FrameInfo, Pose and Heartbeat, in that order per frame; must not block.
            stop_event: set it (e.g. from a signal handler) to stop after the current frame.
            max_frames: stop after this many frames (None: no limit).

        Returns:
            The state at exit (ENDED when the source ended; otherwise the last state).

        Raises:
            RuntimeError: the process is not open.
        """
        if self._source is None or self._estimator is None:
            raise RuntimeError("CameraProcess is not open: call open() or use it as a context manager")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        source, estimator = self._source, self._estimator
        n_frames = 0
        while not (stop_event is not None and stop_event.is_set()):
            t0 = time.monotonic_ns()
            frame = source.read()
            if frame is None:
                state = _SOURCE_STATES.get(source.state)
                if state is None:  # an open live source without a new frame yet
                    self._heartbeat_if_due(publish)
                    continue
                self._set_state(state, source.detail, publish)
                if state is ProcessState.ENDED:
                    break
                self._heartbeat_if_due(publish)
                continue
            self.timer.add("read", time.monotonic_ns() - t0)
            with self.timer.section("pose"):
                result = estimator.estimate(frame.image_bgr, frame.t_capture_ns)
            self._set_state(*self._pose_state(result), publish)
            with self.timer.section("publish"):
                self._publish_frame(frame, result, source.description, publish)
            self.timer.end_cycle()
            self._heartbeat_if_due(publish)
            n_frames += 1
            if max_frames is not None and n_frames >= max_frames:
                break
        self._send_heartbeat(publish)
        summary = self.timer.summary()
        if summary:
            log.info("%s: %d frames, %.1f fps, p50 ms %s", self.config.process_name, n_frames, self.timer.fps(),
                     {k: round(v["p50_ms"], 1) for k, v in summary.items()})
        return self.state

    @staticmethod
    def _pose_state(result: PoseResult) -> tuple[ProcessState, str]:
        if not result.detected:
            return ProcessState.NO_PERSON, "no person in view"
        if result.num_people > 1:
            return ProcessState.MULTIPLE_PEOPLE, f"{result.num_people} people in view; tracking the largest"
        return ProcessState.RUNNING, ""

    def _publish_frame(self, frame: SourceFrame, result: PoseResult, source_description: str,
                       publish: Callable[[Message], None]) -> None:
        height, width = frame.image_bgr.shape[:2]
        info = FrameInfo(seq=self._next_seq("frame"), t_capture_ns=frame.t_capture_ns,
                         frame_index=frame.frame_index, width=width, height=height,
                         source=source_description,
                         image=encode_frame(frame.image_bgr, self.config.forward, self.config.jpeg_quality),
                         image_encoding=self.config.forward)
        publish(info)
        if frame.t_source_s is not None:
            t_source_ns = round(frame.t_source_s * 1e9)
        else:  # live: time since the first frame of this run
            if self._first_capture_ns is None:
                self._first_capture_ns = frame.t_capture_ns
            t_source_ns = frame.t_capture_ns - self._first_capture_ns
        publish(result.to_message(self._next_seq("pose"), frame.t_capture_ns, frame.frame_index, (width, height),
                                  t_source_ns))

    def _next_seq(self, stream: str) -> int:
        seq = self._seq[stream]
        self._seq[stream] = seq + 1
        return seq

    def _set_state(self, state: ProcessState, detail: str, publish: Callable[[Message], None]) -> None:
        if state is self.state:
            self._state_detail = detail
            return
        log.info("%s: %s -> %s%s", self.config.process_name, self.state.value, state.value,
                 f" ({detail})" if detail else "")
        self.state = state
        self._state_detail = detail
        self._send_heartbeat(publish)

    def _heartbeat_if_due(self, publish: Callable[[Message], None]) -> None:
        now = time.monotonic_ns()
        interval_ns = self.config.heartbeat_interval_ms * 1e6
        if self._last_heartbeat_ns is None or now - self._last_heartbeat_ns >= interval_ns:
            self._send_heartbeat(publish)

    def _send_heartbeat(self, publish: Callable[[Message], None]) -> None:
        now = time.monotonic_ns()
        publish(Heartbeat(seq=self._next_seq("heartbeat"), t_capture_ns=now, process=self.config.process_name,
                          state=self.state, detail=self._state_detail, fps=self.timer.fps(),
                          stage_ms=self.timer.p50_ms()))
        self._last_heartbeat_ns = now
