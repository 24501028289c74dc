"""Typed messages that flow between the processes of the live pipeline.

Each stream has one frozen message class. Every message carries:
- ``seq``: the producer's sequence number for that stream (starts at 0, +1 per message);
- ``t_capture_ns``: ``time.monotonic_ns()`` stamped once when the camera frame was captured and
  carried unchanged through every stage (a heartbeat stamps its own send time);
- a schema version, checked by the codec (``edge.codec``), which rejects other versions.

Arrays are numpy arrays with fixed dtype and shape per field; angles are degrees at this interface
and metres for lengths (SI units everywhere else). Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from calibration.camera import PinholeCamera

SCHEMA_VERSION = 1

N_LANDMARKS = 33
"""MediaPipe BlazePose landmarks per person."""

BIGE_COORDINATES: tuple[str, ...] = (
    "pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
    "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r",
    "subtalar_angle_r", "mtp_angle_r",
    "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "ankle_angle_l",
    "subtalar_angle_l", "mtp_angle_l",
    "lumbar_extension", "lumbar_bending", "lumbar_rotation",
    "arm_flex_r", "arm_add_r", "arm_rot_r", "elbow_flex_r", "pro_sup_r",
    "arm_flex_l", "arm_add_l", "arm_rot_l", "elbow_flex_l", "pro_sup_l",
)
"""The 33 joint coordinates BIGE uses, in its column order (degrees; pelvis_t* in metres)."""

N_COORDINATES = len(BIGE_COORDINATES)
TRANSLATION_COORDINATES = frozenset({"pelvis_tx", "pelvis_ty", "pelvis_tz"})


class ProcessState(enum.Enum):
    """Life-cycle state a process reports in its heartbeat."""

    STARTING = "starting"
    RUNNING = "running"
    NO_PERSON = "no_person"
    MULTIPLE_PEOPLE = "multiple_people"
    SOURCE_UNAVAILABLE = "source_unavailable"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    ERROR = "error"


class ImageEncoding(enum.Enum):
    """How a forwarded camera frame is encoded: raw BGR8 for a local overlay, JPEG for a remote one."""

    NONE = "none"
    BGR8 = "bgr8"
    JPEG = "jpeg"


class CueSeverity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    FAULT = "fault"


def _check_array(name: str, value: np.ndarray, shape: tuple[int, ...], dtype: type) -> None:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected numpy array, got {type(value).__name__}")
    if value.dtype != np.dtype(dtype):
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {value.dtype}")
    if len(value.shape) != len(shape) or any(s != -1 and s != v for s, v in zip(shape, value.shape)):
        raise ValueError(f"{name}: expected shape {shape}, got {value.shape}")


@dataclass(frozen=True)
class FrameInfo:
    """One captured camera frame: metadata and, when forwarded, the image (raw BGR8 or JPEG)."""

    seq: int
    t_capture_ns: int
    frame_index: int  # index in the source (frame number of a file, running count of a live source)
    width: int
    height: int
    source: str
    image: bytes = b""  # the frame itself, encoded as image_encoding says (empty when not forwarded)
    image_encoding: ImageEncoding = ImageEncoding.NONE


@dataclass(frozen=True)
class Pose:
    """MediaPipe pose of one person in one frame.

    image_xyz: (33, 3) float32, x and y normalised to [0, 1] by image width/height, z MediaPipe's
        relative depth. world_xyz: (33, 3) float32 metres, MediaPipe's hip-centred world frame.
    visibility, presence: (33,) float32 in [0, 1]; presence is NaN where the backend does not report it
    (the legacy MediaPipe API). detected=False means no person: arrays are NaN.
    """

    seq: int
    t_capture_ns: int
    frame_index: int
    detected: bool
    image_xyz: np.ndarray
    world_xyz: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    inference_ns: int = 0  # time spent in the pose model for this frame
    image_width_px: int = 0  # size of the image the landmarks were normalised by (0: unknown)
    image_height_px: int = 0
    t_source_ns: int = 0  # the frame's time in its source: media time for files, time since the first frame live

    def __post_init__(self) -> None:
        _check_array("image_xyz", self.image_xyz, (N_LANDMARKS, 3), np.float32)
        _check_array("world_xyz", self.world_xyz, (N_LANDMARKS, 3), np.float32)
        _check_array("visibility", self.visibility, (N_LANDMARKS,), np.float32)
        _check_array("presence", self.presence, (N_LANDMARKS,), np.float32)


@dataclass(frozen=True)
class Kinematics:
    """Skeletal-model coordinates of one frame, BIGE order, degrees (pelvis translations in metres).

    coordinates: (33,) float64. marker_rms_m: RMS marker residual of the fit. valid=False when the
    frame had no usable pose (coordinates then hold the last valid values, or NaN before any).
    """

    seq: int
    t_capture_ns: int
    frame_index: int
    valid: bool
    coordinates: np.ndarray
    marker_rms_m: float = float("nan")
    solve_ns: int = 0  # time spent in the lifter for this frame
    t_source_ns: int = 0  # the frame's time in its source (as in Pose)

    def __post_init__(self) -> None:
        _check_array("coordinates", self.coordinates, (N_COORDINATES,), np.float64)


@dataclass(frozen=True)
class TargetMotion:
    """A corrected target motion: T frames of BIGE coordinates at fps, starting at t_capture_ns.

    coordinates: (T, 33) float64, degrees / metres. generator names what produced it.
    """

    seq: int
    t_capture_ns: int
    fps: float
    generator: str
    coordinates: np.ndarray

    def __post_init__(self) -> None:
        _check_array("coordinates", self.coordinates, (-1, N_COORDINATES), np.float64)
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")


@dataclass(frozen=True)
class Cue:
    """A coaching cue shown to the user (e.g. code 'knee_valgus_l', text 'Push your left knee out')."""

    seq: int
    t_capture_ns: int
    code: str
    text: str
    severity: CueSeverity = CueSeverity.INFO


@dataclass(frozen=True)
class Heartbeat:
    """Liveness and state of one process; t_capture_ns is the send time (monotonic ns).

    stage_ms: recent per-section timings of the process (name -> milliseconds, p50 of a window).
    """

    seq: int
    t_capture_ns: int
    process: str
    state: ProcessState
    detail: str = ""
    fps: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CameraCalibration:
    """The lifter's camera, in the frame of its Kinematics (OpenSim ground, origin on the floor where
    tracking started), so that a display can project the skeletal model (e.g. the target ghost).

    width, height: image size in pixels. intrinsics: (4,) float64 fx, fy, cx, cy in pixels.
    rotation_cw: (3, 3) float64, world -> camera (camera axes: x right, y down, z forward).
    translation_cw_m: (3,) float64, camera = rotation_cw @ world + translation_cw_m.
    """

    seq: int
    t_capture_ns: int
    width: int
    height: int
    intrinsics: np.ndarray
    rotation_cw: np.ndarray
    translation_cw_m: np.ndarray

    def __post_init__(self) -> None:
        _check_array("intrinsics", self.intrinsics, (4,), np.float64)
        _check_array("rotation_cw", self.rotation_cw, (3, 3), np.float64)
        _check_array("translation_cw_m", self.translation_cw_m, (3,), np.float64)

    @classmethod
    def of_camera(cls, seq: int, t_capture_ns: int, camera: PinholeCamera) -> "CameraCalibration":
        """The message describing ``camera``."""
        return cls(seq, t_capture_ns, camera.width, camera.height,
                   np.array([camera.fx, camera.fy, camera.cx, camera.cy], dtype=np.float64),
                   np.array(camera.R_cw, dtype=np.float64), np.array(camera.t_cw, dtype=np.float64))

    def camera(self) -> PinholeCamera:
        """The camera this message describes."""
        fx, fy, cx, cy = (float(v) for v in self.intrinsics)
        return PinholeCamera(self.width, self.height, fx, fy, cx, cy, np.array(self.rotation_cw),
                             np.array(self.translation_cw_m))


Message = FrameInfo | Pose | Kinematics | TargetMotion | Cue | Heartbeat | CameraCalibration
MESSAGE_TYPES: tuple[type, ...] = (FrameInfo, Pose, Kinematics, TargetMotion, Cue, Heartbeat, CameraCalibration)
