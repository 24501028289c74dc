"""Frame sources: webcam, video file, network stream or folder of images, behind one interface.

Inputs: a source spec string (``"0"`` or ``"/dev/video0"`` for a webcam, a video file path, an
``rtsp://``/``http(s)://``/... stream URL, a folder of images or a single image) and a
``SourceConfig``. Output: ``SourceFrame`` objects (BGR image, ``t_capture_ns`` stamped with
``time.monotonic_ns()`` right after the frame was grabbed, frame index, and for files the frame's
own time in the file).

Algorithm: files and image folders are read synchronously, optionally paced to the file's frame
rate (no frame is dropped), and end with state ENDED. Live sources (webcam, stream) are read by a
background thread that keeps only the newest frame (latest wins: the camera never waits for a slow
consumer, frames it could not take are counted as dropped). A live source that cannot be opened, or
that stops delivering (unplugged, stream cut), is retried with exponential backoff; its state
(UNAVAILABLE before the first frame, RECONNECTING after a loss) is readable at any time, and a failed
live source never raises. Frames can be resized to a processing width (aspect ratio kept).
"""

from __future__ import annotations

import enum
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt"})
_WEBCAM_DEVICE = re.compile(r"^/dev/video(\d+)$")


class SourceKind(enum.Enum):
    """What a source spec denotes."""

    WEBCAM = "webcam"
    STREAM = "stream"
    FILE = "file"
    IMAGES = "images"

    @property
    def is_live(self) -> bool:
        return self in (SourceKind.WEBCAM, SourceKind.STREAM)


class SourceState(enum.Enum):
    """State of a source, readable at any time."""

    CLOSED = "closed"
    OPEN = "open"  # delivering frames
    UNAVAILABLE = "unavailable"  # live source not opened yet; retrying with backoff
    RECONNECTING = "reconnecting"  # live source lost after delivering; retrying with backoff
    ENDED = "ended"  # file or folder fully read


class SourceError(RuntimeError):
    """A source exists but cannot be used (unreadable file, folder without images)."""


def parse_spec(spec: str) -> tuple[SourceKind, str | int]:
    """Classify a source spec without touching the file system or the network.

    Args:
        spec: ``"0"`` (webcam index), ``"/dev/videoN"``, ``scheme://...`` stream URL, or a path.

    Returns:
        (kind, target): target is the webcam index (int) or the URL/path string. Paths are reported
        as FILE here; ``open_source`` tells folders and images apart once it can look at the disk.

    Raises:
        ValueError: empty spec or a URL with a scheme that is not a supported stream.
    """
    spec = spec.strip()
    if not spec:
        raise ValueError("source spec is empty: give a webcam index ('0'), a video file, a folder of "
                         "images or a stream URL")
    if spec.isdigit():
        return SourceKind.WEBCAM, int(spec)
    if m := _WEBCAM_DEVICE.match(spec):
        return SourceKind.WEBCAM, int(m.group(1))
    if "://" in spec:
        scheme = spec.split("://", 1)[0].lower()
        if scheme not in STREAM_SCHEMES:
            raise ValueError(f"source spec {spec!r}: unsupported URL scheme {scheme!r} "
                             f"(supported: {sorted(STREAM_SCHEMES)}; give local files as plain paths)")
        return SourceKind.STREAM, spec
    return SourceKind.FILE, spec


@dataclass(frozen=True)
class SourceConfig:
    """Where frames come from and how they are delivered.

    spec: webcam index ("0"), "/dev/videoN", video file, folder of images, image, or stream URL.
    processing_width_px: resize frames to this width, keeping the aspect ratio (0: keep the size).
    realtime: pace files and folders at their frame rate (nothing dropped); False: as fast as
        possible. Live sources are always real time.
    folder_fps: frame rate assumed for a folder of images (pacing and each frame's t_source_s).
    reconnect_initial_delay_ms, reconnect_max_delay_ms: backoff of a live source's reopen attempts
        (the delay doubles after each failed attempt, up to the maximum).
    stream_timeout_ms: open and read timeout of a network stream.
    capture_width_px, capture_height_px, capture_fps: requested webcam mode (0: driver default).
    """

    spec: str = "0"
    processing_width_px: int = 0
    realtime: bool = False
    folder_fps: float = 30.0
    reconnect_initial_delay_ms: float = 500.0
    reconnect_max_delay_ms: float = 8000.0
    stream_timeout_ms: float = 5000.0
    capture_width_px: int = 0
    capture_height_px: int = 0
    capture_fps: float = 0.0

    def __post_init__(self) -> None:
        parse_spec(self.spec)
        if self.processing_width_px != 0 and self.processing_width_px < 16:
            raise ValueError(f"processing_width_px must be 0 (keep size) or >= 16, got {self.processing_width_px}")
        if not self.folder_fps > 0:
            raise ValueError(f"folder_fps must be positive, got {self.folder_fps}")
        if not self.reconnect_initial_delay_ms > 0:
            raise ValueError(f"reconnect_initial_delay_ms must be positive, got {self.reconnect_initial_delay_ms}")
        if not self.reconnect_max_delay_ms >= self.reconnect_initial_delay_ms:
            raise ValueError(f"reconnect_max_delay_ms ({self.reconnect_max_delay_ms}) must be >= "
                             f"reconnect_initial_delay_ms ({self.reconnect_initial_delay_ms})")
        if not self.stream_timeout_ms > 0:
            raise ValueError(f"stream_timeout_ms must be positive, got {self.stream_timeout_ms}")
        for name in ("capture_width_px", "capture_height_px", "capture_fps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0: driver default), got {getattr(self, name)}")

    @property
    def kind(self) -> SourceKind:
        """WEBCAM or STREAM from the spec alone; FILE stands for any path until the source is opened."""
        return parse_spec(self.spec)[0]


@dataclass(frozen=True)
class SourceFrame:
    """One frame as delivered by a source.

    image_bgr: (H, W, 3) uint8, already resized to the processing width if one is configured.
    t_capture_ns: time.monotonic_ns() right after the frame was grabbed (stamped once, never again).
    frame_index: frame number in a file or folder; running count of grabbed frames for live sources.
    t_source_s: the frame's own time in the file or folder (None for live sources).
    """

    image_bgr: np.ndarray
    t_capture_ns: int
    frame_index: int
    t_source_s: float | None = None


class FrameSource:
    """Common interface: open(), read(), close(), ``state``; usable as a context manager."""

    def __init__(self, config: SourceConfig, description: str) -> None:
        self.config = config
        self.description = description
        self._state = SourceState.CLOSED
        self._detail = ""

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def detail(self) -> str:
        """One line about the current state (e.g. the last error and the next retry)."""
        return self._detail

    @property
    def fps(self) -> float:
        """Nominal frame rate of the source (0 when unknown)."""
        return 0.0

    def open(self) -> None:
        raise NotImplementedError

    def read(self, timeout_ms: float = 100.0) -> SourceFrame | None:
        """The next frame, or None when none is available (check ``state``: ENDED, RECONNECTING, ...).

        Args:
            timeout_ms: how long a live source waits for a new frame; files and folders ignore it.
        """
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _set_state(self, state: SourceState, detail: str = "") -> None:
        if state != self._state:
            log.info("source %s: %s%s", self.description, state.value, f" ({detail})" if detail else "")
        self._state = state
        self._detail = detail

    def _resize(self, image: np.ndarray) -> np.ndarray:
        width = self.config.processing_width_px
        if width == 0 or image.shape[1] == width:
            return image
        height = max(1, round(image.shape[0] * width / image.shape[1]))
        interpolation = cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR
        return cv2.resize(image, (width, height), interpolation=interpolation)

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Pacer:
    """Sleeps so that frame i is released no earlier than start + i / fps (files in real time)."""

    def __init__(self, fps: float) -> None:
        self._period_ns = int(1e9 / fps)
        self._start_ns: int | None = None

    def wait(self, frame_index: int) -> None:
        now = time.monotonic_ns()
        if self._start_ns is None:
            self._start_ns = now - frame_index * self._period_ns
        delay_ns = self._start_ns + frame_index * self._period_ns - now
        if delay_ns > 0:
            time.sleep(delay_ns / 1e9)


class VideoFileSource(FrameSource):
    """A video file read frame by frame; ENDED after the last frame."""

    def __init__(self, path: Path, config: SourceConfig) -> None:
        super().__init__(config, str(path))
        self.path = path
        self._cap: cv2.VideoCapture | None = None
        self._fps = 0.0
        self._next_index = 0
        self._pacer: _Pacer | None = None

    @property
    def fps(self) -> float:
        return self._fps

    def open(self) -> None:
        """Raises: FileNotFoundError (no such file), SourceError (not a decodable video)."""
        if not self.path.is_file():
            raise FileNotFoundError(f"video file not found: {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot read {self.path} as a video (not a video file, or a codec "
                              f"this OpenCV build cannot decode)")
        self._cap = cap
        self._fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if self.config.realtime and self._fps <= 0:
            cap.release()
            self._cap = None
            raise SourceError(f"{self.path}: realtime pacing needs the file's frame rate, which it "
                              f"does not declare; set realtime = false")
        self._pacer = _Pacer(self._fps) if self.config.realtime else None
        self._next_index = 0
        self._set_state(SourceState.OPEN, f"{self._fps:.2f} fps")

    def read(self, timeout_ms: float = 100.0) -> SourceFrame | None:
        if self._cap is None or self._state is not SourceState.OPEN:
            return None
        if self._pacer is not None:
            self._pacer.wait(self._next_index)
        grabbed = self._cap.grab()
        t_capture_ns = time.monotonic_ns()
        ok, image = self._cap.retrieve() if grabbed else (False, None)
        if not ok or image is None:
            self._set_state(SourceState.ENDED, f"{self._next_index} frames")
            return None
        index = self._next_index
        self._next_index += 1
        t_source_s = index / self._fps if self._fps > 0 else None
        return SourceFrame(self._resize(image), t_capture_ns, index, t_source_s)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._set_state(SourceState.CLOSED)


def _natural_key(path: Path) -> list[Any]:
    """Sort key that puts frame2.png before frame10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class ImageFolderSource(FrameSource):
    """Images of a folder in natural name order (or one image); ENDED after the last one."""

    def __init__(self, path: Path, config: SourceConfig) -> None:
        super().__init__(config, str(path))
        self.path = path
        self._files: list[Path] = []
        self._next_index = 0
        self._pacer: _Pacer | None = None

    @property
    def fps(self) -> float:
        return self.config.folder_fps

    @property
    def files(self) -> list[Path]:
        """The images this source delivers, in order."""
        return list(self._files)

    def open(self) -> None:
        """Raises: FileNotFoundError (no such path), SourceError (a folder without images)."""
        if self.path.is_dir():
            files = sorted((p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                           key=_natural_key)
            if not files:
                raise SourceError(f"folder {self.path} contains no images "
                                  f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        elif self.path.is_file():
            files = [self.path]
        else:
            raise FileNotFoundError(f"image folder or file not found: {self.path}")
        self._files = files
        self._next_index = 0
        self._pacer = _Pacer(self.config.folder_fps) if self.config.realtime else None
        self._set_state(SourceState.OPEN, f"{len(files)} images")

    def read(self, timeout_ms: float = 100.0) -> SourceFrame | None:
        """Raises: SourceError naming an image file that cannot be decoded."""
        if self._state is not SourceState.OPEN:
            return None
        if self._next_index >= len(self._files):
            self._set_state(SourceState.ENDED, f"{len(self._files)} images")
            return None
        if self._pacer is not None:
            self._pacer.wait(self._next_index)
        path = self._files[self._next_index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        t_capture_ns = time.monotonic_ns()
        if image is None:
            raise SourceError(f"cannot decode image {path}")
        index = self._next_index
        self._next_index += 1
        return SourceFrame(self._resize(image), t_capture_ns, index, index / self.config.folder_fps)

    def close(self) -> None:
        self._files = []
        self._set_state(SourceState.CLOSED)


class Capture(Protocol):
    """The part of cv2.VideoCapture a live source uses."""

    def isOpened(self) -> bool: ...  # noqa: N802 (OpenCV's name)
    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, np.ndarray | None]: ...
    def release(self) -> None: ...
    def get(self, prop_id: int) -> float: ...


def backoff_delay_ms(attempt: int, config: SourceConfig) -> float:
    """Delay before reopen attempt ``attempt`` (0-based): initial * 2**attempt, capped at the maximum."""
    return min(config.reconnect_initial_delay_ms * 2.0 ** min(attempt, 60), config.reconnect_max_delay_ms)


class LiveSource(FrameSource):
    """A webcam or network stream, read by a background thread that keeps only the newest frame.

    Never raises for an absent or lost device: it reports UNAVAILABLE (not opened yet) or
    RECONNECTING (lost after delivering) and retries with exponential backoff until closed.
    """

    def __init__(self, kind: SourceKind, target: int | str, config: SourceConfig,
                 open_capture: Callable[[], Capture] | None = None) -> None:
        """
        Args:
            kind: WEBCAM or STREAM.
            target: webcam index or stream URL.
            config: the source settings (backoff, timeouts, webcam mode, processing width).
            open_capture: makes one capture attempt (default: cv2.VideoCapture for the target);
                replaceable so that tests can simulate a device that is absent or unplugged.
        """
        if not kind.is_live:
            raise ValueError(f"LiveSource needs a WEBCAM or STREAM, got {kind.value}")
        description = f"webcam {target}" if kind is SourceKind.WEBCAM else str(target)
        super().__init__(config, description)
        self.kind = kind
        self.target = target
        self._open_capture = open_capture or self._open_cv_capture
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray, int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fps = 0.0
        self.frames_dropped = 0
        """Frames grabbed but replaced by a newer one before read() took them."""
        self.open_attempts = 0
        """Capture attempts so far (the first included)."""

    @property
    def fps(self) -> float:
        return self._fps

    def open(self) -> None:
        """Start the capture thread; returns at once (state UNAVAILABLE until the device delivers)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._set_state(SourceState.UNAVAILABLE, "opening")
        self._thread = threading.Thread(target=self._run, name=f"capture {self.description}", daemon=True)
        self._thread.start()

    def read(self, timeout_ms: float = 100.0) -> SourceFrame | None:
        with self._cond:
            if self._latest is None:
                self._cond.wait(timeout_ms / 1e3)
            if self._latest is None:
                return None
            image, t_capture_ns, index = self._latest
            self._latest = None
        return SourceFrame(self._resize(image), t_capture_ns, index, None)

    def close(self) -> None:
        """Stop the capture thread (waits for a blocking grab to return) and release the device."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.stream_timeout_ms / 1e3 + 2.0)
            if self._thread.is_alive():
                log.warning("source %s: capture thread did not stop in time", self.description)
            self._thread = None
        with self._cond:
            self._latest = None
        self._set_state(SourceState.CLOSED)

    def _open_cv_capture(self) -> cv2.VideoCapture:
        if self.kind is SourceKind.STREAM:
            timeout_ms = int(self.config.stream_timeout_ms)
            return cv2.VideoCapture(str(self.target), cv2.CAP_FFMPEG,
                                    [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])
        # V4L2 directly on Linux: CAP_ANY would also try FFMPEG and obsensor, each logging a failure.
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        cap = cv2.VideoCapture(int(self.target), api)
        if cap.isOpened():
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a queue of stale ones
            if self.config.capture_width_px:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.capture_width_px)
            if self.config.capture_height_px:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.capture_height_px)
            if self.config.capture_fps:
                cap.set(cv2.CAP_PROP_FPS, self.config.capture_fps)
        return cap

    def _run(self) -> None:
        attempt = 0
        delivered_once = False
        index = 0
        while not self._stop.is_set():
            self.open_attempts += 1
            try:
                cap: Capture | None = self._open_capture()
            except cv2.error as e:  # some backends raise instead of returning a closed capture
                log.debug("source %s: open raised %s", self.description, e)
                cap = None
            if cap is None or not cap.isOpened():
                if cap is not None:
                    cap.release()
                delay_ms = backoff_delay_ms(attempt, self.config)
                attempt += 1
                state = SourceState.RECONNECTING if delivered_once else SourceState.UNAVAILABLE
                self._set_state(state, f"cannot open {self.description}; attempt {attempt} failed, "
                                       f"next in {delay_ms / 1e3:.1f} s")
                self._stop.wait(delay_ms / 1e3)
                continue
            self._fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            self._set_state(SourceState.OPEN, f"after {attempt + 1} attempt(s)")
            while not self._stop.is_set():
                grabbed = cap.grab()
                t_capture_ns = time.monotonic_ns()
                ok, image = cap.retrieve() if grabbed else (False, None)
                if not ok or image is None:
                    break
                attempt = 0
                delivered_once = True
                with self._cond:
                    if self._latest is not None:
                        self.frames_dropped += 1
                    self._latest = (image, t_capture_ns, index)
                    self._cond.notify()
                index += 1
            cap.release()
            if not self._stop.is_set():
                delay_ms = backoff_delay_ms(attempt, self.config)
                attempt += 1
                self._set_state(SourceState.RECONNECTING, f"{self.description} stopped delivering; "
                                                          f"reopening in {delay_ms / 1e3:.1f} s")
                self._stop.wait(delay_ms / 1e3)


def open_source(config: SourceConfig | str,
                open_capture: Callable[[], Capture] | None = None) -> FrameSource:
    """Create and open the source a spec names.

    Args:
        config: a SourceConfig, or just a spec string (other settings at their defaults).
        open_capture: for live sources only, replaces the cv2.VideoCapture attempt (tests).

    Returns:
        An opened FrameSource (close it, or use it as a context manager).

    Raises:
        ValueError: malformed spec. FileNotFoundError: the path does not exist. SourceError: the
        file cannot be decoded, or the folder holds no images. Live sources never raise here.
    """
    if isinstance(config, str):
        config = SourceConfig(spec=config)
    kind, target = parse_spec(config.spec)
    source: FrameSource
    if kind.is_live:
        source = LiveSource(kind, target, config, open_capture)
    else:
        path = Path(str(target)).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"source not found: {path} (expected a video file, a folder of "
                                    f"images, a webcam index such as '0', or a stream URL)")
        if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
            source = ImageFolderSource(path, config)
        else:
            source = VideoFileSource(path, config)
    source.open()
    return source
