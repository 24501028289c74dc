"""A frame source that films the synthetic squatting subject, with exact ground truth per frame.

Inputs: a ``SyntheticSourceConfig`` (the squat set or a recorded motion file, the mannequin's look
and viewpoint, pacing, looping). Output: ``SyntheticFrame``s, ordinary ``SourceFrame``s (BGR image, ``t_capture_ns`` stamped
with ``time.monotonic_ns()`` when the frame is delivered, frame index, motion time) that also carry
the BIGE coordinates the subject was drawn from.

Algorithm: ``open`` generates the whole motion once (``squat_motion``: feet planted by inverse
kinematics), evaluates forward kinematics for every frame and sets up the camera of the configured
viewpoint, aimed at the subject's standing position. ``read`` renders the next frame on demand,
paced at the motion's frame rate (``realtime``) or as fast as possible, and ends (state ENDED) after
the last frame unless ``loop`` restarts the motion (frame indices keep counting).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from calibration.camera import PinholeCamera
from edge.messages import N_COORDINATES
from edge.sources import FrameSource, SourceConfig, SourceFrame, SourceState
from edge.synthetic.body import BodyKinematics
from edge.synthetic.mannequin import MannequinConfig, MannequinRenderer, build_figure, camera_for
from edge.synthetic.recorded_motion import recorded_motion
from edge.synthetic.squat_motion import SquatMotionConfig, squat_motion


@dataclass(frozen=True)
class SyntheticSourceConfig:
    """The synthetic subject as a camera.

    motion: the squat set (its ``fps`` also paces a recorded motion). motion_file: a recorded motion
    (``.mot`` with the BIGE coordinates, see ``edge.synthetic.recorded_motion``) to film instead of
    the squat set; "" = the squat set. mannequin: image size, viewpoint and colours. realtime: deliver
    frames at the motion's frame rate (False: as fast as they render). loop: start over after the last
    frame instead of ending.
    """

    motion: SquatMotionConfig = field(default_factory=SquatMotionConfig)
    motion_file: str = ""
    mannequin: MannequinConfig = field(default_factory=MannequinConfig)
    realtime: bool = True
    loop: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.motion, SquatMotionConfig):
            raise TypeError(f"SyntheticSourceConfig.motion must be a SquatMotionConfig, got {type(self.motion).__name__}")
        if not isinstance(self.motion_file, str):
            raise TypeError(f"SyntheticSourceConfig.motion_file must be a path string, got {self.motion_file!r}")
        if not isinstance(self.mannequin, MannequinConfig):
            raise TypeError(f"SyntheticSourceConfig.mannequin must be a MannequinConfig, "
                            f"got {type(self.mannequin).__name__}")


def subject_motion(config: SyntheticSourceConfig,
                   kinematics: BodyKinematics | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic subject's motion: the recorded motion file if configured, else the squat set.

    Returns:
        time_s (T,); coords_bige (T, 33) degrees / metres, the exact truth of every frame.

    Raises:
        FileNotFoundError, ValueError: the motion file is missing or unusable (named).
        RuntimeError: the squat set's inverse kinematics failed (see ``plant_feet``).
    """
    if config.motion_file:
        return recorded_motion(config.motion_file, config.motion.fps, kinematics)
    return squat_motion(config.motion, kinematics)


@dataclass(frozen=True)
class SyntheticFrame(SourceFrame):
    """A SourceFrame plus the truth it was drawn from.

    coords_bige: (33,) float64 BIGE coordinates of the subject in this frame (degrees / metres).
    """

    coords_bige: np.ndarray = field(default_factory=lambda: np.full(N_COORDINATES, np.nan))


class SyntheticSource(FrameSource):
    """Renders the synthetic squat set frame by frame; open()/read()/close(), or a context manager.

    Args:
        config: what to film.
        kinematics: forward kinematics of the skeletal model (default: ``BodyKinematics.default()``).
    """

    def __init__(self, config: SyntheticSourceConfig = SyntheticSourceConfig(),
                 kinematics: BodyKinematics | None = None) -> None:
        super().__init__(SourceConfig(spec="synthetic", realtime=config.realtime),
                         f"synthetic squats (azimuth {config.mannequin.azimuth_deg:g} deg)")
        self.synthetic_config = config
        self._kinematics = kinematics
        self._time_s = np.zeros(0)
        self._coords = np.zeros((0, N_COORDINATES))
        self._transforms = np.zeros((0, 0, 4, 4))
        self._body_index: dict[str, int] = {}
        self._camera: PinholeCamera | None = None
        self._renderer: MannequinRenderer | None = None
        self._next = 0  # next motion frame
        self._delivered = 0  # frames delivered (the running frame index)
        self._start_ns: int | None = None

    @property
    def fps(self) -> float:
        return self.synthetic_config.motion.fps

    @property
    def camera(self) -> PinholeCamera:
        """The camera the frames are rendered with (world frame: OpenSim ground).

        Raises:
            RuntimeError: the source is not open yet.
        """
        if self._camera is None:
            raise RuntimeError("SyntheticSource.camera: open() the source first")
        return self._camera

    @property
    def time_s(self) -> np.ndarray:
        """(T,) motion time of every frame of one pass (empty before open())."""
        return self._time_s

    @property
    def coords_bige(self) -> np.ndarray:
        """(T, 33) ground-truth BIGE coordinates of one pass (empty before open())."""
        return self._coords

    def open(self) -> None:
        """Generate the motion and set up the camera.

        Raises:
            RuntimeError: the motion's inverse kinematics failed (see ``plant_feet``).
            FileNotFoundError, ValueError: the recorded motion file is missing or unusable.
        """
        kinematics = self._kinematics or BodyKinematics.default()
        self._time_s, self._coords = subject_motion(self.synthetic_config, kinematics)
        self._transforms = kinematics.transforms(self._coords)
        self._body_index = {name: i for i, name in enumerate(kinematics.body_names)}
        feet = [self._transforms[0, kinematics.index(b), :3, 3] for b in ("calcn_r", "calcn_l", "toes_r", "toes_l")]
        centre = np.mean(feet, axis=0)
        mannequin = self.synthetic_config.mannequin
        self._camera = camera_for(mannequin, (float(centre[0]), float(centre[2])))
        self._renderer = MannequinRenderer(self._camera, mannequin)
        self._next = 0
        self._delivered = 0
        self._start_ns = None
        self._set_state(SourceState.OPEN, f"{len(self._time_s)} frames at {self.fps:g} fps")

    def read(self, timeout_ms: float = 100.0) -> SyntheticFrame | None:
        """The next frame, or None once the motion has ended (state ENDED) or before open().

        Args:
            timeout_ms: unused (frames are rendered on demand); kept for the FrameSource interface.
        """
        if self._renderer is None or self.state is not SourceState.OPEN:
            return None
        if self._next >= len(self._time_s):
            if not self.synthetic_config.loop:
                self._set_state(SourceState.ENDED, f"{self._delivered} frames delivered")
                return None
            self._next = 0
        i = self._next
        if self.synthetic_config.realtime:
            self._pace(self._delivered)
        image = self._renderer.render(build_figure(self._transforms[i], self._body_index,
                                                   self.synthetic_config.mannequin))
        frame = SyntheticFrame(image_bgr=image, t_capture_ns=time.monotonic_ns(), frame_index=self._delivered,
                               t_source_s=float(self._time_s[i]), coords_bige=self._coords[i].copy())
        self._next += 1
        self._delivered += 1
        return frame

    def close(self) -> None:
        self._renderer = None
        self._set_state(SourceState.CLOSED)

    def _pace(self, frame_index: int) -> None:
        """Sleep so that frame i is delivered no earlier than start + i / fps."""
        period_ns = int(1e9 / self.fps)
        now = time.monotonic_ns()
        if self._start_ns is None:
            self._start_ns = now - frame_index * period_ns
        delay_ns = self._start_ns + frame_index * period_ns - now
        if delay_ns > 0:
            time.sleep(delay_ns / 1e9)
