"""A shaded, human-proportioned mannequin drawn with OpenCV from the skeletal model's body poses.

Inputs: body transforms of one frame (from ``BodyKinematics``), a ``PinholeCamera`` (built from a
``MannequinConfig`` viewpoint: azimuth around the subject, elevation, distance, field of view).
Output: a BGR image of the subject on a floor, which MediaPipe's pose detector takes for a person.

Algorithm: every body part is a convex solid, the convex hull of one to three ellipsoids fixed in a
body frame (capsule-like limbs, a tapered torso, shoes, head). Points sampled on the ellipsoids are
projected with the pinhole camera and each part is filled as the convex hull of its projections.
Parts are painted far to near by the depth of their centres (painter's algorithm). Shading: each part
is painted three times, each time shrunk towards the point of its surface that faces a light placed
above and beside the camera, in progressively lighter tones (a cheap Lambert-like gradient), then
outlined in a darker tone, so overlapping limbs stay distinct. The head carries hair and a face
(eyes, brows, nose, mouth, ears) on the model's forward direction. Floor (with a subtle grid, clipped
at the camera's near plane) and wall are drawn once per camera and reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from calibration.camera import PinholeCamera

BGR = tuple[int, int, int]


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


_SPHERE = _fibonacci_sphere(72)  # unit-sphere samples for the body parts
_HEAD_SPHERE = _fibonacci_sphere(400)  # denser, for the hair line


def _check_bgr(name: str, value: BGR) -> None:
    if len(value) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in value):
        raise ValueError(f"MannequinConfig.{name} must be three integers 0..255 (B, G, R), got {value!r}")


@dataclass(frozen=True)
class MannequinConfig:
    """Image, viewpoint and look of the rendered subject.

    width_px, height_px: image size. azimuth_deg: camera position around the subject, 0 = in front,
    90 = at the subject's right side, 180 = behind. elevation_deg: camera height angle above the
    aim point. distance_m: camera to aim point. hfov_deg: horizontal field of view. aim_height_m:
    height of the aim point above the floor (over the subject's standing position). Colours: BGR.
    floor_grid: draw a subtle 0.5 m grid on the floor.
    """

    width_px: int = 640
    height_px: int = 480
    azimuth_deg: float = 0.0
    elevation_deg: float = 8.0
    distance_m: float = 3.4
    hfov_deg: float = 60.0
    aim_height_m: float = 0.85
    skin_bgr: BGR = (120, 155, 200)
    shirt_bgr: BGR = (150, 95, 40)
    pants_bgr: BGR = (60, 50, 45)
    shoes_bgr: BGR = (225, 225, 225)
    hair_bgr: BGR = (30, 40, 60)
    wall_bgr: BGR = (215, 212, 205)
    floor_bgr: BGR = (160, 172, 182)
    floor_grid: bool = True

    def __post_init__(self) -> None:
        if not (64 <= self.width_px <= 4096 and 64 <= self.height_px <= 4096):
            raise ValueError(f"MannequinConfig: image size must be 64..4096 px per side, "
                             f"got {self.width_px}x{self.height_px}")
        if not -10.0 <= self.elevation_deg <= 60.0:
            raise ValueError(f"MannequinConfig.elevation_deg must be in [-10, 60], got {self.elevation_deg}")
        if not 1.5 <= self.distance_m <= 20.0:
            raise ValueError(f"MannequinConfig.distance_m must be in [1.5, 20], got {self.distance_m}")
        if not 20.0 <= self.hfov_deg <= 120.0:
            raise ValueError(f"MannequinConfig.hfov_deg must be in [20, 120], got {self.hfov_deg}")
        if not 0.2 <= self.aim_height_m <= 2.0:
            raise ValueError(f"MannequinConfig.aim_height_m must be in [0.2, 2], got {self.aim_height_m}")
        if not np.isfinite(self.azimuth_deg):
            raise ValueError(f"MannequinConfig.azimuth_deg must be finite, got {self.azimuth_deg}")
        for name in ("skin_bgr", "shirt_bgr", "pants_bgr", "shoes_bgr", "hair_bgr", "wall_bgr", "floor_bgr"):
            _check_bgr(name, getattr(self, name))


def camera_for(config: MannequinConfig, subject_xz_m: tuple[float, float] = (0.0, 0.0)) -> PinholeCamera:
    """The camera of a viewpoint, aimed at the subject.

    Args:
        config: viewpoint and image size.
        subject_xz_m: the subject's standing position on the floor (ground x, z).

    Returns:
        A PinholeCamera looking at (x, aim_height_m, z) from the configured direction.
    """
    az, el = np.radians(config.azimuth_deg), np.radians(config.elevation_deg)
    target = np.array([subject_xz_m[0], config.aim_height_m, subject_xz_m[1]])
    direction = np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)])
    return PinholeCamera.look_at(target + config.distance_m * direction, target, config.width_px,
                                 config.height_px, config.hfov_deg)


@dataclass(frozen=True)
class Part:
    """One convex body part: the hull of ellipsoids (centre (3,), semi-axes as columns of (3, 3))."""

    name: str
    centres: np.ndarray  # (n, 3) world metres
    axes: np.ndarray  # (n, 3, 3) columns = semi-axis vectors, world metres
    colour_bgr: tuple[float, float, float]
    depth_bias_m: float = 0.0  # negative: painted after parts at the same depth (e.g. a sleeve)


@dataclass(frozen=True)
class Face:
    """Head pose for hair and facial features: head frame origin and rotation (x forward, y up, z right)."""

    origin: np.ndarray  # (3,)
    rotation: np.ndarray  # (3, 3) columns = head frame axes in the world


@dataclass(frozen=True)
class Figure:
    """Everything ``render`` draws for one frame."""

    parts: tuple[Part, ...]
    face: Face
    footprint_xz_m: np.ndarray = field(default_factory=lambda: np.zeros(2))  # shadow centre on the floor


# Head-frame geometry (metres), pose2sim model: origin at the top of the neck. Eyes and nose sit where
# the model's BlazePose markers are, so drawn features and landmark truth agree.
_HEAD_CENTRE = np.array([0.015, 0.05, 0.0])
_HEAD_SEMI = np.array([0.100, 0.118, 0.078])
_HAIR_SCALE = 1.04  # hair sits just outside the skin


def _is_hair(u: np.ndarray) -> np.ndarray:
    """Which unit-sphere directions (head frame: x forward, y up) are covered by short hair."""
    return ((u[:, 0] < 0.0) & (u[:, 1] > -0.6)) | (u[:, 1] > 0.65)
_EYES = np.array([[0.078, 0.047, -0.031], [0.078, 0.047, 0.031]])
_NOSE = np.array([0.116, 0.0126, 0.0])
_MOUTH = np.array([[0.100, -0.020, -0.018], [0.100, -0.020, 0.018]])
_EARS = np.array([[0.005, 0.040, -0.080], [0.005, 0.040, 0.080]])


def _ellipsoid(rotation: np.ndarray, origin: np.ndarray, centre_local: np.ndarray,
               semi_local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World centre and axes of an ellipsoid given in a body frame (semi-axes along the frame axes)."""
    return origin + rotation @ centre_local, rotation * np.asarray(semi_local)[None, :]


def _sphere(centre: np.ndarray, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    return centre, np.eye(3) * radius_m


def _part(name: str, colour: tuple[float, ...], stations: list[tuple[np.ndarray, np.ndarray]],
          depth_bias_m: float = 0.0) -> Part:
    return Part(name, np.stack([c for c, _ in stations]), np.stack([a for _, a in stations]),
                tuple(float(c) for c in colour), depth_bias_m)


def build_figure(transforms: np.ndarray, body_index: dict[str, int], config: MannequinConfig) -> Figure:
    """Body parts of the mannequin for one frame.

    Args:
        transforms: (n_bodies, 4, 4) body transforms in ground.
        body_index: body name -> index into ``transforms`` (needs the bodies of
            ``edge.synthetic.body.REQUIRED_BODIES``).
        config: colours.

    Returns:
        The Figure to render.

    Raises:
        KeyError: a needed body is missing from ``body_index``.
    """
    def frame(body: str) -> tuple[np.ndarray, np.ndarray]:
        T = transforms[body_index[body]]
        return T[:3, :3], T[:3, 3]

    parts: list[Part] = []
    for side, sign, tone in (("r", 1.0, 1.0), ("l", -1.0, 0.9)):
        skin = np.array(config.skin_bgr) * tone
        pants = np.array(config.pants_bgr) * tone
        shirt = np.array(config.shirt_bgr) * tone
        shoes = np.array(config.shoes_bgr) * tone
        hip = frame(f"femur_{side}")[1]
        knee = frame(f"tibia_{side}")[1]
        ankle = frame(f"talus_{side}")[1]
        parts.append(_part(f"thigh_{side}", pants, [
            _sphere(hip, 0.085), _sphere(hip + 0.45 * (knee - hip), 0.074), _sphere(knee, 0.056)]))
        R_tib, _ = frame(f"tibia_{side}")
        calf = knee + 0.33 * (ankle - knee) + R_tib @ np.array([-0.015, 0.0, 0.0])
        parts.append(_part(f"shank_{side}", pants, [_sphere(knee, 0.054), _sphere(calf, 0.056),
                                                    _sphere(ankle, 0.036)]))
        R_cal, o_cal = frame(f"calcn_{side}")
        R_toe, o_toe = frame(f"toes_{side}")
        mirror = np.array([1.0, 1.0, sign])
        parts.append(_part(f"foot_{side}", shoes, [
            _ellipsoid(R_cal, o_cal, np.array([0.035, 0.030, 0.0]) * mirror, [0.045, 0.040, 0.036]),
            _ellipsoid(R_cal, o_cal, np.array([0.150, 0.020, 0.002]) * mirror, [0.050, 0.030, 0.048]),
            _ellipsoid(R_toe, o_toe, np.array([0.030, 0.013, -0.008]) * mirror, [0.036, 0.021, 0.042]),
            _sphere(ankle, 0.04)]))
        shoulder = frame(f"humerus_{side}")[1]
        elbow = frame(f"ulna_{side}")[1]
        R_hand, wrist = frame(f"hand_{side}")
        parts.append(_part(f"upper_arm_{side}", skin, [_sphere(shoulder, 0.047), _sphere(elbow, 0.038)]))
        parts.append(_part(f"sleeve_{side}", shirt, [_sphere(shoulder, 0.058),
                                                     _sphere(shoulder + 0.45 * (elbow - shoulder), 0.052)],
                           depth_bias_m=-0.01))
        parts.append(_part(f"forearm_{side}", skin, [_sphere(elbow, 0.038), _sphere(wrist, 0.027)]))
        parts.append(_part(f"hand_{side}", skin, [
            _ellipsoid(R_hand, wrist, np.array([0.0, -0.065, 0.0]), [0.025, 0.070, 0.042])]))
    R_tor, o_tor = frame("torso")
    shirt = np.array(config.shirt_bgr)
    parts.append(_part("torso", shirt, [
        _ellipsoid(R_tor, o_tor, np.array([0.065, 0.09, 0.0]), [0.095, 0.06, 0.135]),
        _ellipsoid(R_tor, o_tor, np.array([0.070, 0.26, 0.0]), [0.110, 0.08, 0.155]),
        _ellipsoid(R_tor, o_tor, np.array([0.030, 0.38, 0.0]), [0.085, 0.05, 0.190])]))
    R_pel, o_pel = frame("pelvis")
    parts.append(_part("pelvis", np.array(config.pants_bgr), [
        _ellipsoid(R_pel, o_pel, np.array([-0.040, 0.03, 0.0]), [0.100, 0.06, 0.140]),
        _ellipsoid(R_pel, o_pel, np.array([-0.065, -0.07, 0.0]), [0.105, 0.07, 0.165])]))
    R_head, o_head = frame("head")
    parts.append(_part("neck", np.array(config.skin_bgr), [
        _sphere(o_tor + R_tor @ np.array([0.005, 0.42, 0.0]), 0.052), _sphere(o_head, 0.045)]))
    feet = [frame(f"calcn_{s}")[1] for s in ("r", "l")] + [frame(f"toes_{s}")[1] for s in ("r", "l")]
    footprint = np.mean(feet, axis=0)[[0, 2]]
    return Figure(tuple(parts), Face(o_head, R_head), footprint)


class MannequinRenderer:
    """Draws Figures for one camera; the floor and wall are drawn once and reused.

    Args:
        camera: the viewpoint (see ``camera_for``).
        config: colours and image size (must match the camera's).

    Raises:
        ValueError: camera and config image sizes differ.
    """

    def __init__(self, camera: PinholeCamera, config: MannequinConfig) -> None:
        if (camera.width, camera.height) != (config.width_px, config.height_px):
            raise ValueError(f"camera is {camera.width}x{camera.height} px but MannequinConfig asks for "
                             f"{config.width_px}x{config.height_px}")
        self.camera = camera
        self.config = config
        self._background = self._draw_background()
        cam_right = camera.R_cw[0]
        to_camera = -camera.R_cw[2]
        light = to_camera + 0.9 * np.array([0.0, 1.0, 0.0]) - 0.5 * cam_right
        self._light = light / np.linalg.norm(light)

    def render(self, figure: Figure) -> np.ndarray:
        """The image (H, W, 3) uint8 BGR of one Figure."""
        image = self._background.copy()
        self._draw_shadow(image, figure.footprint_xz_m)
        cam = self.camera
        head_c, head_a = _ellipsoid(figure.face.rotation, figure.face.origin, _HEAD_CENTRE, _HEAD_SEMI)
        items: list[tuple[float, object]] = []
        for part in figure.parts:
            depth = float(np.mean(cam.to_camera(part.centres)[:, 2])) + part.depth_bias_m
            items.append((depth, part))
        head_depth = float(cam.to_camera(head_c)[2])
        items.append((head_depth, "head"))
        items.sort(key=lambda it: -it[0])  # far to near
        for _, item in items:
            if isinstance(item, Part):
                self._draw_part(image, item.centres, item.axes, item.colour_bgr)
                continue
            self._draw_part(image, head_c[None], head_a[None], tuple(float(c) for c in self.config.skin_bgr))
            self._draw_hair(image, head_c, head_a)
            self._draw_face(image, figure.face, head_c)
        return image

    def _draw_hair(self, image: np.ndarray, head_centre: np.ndarray, head_axes: np.ndarray) -> None:
        """Hull of the hair-covered head surface points that face the camera, over the head."""
        u = _HEAD_SPHERE[_is_hair(_HEAD_SPHERE)]
        p = head_centre + _HAIR_SCALE * u @ head_axes.T  # (k, 3)
        normal = (u / _HEAD_SEMI) @ (head_axes / _HEAD_SEMI[None, :]).T  # R u/semi: outward normal
        seen = p[np.einsum("ki,ki->k", normal, self.camera.centre_m - p) > 0.0]
        if len(seen) < 3:
            return
        uv = self._project(seen)
        uv = uv[np.all(np.isfinite(uv), axis=1)]
        if len(uv) < 3:
            return
        hull = cv2.convexHull(np.round(uv * 16).astype(np.int32))
        hair = np.array(self.config.hair_bgr, dtype=float)
        cv2.fillConvexPoly(image, hull, _colour(hair), cv2.LINE_AA, shift=4)
        cv2.polylines(image, [hull], True, _colour(hair * 0.6), 1, cv2.LINE_AA, shift=4)

    # ---- drawing helpers
    def _project(self, points_m: np.ndarray) -> np.ndarray:
        return self.camera.project(points_m)

    def _hull_px(self, centres: np.ndarray, axes: np.ndarray) -> np.ndarray | None:
        pts = centres[:, None, :] + np.einsum("nij,kj->nki", axes, _SPHERE)  # (n, k, 3)
        uv = self._project(pts.reshape(-1, 3))
        uv = uv[np.all(np.isfinite(uv), axis=1)]
        if len(uv) < 3:
            return None
        return cv2.convexHull(np.round(uv * 16).astype(np.int32))  # 4 fractional bits for LINE_AA

    def _draw_part(self, image: np.ndarray, centres: np.ndarray, axes: np.ndarray,
                   colour: tuple[float, ...]) -> None:
        base = np.array(colour)
        # Surface point facing the light of each ellipsoid: A u with u ~ A^T L.
        u = np.einsum("nji,j->ni", axes, self._light)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        toward_light = np.einsum("nij,nj->ni", axes, u)
        outline = None
        for shift, shrink, tone in ((0.0, 1.0, 0.62), (0.25, 0.72, 0.85), (0.48, 0.42, 1.0)):
            hull = self._hull_px(centres + shift * toward_light, axes * shrink)
            if hull is None:
                return
            cv2.fillConvexPoly(image, hull, _colour(base * tone), cv2.LINE_AA, shift=4)
            outline = hull if outline is None else outline
        cv2.polylines(image, [outline], True, _colour(base * 0.42), 1, cv2.LINE_AA, shift=4)

    def _draw_face(self, image: np.ndarray, face: Face, head_centre: np.ndarray) -> None:
        R, o = face.rotation, face.origin
        cam = self.camera

        def visible(p_local: np.ndarray) -> bool:
            p = o + R @ p_local
            return float((p - head_centre) @ (cam.centre_m - p)) > 0.0

        def px(p_local: np.ndarray) -> tuple[np.ndarray, float]:
            p = o + R @ p_local
            uv = cam.project(p)
            metre_px = cam.fx / max(float(cam.to_camera(p)[2]), 1e-3)
            return uv, metre_px

        skin = np.array(self.config.skin_bgr, dtype=float)
        for ear in _EARS:
            if visible(ear):
                uv, m = px(ear)
                if np.all(np.isfinite(uv)):
                    axes = (max(1, int(round(0.018 * m))), max(1, int(round(0.03 * m))))
                    cv2.ellipse(image, _pt(uv), axes, 0, 0, 360, _colour(skin * 0.8), -1, cv2.LINE_AA)
        for eye in _EYES:
            if visible(eye):
                uv, m = px(eye)
                brow_l, _ = px(eye + np.array([0.008, 0.022, -0.016]))
                brow_r, _ = px(eye + np.array([0.008, 0.022, 0.016]))
                if np.all(np.isfinite(uv)):
                    cv2.circle(image, _pt(uv), max(1, int(round(0.011 * m))), (245, 245, 245), -1, cv2.LINE_AA)
                    cv2.circle(image, _pt(uv), max(1, int(round(0.0065 * m))), (40, 30, 25), -1, cv2.LINE_AA)
                    cv2.line(image, _pt(brow_l), _pt(brow_r), self.config.hair_bgr,
                             max(1, int(round(0.006 * m))), cv2.LINE_AA)
        if visible(_NOSE):
            tip, m = px(_NOSE)
            root, _ = px(_NOSE + np.array([-0.02, 0.03, 0.0]))
            cv2.line(image, _pt(root), _pt(tip), _colour(skin * 0.72), max(1, int(round(0.014 * m))), cv2.LINE_AA)
        if visible(_MOUTH[0]) or visible(_MOUTH[1]):
            a, m = px(_MOUTH[0])
            b, _ = px(_MOUTH[1])
            cv2.line(image, _pt(a), _pt(b), (70, 60, 150), max(1, int(round(0.008 * m))), cv2.LINE_AA)

    def _draw_shadow(self, image: np.ndarray, centre_xz_m: np.ndarray) -> None:
        angle = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        ring = np.stack([centre_xz_m[0] + 0.32 * np.cos(angle), np.full_like(angle, 0.001),
                         centre_xz_m[1] + 0.30 * np.sin(angle)], axis=1)
        uv = self._project(ring)
        if not np.all(np.isfinite(uv)):
            return
        sigma = max(1.0, 0.08 * float(np.ptp(uv[:, 0])))
        pad = int(3 * sigma) + 2
        x0, y0 = np.floor(uv.min(axis=0)).astype(int) - pad
        x1, y1 = np.ceil(uv.max(axis=0)).astype(int) + pad
        h, w = image.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            return
        roi = image[y0:y1, x0:x1]
        mask = np.zeros(roi.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(uv - [x0, y0]).astype(np.int32)], 255, cv2.LINE_AA)
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
        roi[:] = (roi * (1.0 - 0.35 * mask[..., None] / 255.0)).astype(np.uint8)

    def _draw_background(self) -> np.ndarray:
        cfg, cam = self.config, self.camera
        image = np.full((cfg.height_px, cfg.width_px, 3), cfg.wall_bgr, np.uint8)
        half = 6.0
        floor = np.array([[-half, 0, -half], [half, 0, -half], [half, 0, half], [-half, 0, half]])
        poly = _clip_near(cam.to_camera(floor))
        if len(poly) >= 3:
            cv2.fillPoly(image, [_to_px(cam, poly)], cfg.floor_bgr, cv2.LINE_AA, shift=4)
            cv2.polylines(image, [_to_px(cam, poly)], True, _colour(np.array(cfg.wall_bgr) * 0.8), 2,
                          cv2.LINE_AA, shift=4)
        if cfg.floor_grid:
            grid = _colour(np.array(cfg.floor_bgr) * 0.9)
            for v in np.arange(-half, half + 1e-9, 0.5):
                for a, b in (([v, 0, -half], [v, 0, half]), ([-half, 0, v], [half, 0, v])):
                    seg = _clip_near(cam.to_camera(np.array([a, b], dtype=float)), closed=False)
                    if len(seg) == 2:
                        p = _to_px(cam, seg)
                        cv2.line(image, tuple(map(int, p[0])), tuple(map(int, p[1])), grid, 1, cv2.LINE_AA, shift=4)
        return image


def render(camera: PinholeCamera, figure: Figure, config: MannequinConfig = MannequinConfig()) -> np.ndarray:
    """One-off rendering of a Figure (a ``MannequinRenderer`` reuses the background across frames).

    Args:
        camera: viewpoint; its image size must match ``config``.
        figure: from ``build_figure``.
        config: colours and image size.

    Returns:
        (H, W, 3) uint8 BGR image.
    """
    return MannequinRenderer(camera, config).render(figure)


_NEAR_M = 0.05


def _clip_near(points_cam: np.ndarray, closed: bool = True) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon (or a segment) in camera coordinates to z >= near."""
    out = []
    n = len(points_cam)
    for i in range(n if closed else n - 1):
        a, b = points_cam[i], points_cam[(i + 1) % n]
        a_in, b_in = a[2] >= _NEAR_M, b[2] >= _NEAR_M
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (_NEAR_M - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
        if not closed and i == n - 2 and b_in:
            out.append(b)
    return np.array(out)


def _to_px(cam: PinholeCamera, points_cam: np.ndarray) -> np.ndarray:
    """Camera-frame points (z > 0) -> int32 pixel coordinates with 4 fractional bits."""
    uv = np.stack([cam.fx * points_cam[:, 0] / points_cam[:, 2] + cam.cx,
                   cam.fy * points_cam[:, 1] / points_cam[:, 2] + cam.cy], axis=1)
    return np.round(np.clip(uv, -1e5, 1e5) * 16).astype(np.int32)


def _colour(c: np.ndarray) -> tuple[int, int, int]:
    c = np.clip(np.round(c), 0, 255).astype(int)
    return int(c[0]), int(c[1]), int(c[2])


def _pt(uv: np.ndarray) -> tuple[int, int]:
    return int(round(float(uv[0]))), int(round(float(uv[1])))
