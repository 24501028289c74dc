"""Gravity and floor alignment of MediaPipe world landmarks.

MediaPipe's world landmarks are metric, centred between the hips, with camera-aligned axes (OpenCV:
x image-right, y image-down, z away from the camera). The skeletal model lives in OpenSim's ground
frame (x forward, y up, z right). With an unknown camera pitch and roll, "up" is estimated from a
window of standing frames: the direction from the mid-ankle to the mid-shoulder point of a person
standing upright is vertical to within a few degrees, and averaged over frames it is stable.
Ground x is then the horizontal direction toward the camera (a subject facing the camera has zero
pelvis rotation), z = x cross y.

Inputs: standing-window world landmarks (N, 33, 3). Output: a ``FloorAlignment`` whose rotation maps
MediaPipe world vectors into the ground frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.landmarks import LEFT_ANKLE, LEFT_SHOULDER, RIGHT_ANKLE, RIGHT_SHOULDER


@dataclass(frozen=True)
class FloorAlignment:
    """Rotation from MediaPipe world (camera-aligned) axes into OpenSim ground axes."""

    R_ground_from_mp: np.ndarray  # (3, 3)

    @property
    def camera_pitch_deg(self) -> float:
        """Angle between the camera's optical axis and the horizontal plane (positive: looking down)."""
        up_in_mp = self.R_ground_from_mp[1]  # ground y expressed in MediaPipe axes
        # looking down tilts the optical axis (MediaPipe z) away from 'up'
        return float(-np.degrees(np.arcsin(np.clip(up_in_mp[2], -1.0, 1.0))))

    def apply(self, points_mp: np.ndarray) -> np.ndarray:
        """MediaPipe world points (..., 3) -> ground-frame points (..., 3)."""
        return np.asarray(points_mp) @ self.R_ground_from_mp.T

    @classmethod
    def level_camera(cls) -> "FloorAlignment":
        """Alignment for a level camera (optical axis horizontal, no roll)."""
        return cls(_rotation_from_up(np.array([0.0, -1.0, 0.0])))


def estimate_floor_alignment(world_xyz: np.ndarray, visibility: np.ndarray | None = None,
                             min_frames: int = 5) -> FloorAlignment:
    """Estimate the gravity direction from a window of standing frames.

    Args:
        world_xyz: (N, 33, 3) MediaPipe world landmarks in metres; frames with NaN are skipped.
        visibility: optional (N, 33) visibilities; frames whose shoulders/ankles are below 0.5 are skipped.
        min_frames: how many usable frames are needed.

    Returns:
        The alignment; raises ValueError when fewer than ``min_frames`` frames are usable.
    """
    world = np.asarray(world_xyz, dtype=np.float64)
    if world.ndim != 3 or world.shape[1:] != (33, 3):
        raise ValueError(f"world_xyz must have shape (N, 33, 3), got {world.shape}")
    idx = [LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ANKLE, RIGHT_ANKLE]
    usable = np.isfinite(world[:, idx]).all(axis=(1, 2))
    if visibility is not None:
        usable &= (np.asarray(visibility)[:, idx] >= 0.5).all(axis=1)
    if usable.sum() < min_frames:
        raise ValueError(f"floor alignment needs {min_frames} standing frames with visible shoulders and "
                         f"ankles, got {int(usable.sum())}")
    w = world[usable]
    shoulders = 0.5 * (w[:, LEFT_SHOULDER] + w[:, RIGHT_SHOULDER])
    ankles = 0.5 * (w[:, LEFT_ANKLE] + w[:, RIGHT_ANKLE])
    up = np.median(shoulders - ankles, axis=0)
    return FloorAlignment(_rotation_from_up(up / np.linalg.norm(up)))


def _rotation_from_up(up_mp: np.ndarray) -> np.ndarray:
    """Rows: ground x, y, z expressed in MediaPipe axes, for a given 'up' in MediaPipe axes."""
    y = up_mp / np.linalg.norm(up_mp)
    toward_camera = np.array([0.0, 0.0, -1.0])
    x = toward_camera - y * (toward_camera @ y)
    if np.linalg.norm(x) < 1e-6:
        raise ValueError("floor alignment: 'up' is parallel to the optical axis (camera looking straight down?)")
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    return np.stack([x, y, z])
