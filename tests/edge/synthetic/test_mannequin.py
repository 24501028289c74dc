"""Mannequin rendering: viewpoints, image content, and MediaPipe seeing a person where the truth is."""

from __future__ import annotations

import numpy as np
import pytest

from edge.messages import BIGE_COORDINATES
from edge.synthetic.body import BodyKinematics
from edge.synthetic.mannequin import MannequinConfig, MannequinRenderer, build_figure, camera_for, render
from edge.synthetic.squat_motion import SquatMotionConfig, squat_motion

KNEE_R = BIGE_COORDINATES.index("knee_angle_r")
# MediaPipe BlazePose landmark -> body whose origin is that joint centre.
LEG_LANDMARKS = {23: "femur_l", 24: "femur_r", 25: "tibia_l", 26: "tibia_r", 27: "talus_l", 28: "talus_r"}


@pytest.fixture(scope="module")
def motion() -> tuple[BodyKinematics, np.ndarray, dict[str, int]]:
    kinematics = BodyKinematics.default()
    _, coords = squat_motion(SquatMotionConfig(reps=1, stand_start_s=2.0, stand_end_s=0.5, variation=0.0,
                                               fps=30.0), kinematics)
    transforms = kinematics.transforms(coords)
    return kinematics, transforms, {name: i for i, name in enumerate(kinematics.body_names)}


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="distance_m"):
        MannequinConfig(distance_m=0.5)
    with pytest.raises(ValueError, match="skin_bgr"):
        MannequinConfig(skin_bgr=(300, 0, 0))
    with pytest.raises(ValueError, match="image size"):
        MannequinConfig(width_px=10)


@pytest.mark.parametrize("azimuth_deg, direction", [(0.0, (1, 0)), (90.0, (0, 1)), (180.0, (-1, 0))])
def test_camera_viewpoints(azimuth_deg: float, direction: tuple[int, int]) -> None:
    config = MannequinConfig(azimuth_deg=azimuth_deg, elevation_deg=0.0, distance_m=3.0)
    camera = camera_for(config, (0.1, -0.2))
    np.testing.assert_allclose(camera.centre_m, [0.1 + 3 * direction[0], config.aim_height_m, -0.2 + 3 * direction[1]],
                               atol=1e-9)
    np.testing.assert_allclose(camera.project(np.array([0.1, config.aim_height_m, -0.2])),
                               [camera.cx, camera.cy], atol=1e-6)


def test_render_draws_a_subject(motion: tuple[BodyKinematics, np.ndarray, dict[str, int]]) -> None:
    _, transforms, index = motion
    config = MannequinConfig(width_px=320, height_px=240)
    camera = camera_for(config)
    image = render(camera, build_figure(transforms[0], index, config), config)
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    background = np.array([config.wall_bgr, config.floor_bgr], dtype=float)
    distance = np.abs(image[:, :, None, :].astype(float) - background[None, None]).sum(-1).min(-1)
    assert np.count_nonzero(distance > 60) > 0.03 * image.shape[0] * image.shape[1]
    u, v = np.round(camera.project(transforms[0, index["torso"], :3, 3] + [0.0, 0.25, 0.0])).astype(int)
    assert distance[v, u] > 60  # the chest is drawn where the model's torso is
    with pytest.raises(ValueError, match="camera is"):
        MannequinRenderer(camera_for(MannequinConfig()), config)


def test_face_only_from_the_front(motion: tuple[BodyKinematics, np.ndarray, dict[str, int]]) -> None:
    _, transforms, index = motion
    whites = []
    for azimuth in (0.0, 180.0):
        config = MannequinConfig(azimuth_deg=azimuth)
        image = render(camera_for(config), build_figure(transforms[0], index, config), config)
        whites.append(np.count_nonzero(np.all(image >= 240, axis=-1)))  # eye whites (shoes are darker)
    assert whites[0] >= 4 and whites[1] == 0


@pytest.mark.parametrize("azimuth_deg", [0.0, 30.0, 60.0, 90.0])
def test_mediapipe_detects_mannequin(azimuth_deg: float,
                                     motion: tuple[BodyKinematics, np.ndarray, dict[str, int]]) -> None:
    mp = pytest.importorskip("mediapipe", reason="mediapipe (legacy solutions API) not installed")
    import cv2

    _, transforms, index = motion
    config = MannequinConfig(azimuth_deg=azimuth_deg, width_px=640, height_px=480)
    camera = camera_for(config)
    renderer = MannequinRenderer(camera, config)
    frames = np.linspace(45, len(transforms) - 1, 20).astype(int)  # standing, down, bottom, up
    detected, errors = 0, []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        for f in frames:
            image = renderer.render(build_figure(transforms[f], index, config))
            result = pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            if result.pose_landmarks is None:
                continue
            detected += 1
            landmarks = result.pose_landmarks.landmark
            for k, body in LEG_LANDMARKS.items():
                truth = camera.project(transforms[f, index[body], :3, 3])
                seen = np.array([landmarks[k].x * config.width_px, landmarks[k].y * config.height_px])
                errors.append(np.linalg.norm(seen - truth) / config.width_px)
    assert detected >= 0.9 * len(frames), f"detected in {detected}/{len(frames)} frames at {azimuth_deg} deg"
    assert max(errors) < 0.05, f"hip/knee/ankle landmark off by {max(errors):.3f} image widths"
