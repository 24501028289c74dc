import numpy as np
import pytest

from calibration.floor import FloorAlignment, estimate_floor_alignment
from edge import landmarks as lm


def _standing(pitch_deg: float, n: int = 20) -> np.ndarray:
    """A standing person in ground axes, seen by a camera pitched down by pitch_deg (MediaPipe axes)."""
    pts = np.zeros((33, 3))
    pts[[lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER], 1] = 0.5
    pts[[lm.LEFT_ANKLE, lm.RIGHT_ANKLE], 1] = -0.9
    pts[[lm.LEFT_SHOULDER, lm.LEFT_ANKLE], 2] = -0.15
    pts[[lm.RIGHT_SHOULDER, lm.RIGHT_ANKLE], 2] = 0.15
    a = np.radians(pitch_deg)
    # ground -> MediaPipe for a camera looking along -x (toward the subject), pitched down by a
    level = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]])  # rows: mp axes in ground
    pitch = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    mp_pts = pts @ (pitch @ level).T
    return np.repeat(mp_pts[None], n, axis=0) + np.random.default_rng(0).normal(0, 0.005, (n, 33, 3))


@pytest.mark.parametrize("pitch_deg", [0.0, 15.0, -10.0])
def test_estimated_alignment_recovers_vertical_and_pitch(pitch_deg):
    world = _standing(pitch_deg)
    align = estimate_floor_alignment(world)
    ground = align.apply(world.mean(axis=0))
    trunk = ground[lm.LEFT_SHOULDER] - ground[lm.LEFT_ANKLE]
    assert np.degrees(np.arccos(trunk[1] / np.linalg.norm(trunk))) < 1.0
    assert align.camera_pitch_deg == pytest.approx(pitch_deg, abs=1.0)
    # the subject's right side (ground +z) is on the image's left
    assert ground[lm.RIGHT_SHOULDER, 2] > ground[lm.LEFT_SHOULDER, 2]


def test_level_camera_maps_image_down_to_ground_down():
    np.testing.assert_allclose(FloorAlignment.level_camera().apply(np.array([0.0, 1.0, 0.0])), [0, -1, 0], atol=1e-12)


def test_too_few_usable_frames_is_a_clear_error():
    world = _standing(0.0, n=3)
    with pytest.raises(ValueError, match="needs 5 standing frames"):
        estimate_floor_alignment(world)
    with pytest.raises(ValueError, match="shape"):
        estimate_floor_alignment(np.zeros((4, 17, 3)))
