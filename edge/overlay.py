"""Overlay: the live picture the user sees (camera image, skeleton, angles, squat curves, ghost, cues).

Inputs: the pipeline's messages, fed one at a time to ``Overlay.update(msg)`` (``FrameInfo`` with a
BGR8 or JPEG image, ``Pose``, ``Kinematics``, ``TargetMotion``, ``Cue``, ``Heartbeat``, and the
lifter's ``CameraCalibration``, which the ghost is projected with); the overlay worker wires it to the
bus (a display takes the newest message per topic, never a queue). Outputs:
``render()`` returns one BGR image of ``OverlayConfig.frame_size_px``; ``emit(image)`` shows it in a
window (optionally full-screen kiosk) and/or writes it to an mp4v MP4 and periodic PNG snapshots.

Algorithm, per ``render()``:
1. Pick the frame to draw: the buffered frame whose ``t_capture_ns`` equals the newest pose's (so the
   skeleton sits on the image it was detected in), else the newest frame. Letterbox it into the
   fixed-size canvas (aspect kept) and measure capture-to-overlay latency as ``clock - t_capture_ns``
   (meaningful only when capture and overlay share a host: monotonic clocks are per machine).
2. Draw the target ghost (forward kinematics of the target frame that corresponds in time to the
   shown frame, projected with the calibrated camera, pelvis moved onto the user's hip midpoint,
   alpha-blended inside its bounding box only), then the detected skeleton (MediaPipe connections,
   colour faded by landmark visibility, hidden below ``min_visibility``).
3. Draw the panels on precomputed, translucent backgrounds: live angles (``edge.display_angles``),
   hip/knee flexion curves of the current squat cycle (``SquatCycleDetector``), fps and per-stage
   latency (heartbeats plus the overlay's own), the state banner and the active cues.
All drawing is OpenCV primitives on a fixed layout; nothing allocates beyond the output image and a
few small regions.
"""

from __future__ import annotations

import enum
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from calibration.camera import PinholeCamera
from edge.display_angles import (LEFT_HIP, RIGHT_HIP, hip_flexion_deg, knee_flexion_deg,
                                 live_angles_deg)
from edge.messages import (CameraCalibration, Cue, CueSeverity, FrameInfo, Heartbeat, ImageEncoding,
                           Kinematics, Message, Pose, ProcessState, TargetMotion)
from edge.skeleton.bige_map import from_bige
from edge.skeleton.fk import joint_centres
from edge.skeleton.model import SkeletonModel, load_default
from edge.timing import CycleTimer

POSE_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (27, 31), (29, 31), (28, 30), (28, 32), (30, 32),
)
"""MediaPipe BlazePose skeleton edges (the same set as ``mp.solutions.pose.POSE_CONNECTIONS``)."""

_LEFT_LANDMARKS = frozenset({1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31})
_RIGHT_LANDMARKS = frozenset({4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32})
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FRAME_BUFFER = 16  # frames kept to find the one the newest pose was detected in (~0.5 s at 30 fps)
_HEARTBEAT_SILENT_S = 3.0  # a process whose last heartbeat is older than this is shown as silent

BGR = tuple[int, int, int]


class OutputMode(enum.Enum):
    """Where frames go: an on-screen window, or nowhere on screen (files only)."""

    WINDOW = "window"
    HEADLESS = "headless"


class Panel(enum.Enum):
    """Parts of the overlay that can be switched on or off."""

    SKELETON = "skeleton"
    GHOST = "ghost"
    ANGLES = "angles"
    CURVES = "curves"
    TIMING = "timing"
    BANNER = "banner"
    CUES = "cues"


def _check_bgr(name: str, value: BGR) -> None:
    if len(value) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in value):
        raise ValueError(f"colour {name}: expected 3 ints in [0, 255] (B, G, R), got {value!r}")


@dataclass(frozen=True)
class OverlayColours:
    """BGR colours of the overlay."""

    skeleton_left: BGR = (0, 165, 255)    # subject's left side: orange
    skeleton_right: BGR = (255, 200, 0)   # subject's right side: cyan-blue
    skeleton_centre: BGR = (230, 230, 230)
    ghost: BGR = (120, 255, 120)
    text: BGR = (240, 240, 240)
    dim_text: BGR = (170, 170, 170)
    good: BGR = (120, 230, 120)
    warning: BGR = (0, 200, 255)
    fault: BGR = (60, 60, 255)
    hip_curve: BGR = (255, 140, 60)
    knee_curve: BGR = (60, 200, 255)

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            _check_bgr(name, getattr(self, name))


@dataclass(frozen=True)
class SquatCycleConfig:
    """Thresholds of the squat-cycle detector (mean knee flexion of both sides, degrees)."""

    start_knee_deg: float = 20.0  # a cycle starts when knee flexion rises above this ...
    end_knee_deg: float = 12.0    # ... and ends when it falls back below this (hysteresis band)
    min_depth_deg: float = 30.0   # peak flexion a finished cycle must reach to count as a rep
    max_cycle_s: float = 12.0     # a cycle still open after this long is dropped (sat down, left)

    def __post_init__(self) -> None:
        if not 0.0 <= self.end_knee_deg < self.start_knee_deg:
            raise ValueError("SquatCycleConfig: need 0 <= end_knee_deg < start_knee_deg, got "
                             f"end {self.end_knee_deg}, start {self.start_knee_deg}")
        if not self.min_depth_deg >= self.start_knee_deg:
            raise ValueError(f"SquatCycleConfig: min_depth_deg ({self.min_depth_deg}) must be >= "
                             f"start_knee_deg ({self.start_knee_deg})")
        if not self.max_cycle_s > 0:
            raise ValueError(f"SquatCycleConfig: max_cycle_s must be positive, got {self.max_cycle_s}")


@dataclass(frozen=True)
class OverlayConfig:
    """Configuration of the overlay process."""

    output: OutputMode = OutputMode.WINDOW
    frame_size_px: tuple[int, int] = (640, 480)  # (width, height) of every rendered/written frame
    fullscreen: bool = False                      # window output: borderless full-screen kiosk
    window_name: str = "BIGE Edge"
    mp4_path: Path | None = None                  # record rendered frames here (mp4v), any output mode
    mp4_fps: float = 30.0                         # nominal frame rate written into the MP4
    snapshot_path: Path | None = None             # PNG overwritten every snapshot_interval_s
    snapshot_interval_s: float = 1.0
    panels: frozenset[Panel] = frozenset(Panel)
    colours: OverlayColours = field(default_factory=OverlayColours)
    min_visibility: float = 0.3                   # landmarks below this are not drawn
    ghost_alpha: float = 0.5                      # opacity of the target ghost
    source_lost_after_ms: float = 1000.0          # no frame for this long -> "no video" banner
    cue_hold_s: float = 3.0                       # how long a cue stays on screen after it arrives
    fppa_warn_deg: float = 10.0                   # |knee alignment| above this is shown in warning colour
    fppa_max_view_yaw_deg: float = 30.0           # hide knee alignment when the view is more oblique
    curve_window_s: float = 4.0                   # time axis of the squat-curve panel (grows if longer)
    sync_frame_to_pose: bool = True               # draw the frame the newest pose came from
    cycle: SquatCycleConfig = field(default_factory=SquatCycleConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.output, OutputMode):
            raise ValueError(f"output: expected an OutputMode, got {self.output!r}")
        w, h = self.frame_size_px
        if not (isinstance(w, int) and isinstance(h, int) and 160 <= w <= 7680 and 120 <= h <= 4320):
            raise ValueError(f"frame_size_px: expected (width, height) ints within 160x120..7680x4320, "
                             f"got {self.frame_size_px}")
        if w % 2 or h % 2:
            raise ValueError(f"frame_size_px: width and height must be even for video, got {w}x{h}")
        if not self.mp4_fps > 0:
            raise ValueError(f"mp4_fps must be positive, got {self.mp4_fps}")
        if self.mp4_path is not None and Path(self.mp4_path).suffix.lower() != ".mp4":
            raise ValueError(f"mp4_path must end in .mp4, got {self.mp4_path}")
        if self.snapshot_path is not None and Path(self.snapshot_path).suffix.lower() != ".png":
            raise ValueError(f"snapshot_path must end in .png, got {self.snapshot_path}")
        if not self.snapshot_interval_s > 0:
            raise ValueError(f"snapshot_interval_s must be positive, got {self.snapshot_interval_s}")
        if not all(isinstance(p, Panel) for p in self.panels):
            raise ValueError(f"panels: expected Panel members, got {sorted(map(str, self.panels))}")
        for name in ("min_visibility", "ghost_alpha"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("source_lost_after_ms", "cue_hold_s", "fppa_warn_deg", "fppa_max_view_yaw_deg",
                     "curve_window_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


# ---------------------------------------------------------------------------------------------------
# Squat cycles


class CycleEvent(enum.Enum):
    STARTED = "started"
    ENDED = "ended"        # a complete rep (reached min_depth_deg)
    DISCARDED = "discarded"  # returned to standing without reaching depth, or timed out


class SquatCycleDetector:
    """Causal squat-cycle detector with hysteresis on knee flexion.

    A cycle starts when knee flexion rises above ``start_knee_deg`` and ends when it falls back
    below ``end_knee_deg``; the band between the two keeps noise around one threshold from
    toggling the state. The cycle's recorded trajectory begins at the last standing sample
    (knee <= ``end_knee_deg``) before the start, so the curve shows the whole descent; only past
    samples are used. A cycle whose peak stays under ``min_depth_deg`` is discarded as a fidget,
    and one open longer than ``max_cycle_s`` is dropped. NaN samples are ignored.
    """

    def __init__(self, config: SquatCycleConfig) -> None:
        self._cfg = config
        self._in_cycle = False
        self._samples: list[tuple[float, float, float]] = []  # (t_s, knee_deg, hip_deg) of the open cycle
        self._preroll: list[tuple[float, float, float]] = []  # standing-side samples since last extension
        self._last: list[tuple[float, float, float]] = []     # the last completed rep
        self._n_reps = 0

    @property
    def in_cycle(self) -> bool:
        return self._in_cycle

    @property
    def n_reps(self) -> int:
        """Completed reps so far."""
        return self._n_reps

    def update(self, t_s: float, knee_deg: float, hip_deg: float = float("nan")) -> CycleEvent | None:
        """Feed one sample (time in seconds, mean knee and hip flexion in degrees).

        Returns:
            The event this sample caused, or None.
        """
        if math.isnan(knee_deg) or math.isnan(t_s):
            return None
        sample = (t_s, knee_deg, hip_deg)
        cfg = self._cfg
        if not self._in_cycle:
            if knee_deg <= cfg.end_knee_deg:
                self._preroll = [sample]
            elif knee_deg > cfg.start_knee_deg:
                self._in_cycle = True
                self._samples = [*self._preroll, sample]
                self._preroll = []
                return CycleEvent.STARTED
            else:
                self._preroll.append(sample)
            return None
        self._samples.append(sample)
        if knee_deg < cfg.end_knee_deg:
            self._in_cycle = False
            self._preroll = [sample]
            if max(s[1] for s in self._samples) >= cfg.min_depth_deg:
                self._last, self._samples = self._samples, []
                self._n_reps += 1
                return CycleEvent.ENDED
            self._samples = []
            return CycleEvent.DISCARDED
        if t_s - self._samples[0][0] > cfg.max_cycle_s:
            self._in_cycle = False
            self._samples, self._preroll = [], []
            return CycleEvent.DISCARDED
        return None

    def trajectory(self) -> np.ndarray:
        """(N, 3) [t_s relative to the cycle start, knee_deg, hip_deg] of the open cycle, or of the
        last completed rep while standing; (0, 3) before any."""
        samples = self._samples if self._in_cycle else self._last
        if not samples:
            return np.zeros((0, 3))
        arr = np.asarray(samples, dtype=np.float64)
        arr[:, 0] -= arr[0, 0]
        return arr


# ---------------------------------------------------------------------------------------------------
# Ghost


@dataclass(frozen=True)
class GhostModel:
    """How to turn target coordinates into a 3-D stick figure.

    joint_centres: maps (T, 33) BIGE coordinates (degrees/metres) to (T, J, 3) joint centres in the
        world (OpenSim ground frame, metres), e.g. forward kinematics of the skeletal model.
    connections: pairs of joint indices to draw as bones.
    hip_indices: joints whose mean is placed on the user's detected hip midpoint (e.g. both hips).
    """

    joint_centres: Callable[[np.ndarray], np.ndarray]
    connections: tuple[tuple[int, int], ...]
    hip_indices: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.connections:
            raise ValueError("GhostModel.connections is empty")
        if not self.hip_indices:
            raise ValueError("GhostModel.hip_indices is empty")
        if any(i < 0 for pair in self.connections for i in pair) or any(i < 0 for i in self.hip_indices):
            raise ValueError("GhostModel: joint indices must be non-negative")


def ghost_model_from_tree(joint_centres: Callable[[np.ndarray], np.ndarray], parents: Sequence[int],
                          body_names: Sequence[str],
                          hip_bodies: tuple[str, str] = ("femur_r", "femur_l")) -> GhostModel:
    """A ghost stick figure from a skeletal model's body tree: one bone from each body's joint
    centre to its parent's (pelvis to hips, hip to knee, ..., torso to shoulders).

    Args:
        joint_centres: (T, 33) BIGE coordinates -> (T, n_bodies, 3) joint centres in the world.
        parents: parent body index of every body (-1 for ground), bodies in the FK output's order.
        body_names: name of every body, same order.
        hip_bodies: the bodies whose joint centres are the hips (anchored on the user's hips).

    Returns:
        The ghost model.

    Raises:
        ValueError: lengths disagree, a parent index is out of range, or a hip body is missing.
    """
    if len(parents) != len(body_names):
        raise ValueError(f"parents ({len(parents)}) and body_names ({len(body_names)}) differ in length")
    if any(not -1 <= p < len(parents) for p in parents):
        raise ValueError(f"parent index out of range in {list(parents)}")
    missing = [b for b in hip_bodies if b not in body_names]
    if missing:
        raise ValueError(f"hip bodies {missing} not among the model's bodies {list(body_names)}")
    connections = tuple((p, i) for i, p in enumerate(parents) if p >= 0)
    return GhostModel(joint_centres, connections, tuple(list(body_names).index(b) for b in hip_bodies))


def skeleton_ghost_model(model: SkeletonModel | None = None) -> GhostModel:
    """The ghost of the skeletal model itself (default: the product's exported model): forward
    kinematics of the target's BIGE coordinates, one bone per body (numpy only, like the live path)."""
    model = model if model is not None else load_default()
    return ghost_model_from_tree(lambda coords: joint_centres(model, from_bige(model, coords)),
                                 [b.parent for b in model.bodies], model.body_names)


def ghost_points_px(camera: PinholeCamera, joint_centres_world_m: np.ndarray,
                    anchor_px: np.ndarray | Sequence[float] | None = None,
                    anchor_index: int | Sequence[int] = 0) -> np.ndarray:
    """Project ghost joint centres into the image, optionally shifted onto an anchor pixel.

    Args:
        camera: the calibrated camera (world = OpenSim ground frame), at the image's resolution.
        joint_centres_world_m: (J, 3) joint centres in metres.
        anchor_px: (2,) pixel where the anchor joint(s) should land (e.g. the user's hip midpoint);
            None keeps the pure projection. A NaN anchor or NaN anchor joints also keep it.
        anchor_index: joint index, or indices whose mean is the anchor (e.g. both hip centres).

    Returns:
        (J, 2) pixel coordinates (u right, v down); NaN for joints behind the camera.

    Raises:
        ValueError: wrong array shapes or an anchor index out of range.
    """
    pts = np.asarray(joint_centres_world_m, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"joint_centres_world_m: expected shape (J, 3), got {pts.shape}")
    uv = camera.project(pts)
    if anchor_px is None:
        return uv
    anchor = np.asarray(anchor_px, dtype=np.float64)
    if anchor.shape != (2,):
        raise ValueError(f"anchor_px: expected shape (2,), got {anchor.shape}")
    idx = np.atleast_1d(np.asarray(anchor_index, dtype=np.int64))
    if idx.size == 0 or idx.min() < 0 or idx.max() >= len(pts):
        raise ValueError(f"anchor_index {anchor_index!r} out of range for {len(pts)} joints")
    shift = anchor - uv[idx].mean(axis=0)
    if np.all(np.isfinite(shift)):
        uv = uv + shift
    return uv


def _to_int_px(points_px: np.ndarray) -> np.ndarray:
    """Round pixel coordinates to int32 for OpenCV; NaN becomes 0 (callers skip those points) and
    huge values are clipped so the cast cannot overflow (OpenCV clips lines to the image itself)."""
    finite = np.where(np.isfinite(points_px), points_px, 0.0)
    return np.clip(np.round(finite), -1e5, 1e5).astype(np.int32)


def draw_ghost(image: np.ndarray, points_px: np.ndarray, connections: Sequence[tuple[int, int]],
               colour: BGR = (120, 255, 120), alpha: float = 0.5, thickness: int = 4) -> np.ndarray:
    """Draw a translucent stick figure into ``image`` (in place) and return it.

    Bones are drawn opaque into a copy of the figure's bounding box, which is then alpha-blended
    back, so the cost scales with the figure's size, not the image's. Bones with a NaN end or an
    index beyond ``points_px`` are skipped.

    Args:
        image: (H, W, 3) uint8 BGR image, modified in place.
        points_px: (J, 2) pixel coordinates.
        connections: (i, j) joint index pairs.
        colour: BGR colour.
        alpha: opacity in [0, 1].
        thickness: line thickness in pixels.

    Returns:
        ``image``.

    Raises:
        ValueError: bad image or points shape, or alpha outside [0, 1].
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image: expected (H, W, 3) uint8, got {image.shape} {image.dtype}")
    pts = np.asarray(points_px, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points_px: expected shape (J, 2), got {pts.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    n = len(pts)
    bones = [(i, j) for i, j in connections
             if i < n and j < n and np.all(np.isfinite(pts[i])) and np.all(np.isfinite(pts[j]))]
    if not bones:
        return image
    used = pts[sorted({k for b in bones for k in b})]
    h, w = image.shape[:2]
    pad = thickness + 2
    x0 = int(max(0, math.floor(used[:, 0].min()) - pad))
    y0 = int(max(0, math.floor(used[:, 1].min()) - pad))
    x1 = int(min(w, math.ceil(used[:, 0].max()) + pad + 1))
    y1 = int(min(h, math.ceil(used[:, 1].max()) + pad + 1))
    if x1 <= x0 or y1 <= y0:
        return image  # entirely outside the image
    roi = image[y0:y1, x0:x1]
    layer = roi.copy()
    ipts = _to_int_px(pts - (x0, y0))
    for i, j in bones:
        cv2.line(layer, tuple(ipts[i]), tuple(ipts[j]), colour, thickness, cv2.LINE_AA)
    for k in {k for b in bones for k in b}:
        cv2.circle(layer, tuple(ipts[k]), thickness, colour, -1, cv2.LINE_AA)
    cv2.addWeighted(layer, alpha, roi, 1.0 - alpha, 0.0, dst=roi)
    return image


# ---------------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class OverlayLayout:
    """Fixed pixel rectangles (x0, y0, x1, y1) of the panels for one frame size."""

    width: int
    height: int
    scale: float          # text/line scale relative to a 480-pixel-high frame
    line_px: int          # text line height
    timing: tuple[int, int, int, int]
    angles: tuple[int, int, int, int]
    curves: tuple[int, int, int, int]
    banner: tuple[int, int, int, int]
    cues: tuple[int, int, int, int]

    @classmethod
    def for_size(cls, width: int, height: int) -> "OverlayLayout":
        s = height / 480.0
        line = max(12, round(18 * s))
        m = round(8 * s)
        angles_w, angles_h = round(196 * s), line * 7 + round(8 * s)
        curves_w, curves_h = round(220 * s), round(128 * s)
        timing_w = min(round(330 * s), width - angles_w - 3 * m)
        banner_h = round(56 * s)
        cues_h = round(30 * s) * 3 + round(6 * s)
        return cls(
            width=width, height=height, scale=s, line_px=line,
            timing=(m, m, m + timing_w, m + line * 6 + round(8 * s)),
            angles=(width - m - angles_w, m, width - m, m + angles_h),
            curves=(width - m - curves_w, height - m - curves_h, width - m, height - m),
            banner=(0, height // 2 - banner_h // 2, width, height // 2 + banner_h - banner_h // 2),
            cues=(m, height - m - cues_h, width - 2 * m - curves_w, height - m),
        )


def _shade(image: np.ndarray, rect: tuple[int, int, int, int], keep: float = 0.35) -> np.ndarray:
    """Darken a rectangle in place (translucent panel background); returns the region view."""
    x0, y0, x1, y1 = rect
    roi = image[y0:y1, x0:x1]
    cv2.convertScaleAbs(roi, dst=roi, alpha=keep)
    return roi


def _text(image: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: BGR,
          thickness: int = 1) -> None:
    cv2.putText(image, text, org, _FONT, scale, colour, thickness, cv2.LINE_AA)


def _mean_of_sides(left: float, right: float) -> float:
    """Mean of the two sides, or the one that is not NaN, or NaN."""
    if math.isnan(left):
        return right
    return left if math.isnan(right) else 0.5 * (left + right)


def _fmt(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return "  --"
    return f"{value:+5.0f}" if signed else f"{value:5.0f}"


# ---------------------------------------------------------------------------------------------------
# Overlay


@dataclass
class _Placement:
    """Where the source image sits in the canvas (letterboxed)."""

    x0: int
    y0: int
    w: int
    h: int


def check_display() -> None:
    """Raise a clear error where a window cannot be opened (Linux without DISPLAY / WAYLAND_DISPLAY)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RuntimeError("overlay output 'window' needs a display (DISPLAY and WAYLAND_DISPLAY are unset); "
                           "use --headless (overlay.mp4 only)")


class Overlay:
    """Keeps the newest messages and renders the overlay; see the module docstring.

    Args:
        config: the overlay configuration.
        camera: calibrated camera of the source, in the frame of the target's coordinates (needed for
            the ghost; a ``CameraCalibration`` message sets or replaces it).
        ghost: how to turn a ``TargetMotion`` into a 3-D figure; None draws no ghost.
        clock_ns: monotonic clock (injectable for tests).
    """

    def __init__(self, config: OverlayConfig, camera: PinholeCamera | None = None,
                 ghost: GhostModel | None = None,
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.config = config
        self._camera = camera
        self._ghost = ghost
        self._clock_ns = clock_ns
        self.timer = CycleTimer(window=300)
        self.cycles = SquatCycleDetector(config.cycle)
        w, h = config.frame_size_px
        self.layout = OverlayLayout.for_size(w, h)
        self._curves_bg = self._make_curves_background()
        self._frames: deque[FrameInfo] = deque(maxlen=_FRAME_BUFFER)
        self._decoded: tuple[int, np.ndarray] | None = None  # (t_capture_ns, image) of the last decode
        self._last_frame_rx_ns: int | None = None
        self._pose: Pose | None = None
        self._kinematics: Kinematics | None = None
        self._target: TargetMotion | None = None
        self._target_joints: np.ndarray | None = None  # (T, J, 3) world metres
        self._cues: dict[str, tuple[int, Cue]] = {}     # code -> (receive ns, cue)
        self._heartbeats: dict[str, tuple[int, Heartbeat]] = {}  # process -> (receive ns, heartbeat)
        self._writer: cv2.VideoWriter | None = None
        self._frames_written = 0
        self._window_open = False
        self._last_snapshot_ns: int | None = None
        self._is_open = False

    @property
    def camera_calibrated(self) -> bool:
        """Whether a camera is known to project the target ghost with (given, or from the lifter)."""
        return self._camera is not None

    # -- lifecycle --------------------------------------------------------------------------------

    def open(self) -> "Overlay":
        """Open the window and/or the MP4 writer.

        Raises:
            RuntimeError: window output without a display, or the MP4 writer cannot be opened.
            FileNotFoundError: the folder of mp4_path or snapshot_path does not exist.
        """
        cfg = self.config
        w, h = cfg.frame_size_px
        for name in ("mp4_path", "snapshot_path"):
            path = getattr(cfg, name)
            if path is not None and not Path(path).resolve().parent.is_dir():
                raise FileNotFoundError(f"{name}: folder {Path(path).resolve().parent} does not exist")
        if cfg.output is OutputMode.WINDOW:
            check_display()
            cv2.namedWindow(cfg.window_name, cv2.WINDOW_NORMAL)
            if cfg.fullscreen:
                cv2.setWindowProperty(cfg.window_name, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
            else:
                cv2.resizeWindow(cfg.window_name, w, h)
            self._window_open = True
        if cfg.mp4_path is not None:
            writer = cv2.VideoWriter(str(cfg.mp4_path), cv2.VideoWriter_fourcc(*"mp4v"), cfg.mp4_fps, (w, h))
            if not writer.isOpened():
                self.close()
                raise RuntimeError(f"cannot open MP4 writer (mp4v, {w}x{h}) at {cfg.mp4_path}")
            self._writer = writer
            self._frames_written = 0
        self._is_open = True
        return self

    def close(self) -> None:
        """Finish the MP4 (written valid on release) and close the window; safe to call twice."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._window_open:
            cv2.destroyWindow(self.config.window_name)
            cv2.waitKey(1)
            self._window_open = False
        self._is_open = False

    def __enter__(self) -> "Overlay":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def frames_written(self) -> int:
        """Frames written to the MP4 since open()."""
        return self._frames_written

    # -- input --------------------------------------------------------------------------------------

    def update(self, msg: Message) -> None:
        """Take one message (the newest of its stream).

        Raises:
            ValueError: a raw BGR8 frame whose byte count does not match its size, or target
                joint centres of the wrong shape.
            TypeError: not a pipeline message.
        """
        now = self._clock_ns()
        if isinstance(msg, FrameInfo):
            if msg.image_encoding is ImageEncoding.BGR8 and len(msg.image) != msg.width * msg.height * 3:
                raise ValueError(f"FrameInfo seq {msg.seq}: image has {len(msg.image)} bytes, expected "
                                 f"{msg.width * msg.height * 3} for {msg.width}x{msg.height} BGR8")
            self._frames.append(msg)
            self._last_frame_rx_ns = now
        elif isinstance(msg, Pose):
            self._pose = msg
        elif isinstance(msg, Kinematics):
            self._kinematics = msg
            if msg.valid:
                q = msg.coordinates
                knee = _mean_of_sides(knee_flexion_deg(q, "l"), knee_flexion_deg(q, "r"))
                hip = _mean_of_sides(hip_flexion_deg(q, "l"), hip_flexion_deg(q, "r"))
                self.cycles.update(msg.t_capture_ns / 1e9, knee, hip)
        elif isinstance(msg, TargetMotion):
            self._set_target(msg)
        elif isinstance(msg, CameraCalibration):
            self._camera = msg.camera()
        elif isinstance(msg, Cue):
            self._cues[msg.code] = (now, msg)
        elif isinstance(msg, Heartbeat):
            self._heartbeats[msg.process] = (now, msg)
        else:
            raise TypeError(f"Overlay.update: not a pipeline message: {type(msg).__name__}")

    def _set_target(self, target: TargetMotion) -> None:
        self._target = target
        self._target_joints = None
        if self._ghost is None:
            return
        joints = np.asarray(self._ghost.joint_centres(target.coordinates), dtype=np.float64)
        n_frames = target.coordinates.shape[0]
        if joints.ndim != 3 or joints.shape[0] != n_frames or joints.shape[2] != 3:
            raise ValueError(f"ghost joint_centres returned shape {joints.shape}, "
                             f"expected ({n_frames}, J, 3)")
        max_index = max(max(max(p) for p in self._ghost.connections), max(self._ghost.hip_indices))
        if max_index >= joints.shape[1]:
            raise ValueError(f"ghost joint index {max_index} out of range for {joints.shape[1]} joints")
        self._target_joints = joints

    # -- rendering ----------------------------------------------------------------------------------

    def _frame_to_show(self) -> FrameInfo | None:
        if not self._frames:
            return None
        if self.config.sync_frame_to_pose and self._pose is not None:
            for f in reversed(self._frames):
                if f.t_capture_ns == self._pose.t_capture_ns:
                    return f
        return self._frames[-1]

    def _decode(self, frame: FrameInfo) -> np.ndarray | None:
        if self._decoded is not None and self._decoded[0] == frame.t_capture_ns:
            return self._decoded[1]
        if frame.image_encoding is ImageEncoding.BGR8:
            img = np.frombuffer(frame.image, dtype=np.uint8).reshape(frame.height, frame.width, 3)
        elif frame.image_encoding is ImageEncoding.JPEG:
            img = cv2.imdecode(np.frombuffer(frame.image, dtype=np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"FrameInfo seq {frame.seq}: JPEG image ({len(frame.image)} bytes) "
                                 "cannot be decoded")
        else:
            return None
        self._decoded = (frame.t_capture_ns, img)
        return img

    def _placement(self, src_w: int, src_h: int) -> _Placement:
        W, H = self.config.frame_size_px
        s = min(W / src_w, H / src_h)
        w, h = max(1, round(src_w * s)), max(1, round(src_h * s))
        return _Placement((W - w) // 2, (H - h) // 2, w, h)

    def render(self) -> np.ndarray:
        """Draw the overlay from the newest messages.

        Returns:
            (H, W, 3) uint8 BGR image of ``config.frame_size_px``.

        Raises:
            ValueError: the frame to show is a JPEG that cannot be decoded.
        """
        with self.timer.section("render"):
            image = self._render()
        self.timer.end_cycle()
        return image

    def _render(self) -> np.ndarray:
        cfg = self.config
        W, H = cfg.frame_size_px
        now = self._clock_ns()
        canvas = np.zeros((H, W, 3), dtype=np.uint8)
        frame = self._frame_to_show()
        src = self._decode(frame) if frame is not None else None
        if frame is not None:
            place = self._placement(frame.width, frame.height)
            src_size = (frame.width, frame.height)
            self.timer.add("capture_to_overlay", now - frame.t_capture_ns)
        else:
            place, src_size = _Placement(0, 0, W, H), (W, H)
        if src is not None:
            dst = canvas[place.y0:place.y0 + place.h, place.x0:place.x0 + place.w]
            if src.shape[1] == place.w and src.shape[0] == place.h:
                dst[...] = src
            else:
                cv2.resize(src, (place.w, place.h), dst=dst, interpolation=cv2.INTER_LINEAR)

        pose = self._pose if (self._pose is not None and self._pose.detected) else None
        landmarks_px = None
        if pose is not None:
            landmarks_px = pose.image_xyz[:, :2].astype(np.float64) * (place.w, place.h) + (place.x0, place.y0)

        if Panel.GHOST in cfg.panels:
            self._draw_ghost(canvas, place, landmarks_px, frame)
        if Panel.SKELETON in cfg.panels and pose is not None and landmarks_px is not None:
            self._draw_skeleton(canvas, landmarks_px, pose.visibility)
        if Panel.ANGLES in cfg.panels:
            self._draw_angles(canvas, pose, src_size)
        if Panel.CURVES in cfg.panels:
            self._draw_curves(canvas)
        if Panel.TIMING in cfg.panels:
            self._draw_timing(canvas, now, frame)
        if Panel.CUES in cfg.panels:
            self._draw_cues(canvas, now)
        if Panel.BANNER in cfg.panels:
            banner = self.banner(now)
            if banner is not None:
                self._draw_banner(canvas, *banner)
        return canvas

    def _draw_skeleton(self, image: np.ndarray, pts: np.ndarray, visibility: np.ndarray) -> None:
        cfg, c = self.config, self.config.colours
        s = self.layout.scale
        thick = max(1, round(3 * s))
        ok = np.isfinite(pts).all(axis=1) & (visibility >= cfg.min_visibility)
        if not ok.any():
            return
        ipts = _to_int_px(pts)
        fade = 0.3 + 0.7 * np.clip(visibility, 0.0, 1.0)
        for i, j in POSE_CONNECTIONS:
            if not (ok[i] and ok[j]):
                continue
            base = (c.skeleton_left if i in _LEFT_LANDMARKS and j in _LEFT_LANDMARKS else
                    c.skeleton_right if i in _RIGHT_LANDMARKS and j in _RIGHT_LANDMARKS else
                    c.skeleton_centre)
            f = float(min(fade[i], fade[j]))
            cv2.line(image, tuple(ipts[i]), tuple(ipts[j]), tuple(int(v * f) for v in base), thick,
                     cv2.LINE_AA)
        r = max(2, round(4 * s))
        for k in np.flatnonzero(ok):
            base = (c.skeleton_left if k in _LEFT_LANDMARKS else
                    c.skeleton_right if k in _RIGHT_LANDMARKS else c.skeleton_centre)
            f = float(fade[k])
            cv2.circle(image, tuple(ipts[k]), r, tuple(int(v * f) for v in base), -1, cv2.LINE_AA)

    def _draw_ghost(self, image: np.ndarray, place: _Placement, landmarks_px: np.ndarray | None,
                    frame: FrameInfo | None) -> None:
        if self._target is None or self._target_joints is None or self._ghost is None or self._camera is None:
            return  # no target, no way to draw one, or no camera to project it with yet
        target = self._target
        t_ns = frame.t_capture_ns if frame is not None else self._clock_ns()
        n = self._target_joints.shape[0]
        idx = int(math.floor((t_ns - target.t_capture_ns) / 1e9 * target.fps)) % n
        camera = self._camera.resized(place.w, place.h)
        anchor = None
        if landmarks_px is not None and self._pose is not None:
            vis = self._pose.visibility
            if vis[LEFT_HIP] >= self.config.min_visibility and vis[RIGHT_HIP] >= self.config.min_visibility:
                anchor = (landmarks_px[LEFT_HIP] + landmarks_px[RIGHT_HIP]) / 2 - (place.x0, place.y0)
        uv = ghost_points_px(camera, self._target_joints[idx], anchor, self._ghost.hip_indices)
        draw_ghost(image, uv + (place.x0, place.y0), self._ghost.connections, self.config.colours.ghost,
                   self.config.ghost_alpha, max(2, round(6 * self.layout.scale)))

    def _draw_angles(self, image: np.ndarray, pose: Pose | None, src_size: tuple[int, int]) -> None:
        lay, c, cfg = self.layout, self.config.colours, self.config
        kin = self._kinematics
        q = kin.coordinates if (kin is not None and kin.valid) else None
        a = live_angles_deg(q, pose.image_xyz if pose is not None else None, src_size,
                            pose.world_xyz if pose is not None else None, cfg.fppa_max_view_yaw_deg)
        _shade(image, lay.angles)
        x0, y0, x1, _ = lay.angles
        fs = 0.5 * lay.scale
        col_l, col_r = x0 + round(92 * lay.scale), x0 + round(142 * lay.scale)
        y = y0 + lay.line_px
        _text(image, "deg", (x0 + round(8 * lay.scale), y), fs, c.dim_text)
        _text(image, "  L", (col_l, y), fs, c.skeleton_left)
        _text(image, "  R", (col_r, y), fs, c.skeleton_right)
        rows = (("Hip flex", "hip"), ("Knee flex", "knee"), ("Ankle dfl", "ankle"), ("Valgus", "fppa"))
        for label, key in rows:
            y += lay.line_px
            _text(image, label, (x0 + round(8 * lay.scale), y), fs, c.text)
            for col, side in ((col_l, "l"), (col_r, "r")):
                v = a[f"{key}_{side}"]
                colour = c.text
                if key == "fppa" and not math.isnan(v):
                    colour = c.warning if abs(v) > cfg.fppa_warn_deg else c.good
                _text(image, _fmt(v, signed=key == "fppa"), (col, y), fs, colour)
        y += lay.line_px
        _text(image, "Trunk lean", (x0 + round(8 * lay.scale), y), fs, c.text)
        _text(image, _fmt(a["trunk"]), (col_l, y), fs, c.text)
        y += lay.line_px
        _text(image, f"reps {self.cycles.n_reps}", (x0 + round(8 * lay.scale), y), fs, c.dim_text)
        if kin is not None and not math.isnan(kin.marker_rms_m):
            _text(image, f"fit {kin.marker_rms_m * 100:.1f} cm", (col_l, y), 0.42 * lay.scale, c.dim_text)

    def _make_curves_background(self) -> np.ndarray:
        """The static part of the curve panel (grid, labels), drawn once on black."""
        lay, c = self.layout, self.config.colours
        x0, y0, x1, y1 = lay.curves
        bg = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.uint8)
        px, py0, px1, py1 = self._plot_rect()
        for deg in (0, 45, 90, 135):
            y = self._deg_to_y(deg)
            cv2.line(bg, (px, y), (px1, y), (70, 70, 70), 1)
            _text(bg, f"{deg}", (2, y + 4), 0.35 * lay.scale, c.dim_text)
        fs = 0.42 * lay.scale
        _text(bg, "hip", (px, round(14 * lay.scale)), fs, c.hip_curve)
        _text(bg, "knee", (px + round(36 * lay.scale), round(14 * lay.scale)), fs, c.knee_curve)
        _text(bg, "flexion / cycle", (px + round(84 * lay.scale), round(14 * lay.scale)), fs, c.dim_text)
        return bg

    def _plot_rect(self) -> tuple[int, int, int, int]:
        """Plot area inside the curve panel, in panel coordinates."""
        lay = self.layout
        x0, y0, x1, y1 = lay.curves
        s = lay.scale
        return round(30 * s), round(22 * s), (x1 - x0) - round(8 * s), (y1 - y0) - round(8 * s)

    def _deg_to_y(self, deg: float) -> int:
        _, py0, _, py1 = self._plot_rect()
        return round(py1 - (py1 - py0) * deg / 140.0)

    def _draw_curves(self, image: np.ndarray) -> None:
        lay, c = self.layout, self.config.colours
        roi = _shade(image, lay.curves)
        cv2.add(roi, self._curves_bg, dst=roi)
        traj = self.cycles.trajectory()
        if len(traj) < 2:
            return
        px0, py0, px1, py1 = self._plot_rect()
        span_s = max(self.config.curve_window_s, float(traj[-1, 0]))
        xs = px0 + (px1 - px0) * traj[:, 0] / span_s
        for col, colour in ((2, c.hip_curve), (1, c.knee_curve)):
            ys = py1 - (py1 - py0) * np.clip(traj[:, col], -10.0, 150.0) / 140.0
            ok = np.isfinite(ys)
            if ok.sum() >= 2:
                pts = np.round(np.stack([xs[ok], ys[ok]], axis=1)).astype(np.int32)
                cv2.polylines(roi, [pts], False, colour, max(1, round(2 * lay.scale)), cv2.LINE_AA)
        if not self.cycles.in_cycle:
            _text(roi, "last rep", (px1 - round(56 * lay.scale), py1 - round(4 * lay.scale)),
                  0.38 * lay.scale, c.dim_text)

    def _draw_timing(self, image: np.ndarray, now_ns: int, frame: FrameInfo | None) -> None:
        lay, c = self.layout, self.config.colours
        beats = sorted(self._heartbeats.values(), key=lambda v: v[1].process)[:4]
        x0, y0, x1, y1 = lay.timing
        _shade(image, (x0, y0, x1, min(y1, y0 + lay.line_px * (2 + len(beats)) + round(8 * lay.scale))))
        fs = 0.42 * lay.scale
        max_chars = max(10, int((x1 - x0 - 10) / (8.5 * lay.scale)))
        p50 = self.timer.p50_ms()
        lag = f"{(now_ns - frame.t_capture_ns) / 1e6:4.0f} ms" if frame is not None else "  --"
        y = y0 + lay.line_px
        _text(image, f"overlay {self.timer.fps():4.1f} fps  render {p50.get('render', 0.0):.1f} ms", (x0 + 6, y),
              fs, c.text)
        y += lay.line_px
        _text(image, f"capture->overlay {lag}", (x0 + 6, y), fs, c.text)
        for rx_ns, hb in beats:
            y += lay.line_px
            silent = (now_ns - rx_ns) / 1e9 > _HEARTBEAT_SILENT_S
            stages = " ".join(f"{k} {v:.1f}" for k, v in hb.stage_ms.items() if k != "cycle")
            state = "" if hb.state is ProcessState.RUNNING else f"[{hb.state.value}] "
            line = f"{hb.process} {hb.fps:3.0f}fps {'[silent] ' if silent else state}{stages}"
            colour = c.warning if (silent or hb.state is not ProcessState.RUNNING) else c.dim_text
            _text(image, line[:max_chars], (x0 + 6, y), fs, colour)

    def banner(self, now_ns: int | None = None) -> tuple[str, BGR] | None:
        """The state banner to show now (text, colour), or None; the most severe state wins.

        Order: ended, source unavailable, reconnecting, process error, no video yet or for longer
        than ``source_lost_after_ms``, more than one person, no person.
        """
        now = self._clock_ns() if now_ns is None else now_ns
        c = self.config.colours
        states = {hb.state: hb for _, hb in self._heartbeats.values()}
        if ProcessState.ENDED in states:
            return "Session ended", c.dim_text
        if ProcessState.SOURCE_UNAVAILABLE in states:
            detail = states[ProcessState.SOURCE_UNAVAILABLE].detail
            return f"Camera lost{': ' + detail if detail else ''}", c.fault
        if ProcessState.RECONNECTING in states:
            return "Reconnecting to camera...", c.warning
        if ProcessState.ERROR in states:
            hb = states[ProcessState.ERROR]
            return f"Error in {hb.process}{': ' + hb.detail if hb.detail else ''}", c.fault
        if self._last_frame_rx_ns is None:
            return "Waiting for video...", c.warning
        silence_ms = (now - self._last_frame_rx_ns) / 1e6
        if silence_ms > self.config.source_lost_after_ms:
            return f"No video for {silence_ms / 1000:.1f} s", c.fault
        if ProcessState.MULTIPLE_PEOPLE in states:
            return "More than one person in view", c.warning
        if (self._pose is not None and not self._pose.detected) or ProcessState.NO_PERSON in states:
            return "No person detected - step into view", c.warning
        return None

    def _draw_banner(self, image: np.ndarray, text: str, colour: BGR) -> None:
        lay = self.layout
        x0, y0, x1, y1 = lay.banner
        _shade(image, lay.banner, keep=0.25)
        cv2.line(image, (x0, y0), (x1 - 1, y0), colour, max(1, round(2 * lay.scale)))
        cv2.line(image, (x0, y1 - 1), (x1 - 1, y1 - 1), colour, max(1, round(2 * lay.scale)))
        fs, th = 0.9 * lay.scale, max(1, round(2 * lay.scale))
        (tw, th_px), _ = cv2.getTextSize(text, _FONT, fs, th)
        if tw > x1 - x0 - 20:
            fs *= (x1 - x0 - 20) / tw
            (tw, th_px), _ = cv2.getTextSize(text, _FONT, fs, th)
        _text(image, text, ((x0 + x1 - tw) // 2, (y0 + y1 + th_px) // 2), fs, colour, th)

    def _draw_cues(self, image: np.ndarray, now_ns: int) -> None:
        lay, c = self.layout, self.config.colours
        hold_ns = int(self.config.cue_hold_s * 1e9)
        self._cues = {k: v for k, v in self._cues.items() if now_ns - v[0] <= hold_ns}
        if not self._cues:
            return
        active = sorted(self._cues.values(), key=lambda v: v[0], reverse=True)[:3]
        x0, y0, x1, y1 = lay.cues
        step = (y1 - y0) // 3
        fs, th = 0.62 * lay.scale, max(1, round(2 * lay.scale))
        colours = {CueSeverity.INFO: c.good, CueSeverity.WARNING: c.warning, CueSeverity.FAULT: c.fault}
        y = y1
        for _, cue in active:  # newest at the bottom, nearest the eye line of the panel
            (tw, _), _ = cv2.getTextSize(cue.text, _FONT, fs, th)
            _shade(image, (x0, y - step + 2, min(x1, x0 + tw + 16), y))
            _text(image, cue.text, (x0 + 8, y - round(8 * lay.scale)), fs, colours[cue.severity], th)
            y -= step

    # -- output -------------------------------------------------------------------------------------

    def emit(self, image: np.ndarray) -> bool:
        """Send one rendered image to the configured outputs.

        Frames of another size than ``frame_size_px`` are resized for the MP4 writer (its size is
        fixed at open time). The PNG snapshot is replaced atomically at most every
        ``snapshot_interval_s``.

        Args:
            image: (H, W, 3) uint8 BGR image (normally from ``render()``).

        Returns:
            False when the user asked to quit (q or Esc in the window, or the window was closed).

        Raises:
            RuntimeError: not opened.
            ValueError: not an (H, W, 3) uint8 image.
            OSError: the snapshot cannot be written.
        """
        if not self._is_open:
            raise RuntimeError("Overlay.emit: call open() first (or use the overlay as a context manager)")
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"Overlay.emit: expected (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        cfg = self.config
        W, H = cfg.frame_size_px
        sized = image if image.shape[:2] == (H, W) else cv2.resize(image, (W, H), interpolation=cv2.INTER_AREA)
        if self._writer is not None:
            self._writer.write(sized)
            self._frames_written += 1
        if cfg.snapshot_path is not None:
            now = self._clock_ns()
            if self._last_snapshot_ns is None or now - self._last_snapshot_ns >= cfg.snapshot_interval_s * 1e9:
                self._write_snapshot(sized, Path(cfg.snapshot_path))
                self._last_snapshot_ns = now
        if self._window_open:
            cv2.imshow(cfg.window_name, image)
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                return False
            if cv2.getWindowProperty(cfg.window_name, cv2.WND_PROP_VISIBLE) < 1:
                return False
        return True

    @staticmethod
    def _write_snapshot(image: np.ndarray, path: Path) -> None:
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise OSError(f"cannot encode snapshot PNG for {path}")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(png.tobytes())
        os.replace(tmp, path)
