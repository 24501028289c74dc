"""A recorded .mot as the synthetic subject's motion: units, rate, floor contact, and the source using it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.messages import BIGE_COORDINATES, TRANSLATION_COORDINATES
from edge.motion_io import Motion, write_mot
from edge.synthetic.body import BodyKinematics, points_in_ground, sole_points
from edge.synthetic.mannequin import MannequinConfig
from edge.synthetic.recorded_motion import recorded_motion
from edge.synthetic.source import SyntheticSource, SyntheticSourceConfig, subject_motion
from edge.synthetic.squat_motion import SquatMotionConfig, squat_motion


@pytest.fixture(scope="module")
def kinematics() -> BodyKinematics:
    return BodyKinematics.default()


@pytest.fixture(scope="module")
def squats_deg() -> tuple[np.ndarray, np.ndarray]:
    return squat_motion(SquatMotionConfig(reps=1, tempo_s=1.0, pause_s=0.0, stand_start_s=2.0, stand_end_s=0.0,
                                          fps=100.0))


def _write_radians_lab_file(path: Path, time_s: np.ndarray, coords_deg: np.ndarray) -> None:
    """The trial as a lab would store it: radians, 35 columns (two extra knee columns), pelvis 0.1 m high."""
    values = coords_deg.copy()
    rotational = [i for i, c in enumerate(BIGE_COORDINATES) if c not in TRANSLATION_COORDINATES]
    values[:, rotational] = np.radians(values[:, rotational])
    values[:, BIGE_COORDINATES.index("pelvis_ty")] += 0.1
    columns = BIGE_COORDINATES + ("knee_angle_r_beta", "knee_angle_l_beta")
    values = np.column_stack([values, values[:, [9, 16]]])
    write_mot(path, Motion(time_s=time_s + 2.0, columns=columns, values=values, in_degrees=False))


def test_recorded_motion_keeps_its_angles_and_plants_the_feet(tmp_path, kinematics, squats_deg):
    """A pelvis path recorded on a shorter-legged subject (here: lowered 5 cm at the bottom) would sink the
    rendered model's feet; the feet are kept where they stood, the angles as recorded."""
    time_s, coords = squats_deg
    lab = coords.copy()
    knee = BIGE_COORDINATES.index("knee_angle_r")
    lab[:, BIGE_COORDINATES.index("pelvis_ty")] -= 0.05 * lab[:, knee] / lab[:, knee].max()
    path = tmp_path / "trial.mot"
    _write_radians_lab_file(path, time_s, lab)
    t, q = recorded_motion(path, 50.0, kinematics)
    rotational = [i for i, c in enumerate(BIGE_COORDINATES) if c not in TRANSLATION_COORDINATES]
    np.testing.assert_allclose(q[:, rotational], lab[::2, rotational], atol=1e-6)
    transforms = kinematics.transforms(q)
    soles = np.stack([points_in_ground(transforms, kinematics.index(body), local)
                      for side in "rl" for body, local in sole_points(side).values()], axis=1)
    assert np.abs(soles - soles[:1]).max() < 1e-3  # planted: no sliding, no sinking


def test_recorded_motion_is_resampled_in_degrees_standing_on_the_floor(tmp_path, kinematics, squats_deg):
    time_s, coords = squats_deg
    path = tmp_path / "trial.mot"
    _write_radians_lab_file(path, time_s, coords)
    t, q = recorded_motion(path, 25.0, kinematics)
    assert t[0] == 0.0 and np.allclose(np.diff(t), 1 / 25) and q.shape == (len(t), 33)
    knee = BIGE_COORDINATES.index("knee_angle_r")
    np.testing.assert_allclose(q[:, knee], np.interp(t, time_s, coords[:, knee]), atol=0.5)  # degrees again
    first = kinematics.transforms(q[:1])
    heights = [points_in_ground(first, kinematics.index(body), local)[0, 1]
               for side in "rl" for body, local in sole_points(side).values()]
    assert min(heights) == pytest.approx(0.0, abs=1e-9)  # the lab's 0.1 m offset is gone


def test_source_films_the_recorded_motion(tmp_path, kinematics, squats_deg):
    path = tmp_path / "trial.mot"
    _write_radians_lab_file(path, *squats_deg)
    config = SyntheticSourceConfig(motion=SquatMotionConfig(fps=10.0), motion_file=str(path), realtime=False,
                                   mannequin=MannequinConfig(width_px=160, height_px=120))
    _, truth = subject_motion(config, kinematics)
    with SyntheticSource(config, kinematics) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
    assert len(frames) == len(truth) == len(source.time_s)
    np.testing.assert_array_equal(frames[-1].coords_bige, truth[-1])


def test_unusable_motion_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError):
        recorded_motion(tmp_path / "missing.mot", 30.0)
    bad = tmp_path / "bad.mot"
    write_mot(bad, Motion(time_s=np.arange(3) / 100, columns=("time_only_col",), values=np.zeros((3, 1)),
                          in_degrees=True))
    with pytest.raises(ValueError, match="bad.mot.*missing 33"):
        recorded_motion(bad, 30.0)
    with pytest.raises(TypeError, match="motion_file"):
        SyntheticSourceConfig(motion_file=None)
