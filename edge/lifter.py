"""Lifter: MediaPipe pose -> the 33 BIGE coordinates of the skeletal model, per frame, causally.

Inputs: ``edge.messages.Pose`` (33 image landmarks normalised by the frame size, 33 metric world
landmarks centred between the hips, visibilities). Output: ``edge.messages.Kinematics`` (BIGE order,
degrees; pelvis translations in metres: tx/tz relative to where tracking started, ty above the floor).

Algorithm:
1. Calibration: the first ``calibration_frames`` frames with a person are buffered. From them: the
   gravity direction (``calibration.floor``; standing frames are recognised by straight knees; with
   none, a level camera is assumed and gravity is re-estimated once when the subject stands), the
   subject scaling (``calibration.subject``, per the scaling setting), the camera intrinsics (a
   pinhole with the configured field of view, at the camera centre = ground origin) and the floor
   height (lowest foot marker). Then the buffered frames are solved and emitted in order: a one-time
   start-up delay of the calibration window.
2. Tracking: per frame, marker IK (``edge.ik``; or OpenSim's own IK on x86-64, ``ik_backend``, as a
   reference) on the exported model, warm-started from the previous
   frame, fitting both the world landmarks (hip-centred, rotated into the ground frame) and the image
   landmarks (reprojected through the camera), weighted by visibility, with three squat priors: feet
   flat on the floor, the centre of mass over the feet, and planted feet (heels and toes held near
   where they stood, which pins the body's distance from the camera: one camera sees depth poorly,
   and without it the fitted body drifts toward or away from the camera and trades leg flexion for
   distance). The anchors follow the fitted feet slowly (``foot_anchor_time_s``) and are re-planted at
   once when a foot landmark moves more than ``foot_release_m`` in the image (a step).
   A fit whose marker RMS exceeds ``lost_fit_rms_m`` is retried twice, and the best of the three
   kept: with the landmarks' sides swapped back (MediaPipe mislabels left and right for a few frames,
   e.g. at the bottom of squats seen from the front), and from a fresh start with the feet re-planted
   (a warm start led astray by a fast move). A gap of more than ``reinit_gap_s`` without a person
   re-initialises the fit.
3. Causal smoothing: a One-Euro filter on the coordinates (adaptive low-pass: strong at rest, light in
   fast motion). It looks at no future frame; at rest its lag is ~1 / (2 pi min_cutoff_hz).
Time for the filter, the planted feet and gaps is the source's own (``MotionClock``): media time for a
file, so a file lifts the same on a fast or a loaded machine.

Latency added per frame: the IK solve (a few ms; a retried frame costs about ten times that) plus
the filter's phase lag; nothing waits for a future frame. Numpy only (runs on a Jetson without opensim).
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from calibration.camera import PinholeCamera
from calibration.floor import FloorAlignment, estimate_floor_alignment
from calibration.subject import ScalingConfig, estimate_scaling
from edge import landmarks as lm
from edge.ik import IKConfig, IKResult, MarkerIK
from edge.messages import BIGE_COORDINATES, N_COORDINATES, Kinematics, Pose
from edge.skeleton.bige_map import to_bige
from edge.skeleton.model import SkeletonModel, load_default

log = logging.getLogger(__name__)

LANDMARKS = np.array(list(lm.LANDMARK_TO_MARKER))
MARKER_NAMES = [lm.LANDMARK_TO_MARKER[i] for i in LANDMARKS]
_FOOT_MARKERS = [MARKER_NAMES.index(n) for n in ("LHeel", "RHeel", "LBigToe", "RBigToe")]
_MIRROR = np.array([MARKER_NAMES.index({"L": "R", "R": "L"}[n[0]] + n[1:]) if n[0] in "LR" and n[1].isupper() else i
                    for i, n in enumerate(MARKER_NAMES)])  # each marker's counterpart on the other side
_PELVIS_T = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
COLD_START_ITERATIONS = 50
STANDING_SHARE = 0.8  # share of calibration frames that must be standing for the standing calibration
MIN_CALIBRATION_STANDING = 5  # standing frames in the calibration window that give gravity
STANDING_OFFSET_MARKERS = ("LShoulder", "RShoulder", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle",
                           "LHeel", "RHeel", "LBigToe", "RBigToe")


class IKBackend(enum.Enum):
    """Which solver fits the model per frame."""

    NUMPY = "numpy"  # edge.ik.MarkerIK: world and image landmarks, squat priors; runs everywhere
    OPENSIM = "opensim"  # OpenSim's InverseKinematicsSolver on the world landmarks (x86-64 only; reference)


class ScalingMode(enum.Enum):
    """How the generic model is scaled to the subject."""

    NONE = "none"  # generic model
    UNIFORM = "uniform"  # one factor from the leg segments
    SEGMENTS = "segments"  # one factor per segment (thigh, shank, trunk, ...)


@dataclass(frozen=True)
class OneEuroConfig:
    """One-Euro filter (Casiez et al. 2012) on the output coordinates; min_cutoff_hz=0 turns it off."""

    min_cutoff_hz: float = 3.0
    beta: float = 0.05  # cutoff increase per unit speed (deg/s or m/s)
    derivative_cutoff_hz: float = 1.0

    def __post_init__(self) -> None:
        if self.min_cutoff_hz < 0 or self.beta < 0 or self.derivative_cutoff_hz <= 0:
            raise ValueError(f"One-Euro settings must be non-negative (derivative cutoff positive), got {self}")


@dataclass(frozen=True)
class LifterConfig:
    """Settings of the lifter. Weights are relative (marker errors in metres)."""

    calibration_frames: int = 30
    long_side_fov_deg: float = 65.0  # camera field of view along the image's long side
    scaling: ScalingMode = ScalingMode.NONE
    # MediaPipe's world landmarks against its image landmarks: on the real sit-to-stand video the fit is
    # best near 0.15 (weight 0.5 / 0.3 / 0.15 / 0.1 / 0.05: 8.08 / 7.51 / 7.16 / 7.17 / 7.40 deg), on the
    # rendered panel flat from 0.5 to 0.15 (9.89 / 9.78 / 9.81, then 10.24 / 10.45); scripts/lifter_panel.py,
    # with the lumbo-pelvic rhythm at 0.12
    world_weight: float = 0.15
    image_weight: float = 1.0
    # a frame is 'standing' when both 3-D knee bends of MediaPipe's world landmarks are below this; they
    # read 10-30 deg on a straight-legged subject seen from the front (depth error), hence the margin
    standing_knee_deg: float = 35.0
    min_standing_frames: int = 15
    # when the calibration window shows the subject standing, take MediaPipe's view-dependent error of
    # the world landmarks (e.g. knees that read bent from the front) as the difference between the
    # observed standing skeleton and the model's neutral standing pose, and subtract it afterwards
    standing_offsets: bool = True
    reinit_gap_s: float = 0.5
    lost_fit_rms_m: float = 0.03  # a fit worse than this (weighted marker RMS) is retried from a cold start
    foot_anchor_time_s: float = 2.0  # planted-feet anchors follow the fitted feet with this time constant
    foot_release_m: float = 0.1  # a foot landmark moving this far in the image (metres at the feet) re-plants the feet
    ik_backend: IKBackend = IKBackend.NUMPY
    ik: IKConfig = field(default_factory=IKConfig)
    scaling_settings: ScalingConfig = field(default_factory=ScalingConfig)
    smoothing: OneEuroConfig = field(default_factory=OneEuroConfig)

    def __post_init__(self) -> None:
        if self.calibration_frames < 5:
            raise ValueError(f"calibration_frames must be >= 5, got {self.calibration_frames}")
        if not 10.0 < self.long_side_fov_deg < 170.0:
            raise ValueError(f"long_side_fov_deg must be in (10, 170), got {self.long_side_fov_deg}")
        if self.world_weight < 0 or self.image_weight < 0 or self.world_weight + self.image_weight <= 0:
            raise ValueError(f"world_weight and image_weight must be >= 0 and not both 0, got "
                             f"{self.world_weight}, {self.image_weight}")
        if self.ik_backend is IKBackend.OPENSIM and (self.image_weight != 0 or self.scaling is not ScalingMode.NONE):
            raise ValueError("ik_backend 'opensim' fits world landmarks on the generic model only: "
                             f"set image_weight = 0 and scaling = 'none' (got {self.image_weight}, "
                             f"{self.scaling.value!r})")
        if self.min_standing_frames < 5 or self.reinit_gap_s <= 0:
            raise ValueError("min_standing_frames must be >= 5 and reinit_gap_s > 0")
        if not self.lost_fit_rms_m > 0:
            raise ValueError(f"lost_fit_rms_m must be > 0, got {self.lost_fit_rms_m}")
        if not self.foot_anchor_time_s > 0:
            raise ValueError(f"foot_anchor_time_s must be > 0, got {self.foot_anchor_time_s}")
        if not self.foot_release_m > 0:
            raise ValueError(f"foot_release_m must be > 0, got {self.foot_release_m}")


class OneEuroFilter:
    """Vector One-Euro filter over irregularly timed samples (NaN-free input)."""

    def __init__(self, config: OneEuroConfig) -> None:
        self.config = config
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t_ns: int | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t_ns = None

    def __call__(self, x: np.ndarray, t_ns: int) -> np.ndarray:
        cfg = self.config
        if cfg.min_cutoff_hz == 0:
            return x
        if self._x is None or self._t_ns is None or t_ns <= self._t_ns:
            self._x, self._dx, self._t_ns = x.copy(), np.zeros_like(x), t_ns
            return x
        dt = (t_ns - self._t_ns) / 1e9
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(cfg.derivative_cutoff_hz, dt) * (dx - self._dx)
        cutoff = cfg.min_cutoff_hz + cfg.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._t_ns = t_ns
        return self._x.copy()


def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
    tau = 1.0 / (2 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


class MotionClock:
    """The lifter's clock for its dynamics (filter, planted feet, gaps), in ns: the source's own clock
    (media time for a file, so that a file lifts the same however fast this machine gets through it;
    time since the first frame for a live source). Where the source's clock does not advance (a looped
    file starting over, a sender without source times) it goes on by the capture clock's step, so it
    never runs backwards. Starts at 0."""

    def __init__(self) -> None:
        self._now_ns = 0
        self._last: tuple[int, int] | None = None  # the previous frame's (t_source_ns, t_capture_ns)

    def __call__(self, t_source_ns: int, t_capture_ns: int) -> int:
        step = 0
        if self._last is not None:
            step = t_source_ns - self._last[0]
            if step <= 0:
                step = max(t_capture_ns - self._last[1], 1)
        self._last = (t_source_ns, t_capture_ns)
        self._now_ns += step
        return self._now_ns


def _upright(markers: np.ndarray) -> np.ndarray:
    """Markers (M, 3) of a standing pose turned so the mid-shoulder is straight above the mid-ankle: the
    same definition of upright as the gravity estimate (calibration.floor), so that the standing
    calibration does not mistake the model's own slight lean for a landmark error."""
    top = markers[[MARKER_NAMES.index("LShoulder"), MARKER_NAMES.index("RShoulder")]].mean(axis=0)
    bottom = markers[[MARKER_NAMES.index("LAnkle"), MARKER_NAMES.index("RAnkle")]].mean(axis=0)
    v = (top - bottom) / np.linalg.norm(top - bottom)
    up = np.array([0.0, 1.0, 0.0])
    axis = np.cross(v, up)
    s, c = np.linalg.norm(axis), float(v @ up)
    if s < 1e-12:
        return markers
    k = axis / s
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    R = np.eye(3) + s * K + (1 - c) * K @ K  # Rodrigues: turns v onto up
    return (markers - bottom) @ R.T + bottom


def knee_bend_deg(world_xyz: np.ndarray) -> np.ndarray:
    """3-D knee bend (0 = straight) of (left, right) from world landmarks (..., 33, 3)."""
    out = []
    for hip, knee, ankle in ((lm.LEFT_HIP, lm.LEFT_KNEE, lm.LEFT_ANKLE), (lm.RIGHT_HIP, lm.RIGHT_KNEE, lm.RIGHT_ANKLE)):
        u = world_xyz[..., hip, :] - world_xyz[..., knee, :]
        v = world_xyz[..., ankle, :] - world_xyz[..., knee, :]
        cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
        out.append(180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.stack(out, axis=-1)


class Lifter:
    """Stateful per-frame lifter; feed every Pose in capture order to ``process``."""

    def __init__(self, config: LifterConfig = LifterConfig(), model: SkeletonModel | None = None) -> None:
        self.config = config
        self.generic_model = model if model is not None else load_default()
        missing = [n for n in MARKER_NAMES if n not in {m.name for m in self.generic_model.markers}]
        if missing:
            raise ValueError(f"model {self.generic_model.name} lacks the BlazePose markers {missing}")
        self.model: SkeletonModel | None = None
        self.alignment: FloorAlignment | None = None
        self.camera: PinholeCamera | None = None
        self.scaling_summary: dict[str, float] = {}
        self._ik: MarkerIK | None = None
        self._world_offset_m = np.zeros((len(MARKER_NAMES), 3))
        self._pending: list[Pose] = []
        self._standing: list[np.ndarray] = []
        self._gravity_from_standing = False
        self._q: np.ndarray | None = None
        self._last_detected_ns: int | None = None
        self._clock = MotionClock()
        self._origin_xz: np.ndarray | None = None
        self._floor_y_m: float | None = None
        self._foot_anchor_m: np.ndarray | None = None
        self._foot_anchor_px: np.ndarray | None = None
        self._foot_anchor_ns = 0
        self.calibration_revision = 0  # counts changes of output_camera() (a display re-reads it then)
        self._last_output = np.full(N_COORDINATES, np.nan)
        self._filter = OneEuroFilter(config.smoothing)
        self._seq = 0

    # ---- lifecycle (the lifter holds no OS resources; open/close reset its state)
    def open(self) -> "Lifter":
        return self

    def close(self) -> None:
        self._pending.clear()

    def __enter__(self) -> "Lifter":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def calibrated(self) -> bool:
        return self._ik is not None

    def output_camera(self) -> PinholeCamera | None:
        """The camera in the frame of the emitted Kinematics (ground axes, origin on the floor where
        tracking started): projects the model posed by output coordinates onto the image. None until
        the first frame is solved."""
        if self._floor_y_m is None:
            return None
        c = self.camera
        offset = np.array([self._origin_xz[0], self._floor_y_m, self._origin_xz[1]])
        return PinholeCamera(c.width, c.height, c.fx, c.fy, c.cx, c.cy, c.R_cw, c.R_cw @ offset + c.t_cw)

    def process(self, pose: Pose) -> list[Kinematics]:
        """Consume one Pose; return the Kinematics now ready (none while calibrating, then the backlog)."""
        if not self.calibrated:
            self._pending.append(pose)
            if sum(p.detected for p in self._pending) < self.config.calibration_frames:
                return []
            self._calibrate(self._pending)
            backlog, self._pending = self._pending, []
            return [self._track(p) for p in backlog]
        return [self._track(pose)]

    def finish(self) -> list[Kinematics]:
        """At the end of the input: the frames still held for calibration.

        With at least 5 detected frames, calibrate on them and solve them; otherwise they come out as
        invalid (no usable pose). Nothing is held afterwards.
        """
        pending, self._pending = self._pending, []
        if self.calibrated or not pending:
            return []
        if sum(p.detected for p in pending) >= 5:
            self._calibrate(pending)
            return [self._track(p) for p in pending]
        return [self._emit(p, valid=False, coords=self._last_output, rms=float("nan"), t0=time.monotonic_ns())
                for p in pending]

    # ---- calibration
    def _calibrate(self, poses: list[Pose]) -> None:
        cfg = self.config
        detected = [p for p in poses if p.detected]
        size = {(p.image_width_px, p.image_height_px) for p in detected}
        if len(size) != 1 or min(next(iter(size))) <= 0:
            raise ValueError(f"lifter: poses must carry one positive image size, got {sorted(size)}")
        width, height = next(iter(size))
        world = np.stack([p.world_xyz for p in detected]).astype(np.float64)
        vis = np.stack([p.visibility for p in detected]).astype(np.float64)
        standing = self._standing_mask(world)
        standing_start = standing.mean() >= STANDING_SHARE
        self._update_gravity(world[standing], calibrating=True)
        model = self.generic_model
        if cfg.scaling is not ScalingMode.NONE:
            scaling = estimate_scaling(model, world, vis, cfg.scaling_settings)
            self.scaling_summary = scaling.summary()
            if cfg.scaling is ScalingMode.UNIFORM:
                legs = [scaling.segment_length_m[k] / scaling.model_length_m[k] for k in ("thigh", "shank")]
                factor = float(np.clip(np.mean(legs), cfg.scaling_settings.min_scale, cfg.scaling_settings.max_scale))
                model = model.scaled({b: np.full(3, factor) for b in model.body_names})
            else:
                model = model.scaled(scaling.body_scales)
        self.model = model
        self._ik = MarkerIK(model, MARKER_NAMES, cfg.ik)
        self._tracker = self._ik
        if cfg.ik_backend is IKBackend.OPENSIM:
            from edge.ik_opensim import OpenSimIKConfig, OpenSimMarkerIK, default_model_files

            osim_path, marker_set = default_model_files()
            opensim_config = OpenSimIKConfig(fixed_coordinates=cfg.ik.fixed_coordinates,
                                             prior_weights=cfg.ik.prior_weights, prior_couplings=cfg.ik.prior_couplings,
                                             temporal_weight=cfg.ik.temporal_weight)
            self._tracker = OpenSimMarkerIK(osim_path, MARKER_NAMES, opensim_config, marker_set_path=marker_set,
                                            coordinate_names=model.coordinate_names)
        fov = cfg.long_side_fov_deg
        if width < height:  # portrait: the long side is vertical
            fov = float(np.degrees(2 * np.arctan(np.tan(np.radians(fov) / 2) * width / height)))
        self._intrinsics = PinholeCamera.from_fov(width, height, fov)
        self._set_camera()
        if cfg.standing_offsets and self._gravity_from_standing and standing_start:
            self._world_offset_m = self._standing_offsets(world[standing])
            log.info("lifter: standing calibration, world-landmark offsets up to %.1f cm",
                     100 * np.linalg.norm(self._world_offset_m, axis=1).max())
        log.info("lifter calibrated on %d frames: %dx%d, camera pitch %.1f deg (%s), scaling %s",
                 len(detected), width, height, self.alignment.camera_pitch_deg,
                 "standing frames" if self._gravity_from_standing else "level camera assumed",
                 self.scaling_summary or "none")

    def _standing_offsets(self, world_standing: np.ndarray) -> np.ndarray:
        """Per-marker offsets (M, 3), ground frame: observed standing skeleton minus the model's neutral
        pose, after turning the model about the vertical to face the same way (lower body and
        shoulders only; arms and head are free to differ from the neutral pose)."""
        observed = np.median(self.alignment.apply(world_standing[:, LANDMARKS]), axis=0)  # (M, 3)
        neutral = _upright(self._ik.markers(self._ik.default_q))
        rows = [MARKER_NAMES.index(n) for n in STANDING_OFFSET_MARKERS]
        hips = [MARKER_NAMES.index("LHip"), MARKER_NAMES.index("RHip")]
        obs = observed[rows] - observed[hips].mean(axis=0)
        mod = neutral[rows] - neutral[hips].mean(axis=0)
        # yaw-only Procrustes in the floor plane (x, z)
        yaw = np.arctan2((mod[:, 2] * obs[:, 0] - mod[:, 0] * obs[:, 2]).sum(),
                         (mod[:, 0] * obs[:, 0] + mod[:, 2] * obs[:, 2]).sum())
        c, s = np.cos(yaw), np.sin(yaw)
        turn = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        offsets = np.zeros((len(MARKER_NAMES), 3))
        offsets[rows] = obs - mod @ turn.T
        return offsets

    def _standing_mask(self, world: np.ndarray) -> np.ndarray:
        """(N,) True for frames of world landmarks (N, 33, 3) with both knees straighter than the setting."""
        return (knee_bend_deg(world) < self.config.standing_knee_deg).all(axis=-1)

    def _update_gravity(self, world_standing: np.ndarray, calibrating: bool = False) -> None:
        """Add standing frames (N, 33, 3); estimate gravity from them once there are enough:
        ``min_standing_frames``, or MIN_CALIBRATION_STANDING in the calibration window (where the
        alternative is to assume a level camera, and a few standing frames beat that guess)."""
        self._standing.extend(world_standing)
        needed = MIN_CALIBRATION_STANDING if calibrating else self.config.min_standing_frames
        if len(self._standing) >= needed:
            self.alignment = estimate_floor_alignment(np.stack(self._standing))
            self._gravity_from_standing = True
        elif self.alignment is None:
            self.alignment = FloorAlignment.level_camera()

    def _set_camera(self) -> None:
        c = self._intrinsics
        self.camera = PinholeCamera(c.width, c.height, c.fx, c.fy, c.cx, c.cy,
                                    self.alignment.R_ground_from_mp.T, np.zeros(3))

    # ---- tracking
    def _track(self, pose: Pose) -> Kinematics:
        t0 = time.monotonic_ns()
        t_ns = self._clock(pose.t_source_ns, pose.t_capture_ns)
        if not pose.detected:
            return self._emit(pose, valid=False, coords=self._last_output, rms=float("nan"), t0=t0)
        if not self._gravity_from_standing:
            world = pose.world_xyz[None].astype(np.float64)
            if self._standing_mask(world)[0]:
                self._update_gravity(world)
                if self._gravity_from_standing:
                    log.info("lifter: gravity re-estimated from standing frames, camera pitch %.1f deg",
                             self.alignment.camera_pitch_deg)
                    self._set_camera()
                    self._q = None
                    self._floor_y_m = None  # the ground frame turned: floor height and origin anew
                    self._origin_xz = None
        gap = (self._last_detected_ns is not None
               and t_ns - self._last_detected_ns > self.config.reinit_gap_s * 1e9)
        if gap:
            self._q = None  # a fresh start below, feet re-planted
        self._last_detected_ns = t_ns
        world_m = self.alignment.apply(pose.world_xyz[LANDMARKS].astype(np.float64)) - self._world_offset_m
        weights = pose.visibility[LANDMARKS].astype(np.float64)
        image_px = pose.image_xyz[LANDMARKS, :2].astype(np.float64) * [self.camera.width, self.camera.height]
        if self._q is None:
            self._q = self._initial_pose(world_m, weights, image_px)
            self._foot_anchor_m = None
            self._filter.reset()
        result, image_px = self._fit(world_m, weights, image_px)
        self._q = result.q
        if self._floor_y_m is None:  # the first fit in this ground frame: the floor under its feet
            self._floor_y_m = float(self._ik.markers(result.q)[_FOOT_MARKERS, 1].min())
            self._origin_xz = result.q[[self.model.coordinate_index(c) for c in _PELVIS_T[::2]]]
            self.calibration_revision += 1
        self._follow_feet(result.q, image_px, t_ns)
        coords = self._to_output(result.q)
        coords = self._filter(coords, t_ns)
        self._last_output = coords
        return self._emit(pose, valid=True, coords=coords, rms=result.marker_rms_m, t0=t0)

    def _fit(self, world_m: np.ndarray, weights: np.ndarray, image_px: np.ndarray) -> tuple[IKResult, np.ndarray]:
        """This frame's fit from the warm start, retried when poor; returns it and the image landmarks it
        used (sides swapped back if that fit won)."""
        anchors = self._planted_feet(image_px, weights)
        result = self._solve(self._q, world_m, weights, image_px, anchors)
        if result.marker_rms_m <= self.config.lost_fit_rms_m:
            return result, image_px
        # A poor fit. Either MediaPipe swapped the body's sides (it does, at the bottom of squats seen from
        # the front), or the warm start led into a wrong pose (a fast move, a bad first fit). Try the sides
        # swapped back, and a fresh start with the feet re-planted; keep the best of the three.
        world_swapped = (world_m + self._world_offset_m)[_MIRROR] - self._world_offset_m
        swapped = self._solve(self._q, world_swapped, weights[_MIRROR], image_px[_MIRROR], anchors)
        fresh = self._solve(self._initial_pose(world_m, weights, image_px), world_m, weights, image_px, None)
        best = min((result, swapped, fresh), key=lambda r: r.marker_rms_m)
        if best is swapped:
            return swapped, image_px[_MIRROR]
        if best is fresh:
            self._foot_anchor_m = None
        return best, image_px

    def _solve(self, q_start: np.ndarray, world_m: np.ndarray, weights: np.ndarray, image_px: np.ndarray,
               foot_anchors_m: np.ndarray | None) -> IKResult:
        """One IK solve of this frame's observations with the configured backend and weights."""
        cfg = self.config
        if cfg.ik_backend is IKBackend.OPENSIM:
            return self._tracker.solve(q_start, world_m=world_m, world_weights=weights * cfg.world_weight)
        return self._ik.solve(
            q_start,
            world_m=world_m if cfg.world_weight > 0 else None, world_weights=weights * cfg.world_weight,
            image_xy=image_px if cfg.image_weight > 0 else None, image_weights=weights * cfg.image_weight,
            camera=self.camera, foot_anchors_m=foot_anchors_m)

    def _planted_feet(self, image_px: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
        """The feet anchors for this frame, or None (then the feet are re-planted where this frame's fit
        puts them) when a visible foot landmark has moved more than ``foot_release_m`` in the image
        since they were planted: the subject stepped."""
        if self._foot_anchor_m is None:
            return None
        depth_m = float(self.camera.to_camera(self._foot_anchor_m.reshape(-1, 3))[:, 2].mean())
        moved_px = np.linalg.norm(image_px[_FOOT_MARKERS] - self._foot_anchor_px, axis=1)
        seen = (weights[_FOOT_MARKERS] > 0.5) & np.isfinite(moved_px)
        if seen.any() and moved_px[seen].max() * depth_m / self.camera.fx > self.config.foot_release_m:
            self._foot_anchor_m = None
        return self._foot_anchor_m

    def _follow_feet(self, q: np.ndarray, image_px: np.ndarray, t_ns: int) -> None:
        """Plant the feet where this fit puts them (first frame, or after a step), or move the anchors
        toward the fitted feet with time constant ``foot_anchor_time_s`` (averaging out per-frame noise)."""
        feet = self._ik.foot_points(q)
        if self._foot_anchor_m is None:
            self._foot_anchor_m = feet
            self._foot_anchor_px = image_px[_FOOT_MARKERS]
        else:
            alpha = 1.0 - np.exp(-max(t_ns - self._foot_anchor_ns, 0) * 1e-9 / self.config.foot_anchor_time_s)
            self._foot_anchor_m = self._foot_anchor_m + alpha * (feet - self._foot_anchor_m)
        self._foot_anchor_ns = t_ns

    def _initial_pose(self, world_m: np.ndarray, weights: np.ndarray, image_px: np.ndarray) -> np.ndarray:
        """A first fit with no warm start: posture from the world landmarks, then placement in front of
        the camera from the image (depth from the body's size in pixels)."""
        ik, cam = self._ik, self.camera
        q = ik.solve(ik.default_q, world_m=world_m, world_weights=weights, max_iterations=COLD_START_ITERATIONS).q
        markers = ik.markers(q)
        top = [MARKER_NAMES.index("LShoulder"), MARKER_NAMES.index("RShoulder")]
        bottom = [MARKER_NAMES.index("LAnkle"), MARKER_NAMES.index("RAnkle")]
        hips = [MARKER_NAMES.index("LHip"), MARKER_NAMES.index("RHip")]
        length_m = np.linalg.norm(markers[top].mean(0) - markers[bottom].mean(0))
        length_px = np.linalg.norm(image_px[top].mean(0) - image_px[bottom].mean(0))
        depth_m = cam.fx * length_m / max(length_px, 1.0)
        hip_px = image_px[hips].mean(0)
        ray = np.array([(hip_px[0] - cam.cx) / cam.fx, (hip_px[1] - cam.cy) / cam.fy, 1.0]) * depth_m
        target = cam.R_cw.T @ ray
        translation = [self.model.coordinate_index(c) for c in _PELVIS_T]
        q[translation] += target - markers[hips].mean(0)
        return q

    def _to_output(self, q: np.ndarray) -> np.ndarray:
        coords = to_bige(self.model, q)
        tx, ty, tz = (BIGE_COORDINATES.index(c) for c in _PELVIS_T)
        coords[tx] -= self._origin_xz[0]
        coords[tz] -= self._origin_xz[1]
        coords[ty] -= self._floor_y_m
        return coords

    def _emit(self, pose: Pose, valid: bool, coords: np.ndarray, rms: float, t0: int) -> Kinematics:
        kin = Kinematics(seq=self._seq, t_capture_ns=pose.t_capture_ns, frame_index=pose.frame_index, valid=valid,
                         coordinates=np.asarray(coords, dtype=np.float64).copy(), marker_rms_m=rms,
                         solve_ns=time.monotonic_ns() - t0, t_source_ns=pose.t_source_ns)
        self._seq += 1
        return kin
