"""Rep segmentation: synthetic knee curves with known reps, noise, sit-to-stand, and the real trials."""

from __future__ import annotations

import numpy as np
import pytest

from edge.messages import BIGE_COORDINATES
from edge.motion_io import Motion, read_mot, to_bige33
from edge.paths import shared_dir
from models.biomech.reps import RepBaseline, RepConfig, RepMethod, segment_reps

FPS = 60.0
KNEE_R, KNEE_L = BIGE_COORDINATES.index("knee_angle_r"), BIGE_COORDINATES.index("knee_angle_l")


def knee_curve(n_reps: int = 3, rest_deg: float = 5.0, depth_deg: float = 90.0, rep_s: float = 2.0,
               pause_s: float = 1.0, fps: float = FPS) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Rest, then n_reps raised-cosine excursions separated by pauses; returns trace and true spans."""
    pieces, spans, t = [np.full(int(pause_s * fps), rest_deg)], [], int(pause_s * fps)
    for _ in range(n_reps):
        n = int(rep_s * fps)
        pieces.append(rest_deg + (depth_deg - rest_deg) * 0.5 * (1 - np.cos(2 * np.pi * np.arange(n) / n)))
        spans.append((t, t + n))
        t += n
        pieces.append(np.full(int(pause_s * fps), rest_deg))
        t += int(pause_s * fps)
    return np.concatenate(pieces), spans


def as_coords(knee_deg: np.ndarray) -> np.ndarray:
    coords = np.zeros((knee_deg.shape[0], len(BIGE_COORDINATES)))
    coords[:, KNEE_R] = knee_deg
    coords[:, KNEE_L] = knee_deg
    return coords


def test_three_clean_squats_found_with_boundaries_near_truth() -> None:
    knee, truth = knee_curve()
    reps = segment_reps(as_coords(knee), FPS)
    assert len(reps) == 3
    for (start, end), (t0, t1) in zip(reps, truth):
        assert abs(start - t0) <= 0.25 * FPS and abs(end - t1) <= 0.25 * FPS
        assert knee[start:end].max() == pytest.approx(90.0, abs=0.5)  # the rep holds its bottom


def test_noisy_squats_still_three_while_velocity_valleys_oversegment() -> None:
    knee, _ = knee_curve()
    rng = np.random.default_rng(0)
    noisy = knee + rng.normal(0.0, 3.0, knee.shape) + 4.0 * np.sin(np.arange(knee.size) / FPS * 2.0)
    assert len(segment_reps(noisy, FPS)) == 3
    # BIGE's valley method splits the noisy standing pauses into extra "reps".
    assert len(segment_reps(noisy, FPS, RepConfig(method=RepMethod.VALLEYS))) > 3


def test_back_to_back_squats_share_boundaries() -> None:
    knee, _ = knee_curve(n_reps=3, pause_s=0.0, rest_deg=8.0)
    knee = np.concatenate([np.full(30, 8.0), knee, np.full(30, 8.0)])
    reps = segment_reps(knee, FPS)
    assert len(reps) == 3
    for (_, end), (start, _) in zip(reps[:-1], reps[1:]):
        assert end - 1 <= start + 1  # at most the shared boundary frame overlaps


def test_sit_to_stand_from_seated_rest() -> None:
    stand, _ = knee_curve(n_reps=3, rest_deg=0.0, depth_deg=100.0)
    seated = 100.0 - stand  # seated (100 deg) at rest, standing (0 deg) at each rep's middle
    reps = segment_reps(seated, FPS)
    assert len(reps) == 3
    assert all(seated[s:e].min() == pytest.approx(0.0, abs=0.5) for s, e in reps)
    assert len(segment_reps(seated, FPS, RepConfig(baseline=RepBaseline.SEATED))) == 3


def test_small_dips_and_still_trials_are_not_reps() -> None:
    knee, _ = knee_curve(n_reps=3)
    dip = 5.0 + 12.0 * np.sin(np.linspace(0, np.pi, 60))  # a 12-degree bob while standing
    assert len(segment_reps(np.concatenate([knee, dip, np.full(30, 5.0)]), FPS)) == 3
    assert segment_reps(np.full(300, 5.0), FPS) == []
    assert segment_reps(5.0 + 8.0 * np.sin(np.arange(600) / 20.0), FPS) == []


def test_motion_in_radians_at_100_hz_matches_degrees() -> None:
    knee, _ = knee_curve(fps=100.0)
    coords = as_coords(np.deg2rad(knee))
    motion = Motion(time_s=np.arange(knee.size) / 100.0, columns=BIGE_COORDINATES, values=coords,
                    in_degrees=False, source="synthetic.mot")
    assert segment_reps(motion) == segment_reps(knee, 100.0)
    assert len(segment_reps(motion)) == 3


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="fps is required"):
        segment_reps(np.zeros(100))
    with pytest.raises(ValueError, match="shape"):
        segment_reps(np.zeros((100, 5)), FPS)
    with pytest.raises(ValueError, match="non-finite"):
        segment_reps(np.full(100, np.nan), FPS)
    uneven = Motion(time_s=np.array([0.0, 0.01, 0.03, 0.04]), columns=("knee_angle_r", "knee_angle_l"),
                    values=np.zeros((4, 2)), in_degrees=True, source="uneven.mot")
    with pytest.raises(ValueError, match="uneven.mot.*resample"):
        segment_reps(uneven)
    no_knee = Motion(time_s=np.arange(4) / 60.0, columns=("hip_flexion_r",), values=np.zeros((4, 1)),
                     in_degrees=True, source="hips.mot")
    with pytest.raises(ValueError, match="hips.mot.*knee_angle_r"):
        segment_reps(no_knee)
    with pytest.raises(ValueError, match="enter_fraction"):
        RepConfig(enter_fraction=0.2, exit_fraction=0.3)
    with pytest.raises(ValueError, match="min_rep_s"):
        RepConfig(min_rep_s=0.0)


REAL_TRIALS = ("opencap_sts/mocap_33dof.mot", "opencap_sts/opencap_monocular_33dof.mot",
               "opencap_sts/wham_33dof.mot", "opencap_squats1/squats1_mocap.mot",
               "addbiomechanics/subject2_squatsAsym1.mot", "addbiomechanics/subject3_squatsAsym1.mot",
               "addbiomechanics/subject5_squatsAsym1.mot", "addbiomechanics/subject6_squatsAsym1.mot")


@pytest.mark.parametrize("rel", REAL_TRIALS)
def test_real_trials_have_five_reps(rel: str) -> None:
    path = shared_dir() / "data" / rel
    if not path.is_file():
        pytest.skip(f"real trial not available: {path}")
    motion = to_bige33(read_mot(path))  # native 100 Hz
    reps = segment_reps(motion)
    assert len(reps) == 5
    knees = motion.values[:, [KNEE_R, KNEE_L]].mean(axis=1)
    span = np.percentile(knees, 98) - np.percentile(knees, 2)
    for start, end in reps:  # every rep spans most of the knee's range
        assert np.ptp(knees[start:end]) > 0.6 * span
    rng = np.random.default_rng(1)
    noisy = motion.values.copy()
    noisy[:, [KNEE_R, KNEE_L]] += rng.normal(0.0, 5.0, (motion.n_frames, 2))
    assert len(segment_reps(noisy, 1.0 / np.median(np.diff(motion.time_s)))) == 5
