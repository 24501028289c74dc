"""Pinhole camera model: intrinsics, pose in the world, projection.

World frame: OpenSim ground (x forward, y up, z to the subject's right), metres. Camera frame: OpenCV
(x right, y down, z along the optical axis). ``R_cw`` and ``t_cw`` map world points into the camera:
``p_cam = R_cw @ p_world + t_cw``. Lens distortion is not modelled (webcams and the renderer are
close to pinhole at the accuracy MediaPipe gives).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics (pixels) and extrinsics (world -> camera) of one camera."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    R_cw: np.ndarray = field(default_factory=lambda: np.eye(3))
    t_cw: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        R = np.asarray(self.R_cw, dtype=np.float64)
        t = np.asarray(self.t_cw, dtype=np.float64)
        if R.shape != (3, 3) or not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
            raise ValueError("R_cw must be a 3x3 rotation matrix")
        if t.shape != (3,):
            raise ValueError(f"t_cw must have shape (3,), got {t.shape}")
        object.__setattr__(self, "R_cw", R)
        object.__setattr__(self, "t_cw", t)

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> "PinholeCamera":
        """Camera at the world origin looking along world axes, square pixels, principal point centred."""
        if not 1.0 < hfov_deg < 179.0:
            raise ValueError(f"horizontal field of view must be in (1, 179) deg, got {hfov_deg}")
        f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
        return cls(width, height, f, f, (width - 1) / 2, (height - 1) / 2)

    @classmethod
    def look_at(cls, eye_m: np.ndarray, target_m: np.ndarray, width: int, height: int,
                hfov_deg: float, up: np.ndarray = np.array([0.0, 1.0, 0.0])) -> "PinholeCamera":
        """Camera at ``eye_m`` aimed at ``target_m`` (world metres), image 'up' along world ``up``."""
        eye = np.asarray(eye_m, dtype=np.float64)
        forward = np.asarray(target_m, dtype=np.float64) - eye
        if np.linalg.norm(forward) < 1e-9:
            raise ValueError("look_at: eye and target coincide")
        z = forward / np.linalg.norm(forward)
        x = np.cross(z, np.asarray(up, dtype=np.float64))  # image right = forward x up
        if np.linalg.norm(x) < 1e-9:
            raise ValueError("look_at: viewing direction is parallel to 'up'")
        x /= np.linalg.norm(x)
        y = np.cross(z, x)  # image down
        R_cw = np.stack([x, y, z])
        base = cls.from_fov(width, height, hfov_deg)
        return cls(width, height, base.fx, base.fy, base.cx, base.cy, R_cw, -R_cw @ eye)

    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def centre_m(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return -self.R_cw.T @ self.t_cw

    def to_camera(self, points_world_m: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera-frame points (..., 3)."""
        return np.asarray(points_world_m) @ self.R_cw.T + self.t_cw

    def project(self, points_world_m: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> pixel coordinates (..., 2); points behind the camera give NaN."""
        p = self.to_camera(points_world_m)
        z = p[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.fx * p[..., 0] / z + self.cx
            v = self.fy * p[..., 1] / z + self.cy
        uv = np.stack([u, v], axis=-1)
        uv[z <= 1e-6] = np.nan
        return uv

    def resized(self, width: int, height: int) -> "PinholeCamera":
        """The same camera for an image resized to width x height."""
        sx, sy = width / self.width, height / self.height
        return PinholeCamera(width, height, self.fx * sx, self.fy * sy,
                             (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, self.R_cw, self.t_cw)
