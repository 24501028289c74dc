"""Fault measures and thresholds, on hand-made values and on a real asymmetric squat trial."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from scipy.signal import find_peaks

from edge.messages import BIGE_COORDINATES
from edge.motion_io import MotWarning, read_mot, resample, to_bige33
from edge.paths import shared_dir
from edge.skeleton.model import load_default
from models.synth import faults

CLEAN = faults.RepMeasures(peak_knee_deg=100.0, trunk_incline_deg=45.0, tibia_incline_deg=30.0,
                           trunk_over_tibia_deg=15.0, knee_medial_shift_m=0.0, heel_rise_m=0.0,
                           knee_asymmetry_deg=1.0, hip_asymmetry_deg=1.0, com_shift_m=0.005, butt_wink_deg=1.0,
                           descent_s=0.9, ascent_s=0.8)


def test_each_threshold_gives_its_label() -> None:
    assert faults.labels_from_measures(CLEAN) == frozenset()
    cases = {
        "shallow_depth": dict(peak_knee_deg=faults.SHALLOW_KNEE_DEG - 1),
        "excessive_trunk_lean": dict(trunk_over_tibia_deg=faults.TRUNK_OVER_TIBIA_DEG + 1),
        "knee_valgus": dict(knee_medial_shift_m=faults.VALGUS_SHIFT_M + 0.002),
        "heel_lift": dict(heel_rise_m=faults.HEEL_RISE_M + 0.002),
        "asymmetry": dict(com_shift_m=faults.ASYMMETRY_SHIFT_M + 0.005),
        "butt_wink": dict(butt_wink_deg=faults.BUTT_WINK_DEG + 1),
        "fast_tempo": dict(descent_s=faults.FAST_DESCENT_S - 0.1),
    }
    assert set(cases) == set(faults.FAULT_NAMES)
    for name, change in cases.items():
        assert faults.labels_from_measures(dataclasses.replace(CLEAN, **change)) == {name}
    assert faults.labels_from_measures(dataclasses.replace(CLEAN, knee_asymmetry_deg=12.0)) == {"asymmetry"}


def test_measure_rejects_bad_input() -> None:
    model = load_default()
    with pytest.raises(ValueError, match=r"\(T >= 3, 33\)"):
        faults.measure_rep(np.zeros((10, 32)), 60.0, model)
    still = np.zeros((20, 33))
    still[:, BIGE_COORDINATES.index("pelvis_ty")] = 0.9
    with pytest.raises(ValueError, match="not a squat rep"):
        faults.measure_rep(still, 60.0, model)
    with pytest.raises(ValueError, match="non-finite"):
        faults.measure_rep(np.full((10, 33), np.nan), 60.0, model)


def _first_real_rep(relative: str) -> np.ndarray:
    """The first rep of a real trial under shared/data (skips when it is missing), 60 fps."""
    path = shared_dir() / "data" / relative
    if not path.is_file():
        pytest.skip(f"real trial not available: {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MotWarning)
        coords = resample(to_bige33(read_mot(path)), 60.0).values
    knee = coords[:, [BIGE_COORDINATES.index("knee_angle_r"), BIGE_COORDINATES.index("knee_angle_l")]].mean(axis=1)
    peaks, _ = find_peaks(knee, prominence=30.0, distance=60)
    start = int(np.argmin(knee[:peaks[0]]))
    end = peaks[0] + int(np.argmin(knee[peaks[0]:peaks[1]]))
    return coords[start:end + 1]


def test_real_asymmetric_trial_measures_asymmetry() -> None:
    m = faults.measure_rep(_first_real_rep("addbiomechanics/subject6_squatsAsym1.mot"), 60.0, load_default())
    assert m.knee_asymmetry_deg > faults.ASYMMETRY_KNEE_DEG  # the trial's deliberate asymmetry (~19 deg)
    assert "asymmetry" in faults.labels_from_measures(m)
    assert 0.5 < m.descent_s < 3.0 and 0.5 < m.ascent_s < 3.0


def test_heel_rise_ignores_the_whole_body_sinking() -> None:
    """Real trials are measured on another model's segment lengths, so the whole body may sink or
    float over a rep; only the heel rising over its toe is a heel lift."""
    from edge.synthetic.squat_motion import SquatMotionConfig, squat_motion

    _, coords = squat_motion(SquatMotionConfig(reps=1, fps=60.0))
    sunk = coords.copy()
    sunk[:, BIGE_COORDINATES.index("pelvis_ty")] -= np.linspace(0.0, 0.05, len(coords))  # 5 cm lower by the end
    model = load_default()
    planted = faults.measure_rep(coords, 60.0, model).heel_rise_m
    assert abs(planted) < 0.003
    assert faults.measure_rep(sunk, 60.0, model).heel_rise_m == pytest.approx(planted, abs=1e-6)


def _pose(**values: float) -> np.ndarray:
    q = np.zeros(33)
    q[BIGE_COORDINATES.index("pelvis_ty")] = 0.95
    for name, value in values.items():
        q[BIGE_COORDINATES.index(name)] = value
    return q


def test_sagittal_inclines_on_known_poses() -> None:
    from edge.skeleton import bige_map, fk

    model = load_default()

    def inclines(yaw_deg: float = 0.0, **values: float) -> tuple[float, float]:
        centres = fk.joint_centres(model, bige_map.from_bige(model, _pose(**values)))
        c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
        yaw = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])  # about the vertical
        trunk, tibia = faults.sagittal_inclines_deg(centres @ yaw.T, model)
        return float(trunk), float(tibia)

    trunk0, tibia0 = inclines()
    assert abs(trunk0) < 5.0 and abs(tibia0) < 3.0  # standing: hip below the shoulders, shins vertical
    trunk, tibia = inclines(pelvis_tilt=-30.0, hip_flexion_r=30.0, hip_flexion_l=30.0)  # hinge at the hips
    assert trunk - trunk0 == pytest.approx(30.0, abs=0.5) and tibia == pytest.approx(tibia0, abs=0.5)
    assert inclines(yaw_deg=120.0, pelvis_tilt=-30.0, hip_flexion_r=30.0, hip_flexion_l=30.0) == \
        pytest.approx((trunk, tibia), abs=1e-6)  # facing another way changes nothing
    bent, _ = inclines(lumbar_extension=-30.0)  # the thorax tilts 30 deg; the hip-to-shoulder line less
    assert 15.0 < bent - trunk0 < 28.0


def test_trunk_lean_on_real_trials() -> None:
    """An upright real squatter (trunk about parallel to the shins) against one folding at the hips."""
    model = load_default()
    upright = faults.measure_rep(_first_real_rep("addbiomechanics/subject5_squatsAsym1.mot"), 60.0, model)
    folded = faults.measure_rep(_first_real_rep("opencap_squats1/squats1_mocap.mot"), 60.0, model)
    assert upright.trunk_over_tibia_deg < faults.TRUNK_OVER_TIBIA_DEG - 10.0
    assert "excessive_trunk_lean" not in faults.labels_from_measures(upright)
    assert folded.trunk_over_tibia_deg > faults.TRUNK_OVER_TIBIA_DEG + 10.0
    assert "excessive_trunk_lean" in faults.labels_from_measures(folded)
    for m in (upright, folded):
        assert m.trunk_over_tibia_deg == pytest.approx(m.trunk_incline_deg - m.tibia_incline_deg)
        assert 10.0 < m.tibia_incline_deg < 45.0  # shins lean forward at the bottom
