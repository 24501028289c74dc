"""Synthetic squats: configured reps and depth, standing phases, planted feet, balance, faults."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks

from edge.messages import BIGE_COORDINATES
from edge.skeleton import bige_map, fk
from edge.skeleton.model import load_default
from edge.synthetic.body import BodyKinematics, points_in_ground, sole_points
from edge.synthetic.squat_motion import ArmPose, SquatMotionConfig, depth_profile, squat_motion

KNEE_R = BIGE_COORDINATES.index("knee_angle_r")
KNEE_L = BIGE_COORDINATES.index("knee_angle_l")
FPS = 30.0


@pytest.fixture(scope="module")
def kinematics() -> BodyKinematics:
    return BodyKinematics.default()


@pytest.fixture(scope="module")
def plain(kinematics: BodyKinematics) -> tuple[SquatMotionConfig, np.ndarray, np.ndarray]:
    config = SquatMotionConfig(reps=3, depth_deg=105.0, tempo_s=2.0, pause_s=0.5, variation=0.0, fps=FPS)
    time_s, coords = squat_motion(config, kinematics)
    return config, time_s, coords


def _sole(kinematics: BodyKinematics, coords: np.ndarray) -> np.ndarray:
    """(T, 8, 3) sole contact points of both feet."""
    transforms = kinematics.transforms(coords)
    return np.stack([points_in_ground(transforms, kinematics.index(body), local)
                     for side in ("r", "l") for body, local in sole_points(side).values()], axis=1)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="depth_deg"):
        SquatMotionConfig(depth_deg=170.0)
    with pytest.raises(ValueError, match="stand_start_s"):
        SquatMotionConfig(stand_start_s=1.0)
    with pytest.raises(ValueError, match="arm_pose"):
        SquatMotionConfig(arm_pose="forward")  # type: ignore[arg-type]


def test_profile_has_reps_and_standing_ends() -> None:
    config = SquatMotionConfig(reps=4, stand_start_s=2.5, stand_end_s=1.5, fps=FPS, seed=3)
    profile = depth_profile(config)
    assert set(np.unique(profile.rep_index)) == {-1, 0, 1, 2, 3}
    assert np.all(profile.s[profile.time_s < 2.5] == 0.0)
    assert np.all(profile.s[profile.time_s > profile.time_s[-1] - 1.5 + 1e-9] == 0.0)
    assert np.all((profile.s >= 0.0) & (profile.s <= 1.0))
    depths = [profile.depth_deg[profile.rep_index == r][0] for r in range(4)]
    assert len(set(np.round(depths, 6))) == 4  # rep-to-rep variation
    assert np.all(np.abs(np.array(depths) / config.depth_deg - 1.0) <= 0.2)
    again = depth_profile(config)
    np.testing.assert_array_equal(again.s, profile.s)  # the seed makes it reproducible


def test_reps_and_depth(plain: tuple[SquatMotionConfig, np.ndarray, np.ndarray]) -> None:
    config, time_s, coords = plain
    assert coords.shape == (len(time_s), 33)
    np.testing.assert_allclose(np.diff(time_s), 1.0 / FPS)
    peaks, _ = find_peaks(coords[:, KNEE_R], prominence=30.0, distance=int(config.tempo_s * FPS))
    assert len(peaks) == config.reps
    deep = coords[:, KNEE_R] > config.depth_deg / 2
    assert np.count_nonzero(np.diff(deep.astype(int)) == 1) == config.reps
    np.testing.assert_allclose(coords[peaks, KNEE_R], config.depth_deg, atol=1.5)
    np.testing.assert_allclose(coords[:, KNEE_L], coords[:, KNEE_R], atol=1e-3)  # symmetric squat


def test_starts_with_two_seconds_of_still_standing(plain: tuple[SquatMotionConfig, np.ndarray, np.ndarray]) -> None:
    _, time_s, coords = plain
    standing = coords[time_s < 2.0]
    np.testing.assert_allclose(standing - standing[0], 0.0, atol=1e-6)
    assert standing[0, KNEE_R] < 5.0
    assert 0.85 < standing[0, BIGE_COORDINATES.index("pelvis_ty")] < 1.05


def test_feet_planted(kinematics: BodyKinematics, plain: tuple[SquatMotionConfig, np.ndarray, np.ndarray]) -> None:
    _, time_s, coords = plain
    sole = _sole(kinematics, coords)
    assert sole[..., 1].min() >= -1e-3  # no floor penetration
    assert np.abs(sole[..., 1]).max() < 1e-3  # flat feet stay on the floor
    speed = np.linalg.norm(np.diff(sole[..., [0, 2]], axis=0), axis=-1) * FPS  # (T-1, 8) m/s
    assert speed.max() < 0.01
    transforms = kinematics.transforms(coords)
    for body in ("calcn_r", "calcn_l", "toes_r", "toes_l", "talus_r", "talus_l"):
        origin = transforms[:, kinematics.index(body), :3, 3]
        assert np.linalg.norm(np.diff(origin, axis=0), axis=-1).max() * FPS < 0.01, body


def test_centre_of_mass_over_the_feet(kinematics: BodyKinematics,
                                      plain: tuple[SquatMotionConfig, np.ndarray, np.ndarray]) -> None:
    _, _, coords = plain
    model = load_default()
    com = fk.centre_of_mass(model, bige_map.from_bige(model, coords))  # (T, 3)
    np.testing.assert_allclose(com, kinematics.centre_of_mass(kinematics.transforms(coords)), atol=1e-9)
    sole = _sole(kinematics, coords)
    heel_x, toe_x = sole[0, :, 0].min(), sole[0, :, 0].max()
    assert np.all((com[:, 0] > heel_x + 0.04) & (com[:, 0] < toe_x - 0.08))  # over the mid-foot
    assert np.ptp(com[:, 0]) < 0.02
    assert np.abs(com[:, 2]).max() < 0.01  # no sideways drift in a symmetric squat
    depth = coords[:, KNEE_R].argmax()
    assert com[depth, 1] < com[0, 1] - 0.2  # the body really goes down


def test_valgus_moves_knees_in_with_feet_planted(kinematics: BodyKinematics) -> None:
    base = SquatMotionConfig(reps=1, variation=0.0, fps=FPS, arm_pose=ArmPose.CROSSED)
    valgus = SquatMotionConfig(reps=1, variation=0.0, fps=FPS, arm_pose=ArmPose.CROSSED, knee_valgus_deg=10.0)
    knee_gap = []
    for config in (base, valgus):
        _, coords = squat_motion(config, kinematics)
        transforms = kinematics.transforms(coords)
        peak = coords[:, KNEE_R].argmax()
        knees = transforms[peak, [kinematics.index("tibia_r"), kinematics.index("tibia_l")], :3, 3]
        knee_gap.append(knees[0, 2] - knees[1, 2])
        sole = _sole(kinematics, coords)
        assert sole[..., 1].min() >= -1e-3
        speed = np.linalg.norm(np.diff(sole[..., [0, 2]], axis=0), axis=-1) * FPS
        assert speed.max() < 0.01  # the feet roll about their medial edge, they do not slide
    assert knee_gap[1] < knee_gap[0] - 0.03


def test_heel_lift_raises_heels_keeps_toes_down(kinematics: BodyKinematics) -> None:
    config = SquatMotionConfig(reps=1, variation=0.0, fps=FPS, heel_lift_deg=12.0)
    _, coords = squat_motion(config, kinematics)
    sole = _sole(kinematics, coords)  # heel, met1, met5, toe per side
    peak = coords[:, KNEE_R].argmax()
    assert sole[peak, [0, 4], 1].min() > 0.02
    assert np.abs(sole[:, [1, 2, 5, 6], 1]).max() < 1e-3
    assert sole[..., 1].min() >= -1e-3
