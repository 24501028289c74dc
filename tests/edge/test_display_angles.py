import math

import numpy as np
import pytest

from edge.display_angles import (LEFT_ANKLE, LEFT_HIP, LEFT_KNEE, RIGHT_ANKLE, RIGHT_HIP, RIGHT_KNEE,
                                 ankle_flexion_deg, frontal_knee_alignment_deg, hip_flexion_deg,
                                 knee_flexion_deg, live_angles_deg, trunk_lean_deg, view_yaw_deg)
from edge.messages import BIGE_COORDINATES, N_LANDMARKS


def coords(**values: float) -> np.ndarray:
    q = np.zeros(len(BIGE_COORDINATES))
    for name, v in values.items():
        q[BIGE_COORDINATES.index(name)] = v
    return q


def legs_px(r_hip, r_knee, r_ankle, l_hip, l_knee, l_ankle, size=(640, 480)) -> np.ndarray:
    """Landmarks (normalised) from pixel positions of both legs; everything else NaN."""
    lm = np.full((N_LANDMARKS, 3), np.nan)
    for i, p in ((RIGHT_HIP, r_hip), (RIGHT_KNEE, r_knee), (RIGHT_ANKLE, r_ankle),
                 (LEFT_HIP, l_hip), (LEFT_KNEE, l_knee), (LEFT_ANKLE, l_ankle)):
        lm[i] = (p[0] / size[0], p[1] / size[1], 0.0)
    return lm


def test_flexion_angles_read_the_right_coordinates():
    q = coords(hip_flexion_r=100.0, hip_flexion_l=95.0, knee_angle_r=90.0, knee_angle_l=85.0,
               ankle_angle_r=25.0, ankle_angle_l=-5.0)
    assert hip_flexion_deg(q, "r") == 100.0 and hip_flexion_deg(q, "l") == 95.0
    assert knee_flexion_deg(q, "r") == 90.0 and knee_flexion_deg(q, "l") == 85.0
    assert ankle_flexion_deg(q, "r") == 25.0 and ankle_flexion_deg(q, "l") == -5.0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="side"):
        knee_flexion_deg(coords(), "x")
    with pytest.raises(ValueError, match="shape"):
        knee_flexion_deg(np.zeros(10), "r")
    with pytest.raises(ValueError, match="image_xyz"):
        frontal_knee_alignment_deg(np.zeros((17, 3)), "r", (640, 480))
    with pytest.raises(ValueError, match="image_size_px"):
        frontal_knee_alignment_deg(np.zeros((33, 3)), "r", (0, 480))


def test_straight_legs_have_zero_fppa():
    lm = legs_px((280, 240), (280, 340), (280, 440), (360, 240), (360, 340), (360, 440))
    assert frontal_knee_alignment_deg(lm, "r", (640, 480)) == pytest.approx(0.0, abs=1e-9)
    assert frontal_knee_alignment_deg(lm, "l", (640, 480)) == pytest.approx(0.0, abs=1e-9)


def test_fppa_valgus_positive_varus_negative_known_angle():
    # Subject facing the camera: right hip on image left. Knee displaced 20 px over a 100 px segment.
    expected = math.degrees(2 * math.atan(20 / 100))
    valgus = legs_px((280, 200), (300, 300), (280, 400), (360, 200), (340, 300), (360, 400))
    assert frontal_knee_alignment_deg(valgus, "r", (640, 480)) == pytest.approx(expected, abs=1e-6)
    assert frontal_knee_alignment_deg(valgus, "l", (640, 480)) == pytest.approx(expected, abs=1e-6)
    varus = legs_px((280, 200), (260, 300), (280, 400), (360, 200), (380, 300), (360, 400))
    assert frontal_knee_alignment_deg(varus, "r", (640, 480)) == pytest.approx(-expected, abs=1e-6)
    assert frontal_knee_alignment_deg(varus, "l", (640, 480)) == pytest.approx(-expected, abs=1e-6)


def test_fppa_sign_holds_when_subject_faces_away():
    # Facing away: the right hip is on image right; the right knee moving toward the left hip is valgus.
    lm = legs_px((360, 200), (340, 300), (360, 400), (280, 200), (280, 300), (280, 400))
    assert frontal_knee_alignment_deg(lm, "r", (640, 480)) > 20.0
    assert frontal_knee_alignment_deg(lm, "l", (640, 480)) == pytest.approx(0.0, abs=1e-9)


def test_fppa_undoes_the_aspect_ratio_of_normalisation():
    # A 45-degree knee bend in pixels on a wide image; normalised coordinates alone would distort it.
    size = (1280, 480)
    lm = legs_px((500, 100), (500, 200), (600, 300), (700, 100), (700, 200), (700, 300), size=size)
    # Shank turns 45 deg away from the other hip: varus 45.
    assert frontal_knee_alignment_deg(lm, "r", size) == pytest.approx(-45.0, abs=1e-6)


def test_fppa_nan_safe():
    lm = legs_px((280, 240), (280, 340), (280, 440), (360, 240), (360, 340), (360, 440))
    lm[RIGHT_KNEE] = np.nan
    assert math.isnan(frontal_knee_alignment_deg(lm, "r", (640, 480)))
    lm = legs_px((280, 240), (280, 240), (280, 440), (360, 240), (360, 340), (360, 440))
    assert math.isnan(frontal_knee_alignment_deg(lm, "r", (640, 480)))  # coincident hip and knee


def test_trunk_lean_known_cases():
    assert trunk_lean_deg(coords()) == pytest.approx(0.0, abs=1e-9)
    assert trunk_lean_deg(coords(pelvis_tilt=-30.0, lumbar_extension=-15.0)) == pytest.approx(45.0)
    assert trunk_lean_deg(coords(pelvis_list=20.0)) == pytest.approx(20.0)
    assert trunk_lean_deg(coords(pelvis_tilt=-90.0)) == pytest.approx(90.0)
    # Turning about the vertical axis does not change the lean.
    assert trunk_lean_deg(coords(pelvis_rotation=90.0, lumbar_extension=-30.0)) == pytest.approx(30.0)
    # Tilt and list combine: cos(lean) = cos(tilt) cos(list).
    expected = math.degrees(math.acos(math.cos(math.radians(30)) * math.cos(math.radians(40))))
    assert trunk_lean_deg(coords(pelvis_tilt=-30.0, lumbar_bending=40.0)) == pytest.approx(expected)
    assert math.isnan(trunk_lean_deg(coords(lumbar_bending=float("nan"))))


def test_live_angles_nan_when_inputs_missing():
    a = live_angles_deg(None, None, (640, 480))
    assert set(a) == {"hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r", "fppa_l", "fppa_r", "trunk"}
    assert all(math.isnan(v) for v in a.values())
    lm = legs_px((280, 240), (280, 340), (280, 440), (360, 240), (360, 340), (360, 440))
    a = live_angles_deg(coords(knee_angle_l=90.0), lm, (640, 480))
    assert a["knee_l"] == 90.0 and a["fppa_r"] == pytest.approx(0.0, abs=1e-9) and a["trunk"] == 0.0


def test_view_yaw_and_fppa_hidden_on_oblique_views():
    world = np.zeros((N_LANDMARKS, 3))
    world[LEFT_HIP], world[RIGHT_HIP] = (0.1, 0.0, 0.0), (-0.1, 0.0, 0.0)
    assert view_yaw_deg(world) == pytest.approx(0.0)
    world[LEFT_HIP], world[RIGHT_HIP] = (0.1, 0.0, 0.1), (-0.1, 0.0, -0.1)
    assert view_yaw_deg(world) == pytest.approx(45.0)
    lm = legs_px((280, 240), (300, 340), (280, 440), (360, 240), (360, 340), (360, 440))
    assert live_angles_deg(None, lm, (640, 480), world, max_view_yaw_deg=50.0)["fppa_r"] > 0.0
    assert math.isnan(live_angles_deg(None, lm, (640, 480), world, max_view_yaw_deg=30.0)["fppa_r"])
    assert math.isnan(view_yaw_deg(np.full((N_LANDMARKS, 3), np.nan)))


def test_implausible_fppa_of_knees_bent_toward_the_camera_is_hidden():
    # knees 80 px inward of the hip-ankle line over a 100 px segment: ~116 deg, a projection artefact
    lm = legs_px((280, 200), (360, 300), (280, 400), (360, 200), (280, 300), (360, 400))
    assert abs(frontal_knee_alignment_deg(lm, "r", (640, 480))) > 40.0
    angles = live_angles_deg(None, lm, (640, 480))
    assert math.isnan(angles["fppa_r"]) and math.isnan(angles["fppa_l"])
