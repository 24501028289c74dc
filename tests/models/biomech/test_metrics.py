"""BIGE's metrics on hand-made cases with known answers, on real trials, and against LaiUhlrich2022."""

from __future__ import annotations

import numpy as np
import pytest

from edge.messages import BIGE_COORDINATES
from edge.paths import shared_dir
from edge.skeleton.model import load_default
from models.biomech import metrics as bm

I = {name: i for i, name in enumerate(BIGE_COORDINATES)}
FPS = bm.FPS


def pose(n_frames: int = 120) -> np.ndarray:
    """A constant standing pose, (T, 33)."""
    x = np.zeros((n_frames, len(BIGE_COORDINATES)))
    x[:, I["pelvis_ty"]] = 0.95
    return x


@pytest.fixture(scope="module")
def model():
    return load_default()


# ---------------------------------------------------------------- fidelity and diversity


def test_fidelity_of_known_moments() -> None:
    real = np.array([0.0, 2.0])  # mean 1, std 1
    generated = np.array([[1.0, 5.0]])  # mean 3, std 2
    assert bm.fidelity(real, generated) == pytest.approx((1 - 3) ** 2 + (1 - 2) ** 2)
    windows = np.random.default_rng(0).normal(size=(4, 196, 33))
    assert bm.fidelity(windows, windows) == 0.0
    assert bm.fidelity(windows, windows + 3.0) == pytest.approx(9.0)
    with pytest.raises(ValueError, match="generated set is empty"):
        bm.fidelity(windows, np.array([]))


def test_entropy_of_uniform_constant_and_two_valued_samples() -> None:
    uniform = np.repeat(np.arange(10.0), 33 * 2).reshape(20, 33)  # every bin holds 10 %
    assert bm.sample_entropy(uniform) == pytest.approx(np.log(10.0))
    assert bm.sample_entropy(np.full((20, 33), 4.0)) == 0.0
    two = np.zeros((20, 33))
    two[10:] = 1.0
    assert bm.sample_entropy(two) == pytest.approx(np.log(2.0))
    batch = np.stack([uniform, two])
    assert bm.diversity(batch) == pytest.approx((np.log(10.0) + np.log(2.0)) / 2)
    assert bm.diversity([uniform, two[5:15]]) == pytest.approx((np.log(10.0) + np.log(2.0)) / 2)


def test_cut_windows_covers_the_motion() -> None:
    x = np.arange(500 * 33, dtype=float).reshape(500, 33)
    w = bm.cut_windows(x)
    assert w.shape == (3, 196, 33)
    assert w[0, 0, 0] == x[0, 0] and w[-1, -1, 0] == x[-1, 0]
    assert bm.cut_windows(x[:50]).shape == (1, 50, 33)


# ---------------------------------------------------------------- floor metrics


def feet(n_frames: int = 100) -> np.ndarray:
    """(T, 3, 3) joints: a foot on the ground (y = 0), a knee and a hip above it."""
    p = np.zeros((n_frames, 3, 3))
    p[:, 1, 1], p[:, 2, 1] = 0.45, 0.9
    return p


def test_foot_sinking_2_cm_gives_2_cm_penetration() -> None:
    p = feet()
    p[:, 0, 1] = -0.02
    f = bm.floor_metrics(p, FPS, ground_height_m=0.0)
    assert f.penetration_cm == pytest.approx(2.0)
    assert f.floating_cm == 0.0 and f.sliding_m_s == pytest.approx(0.0)
    p = feet()
    p[:30, 0, 1] = -0.02  # 30 % of frames sink; the median ground stays at 0
    f = bm.floor_metrics(p, FPS)
    assert f.ground_height_m == pytest.approx(0.0)
    assert f.penetration_cm == pytest.approx(0.6)
    p[:30, 0, 1] = -0.005  # under 1 cm: ignored
    assert bm.floor_metrics(p, FPS).penetration_cm == 0.0


def test_floating_frames_count_and_are_not_contact() -> None:
    p = feet()
    p[:20, :, 1] += 0.05  # whole body 5 cm up for 20 % of frames
    p[:20, 0, 0] = np.arange(20) * 0.1  # the foot moves fast while airborne
    f = bm.floor_metrics(p, FPS)
    assert f.floating_cm == pytest.approx(1.0)
    assert f.contact_fraction == pytest.approx(0.8)
    assert f.sliding_m_s == pytest.approx(0.0)  # airborne motion is not sliding


def test_sliding_foot_gives_its_speed() -> None:
    p = feet()
    p[:, 0, 0] = 0.3 * np.arange(100) / FPS  # 0.3 m/s along x on the ground
    p[:, 0, 2] = 0.4 * np.arange(100) / FPS  # and 0.4 m/s along z: 0.5 m/s
    f = bm.floor_metrics(p, FPS)
    assert f.sliding_m_s == pytest.approx(0.5)
    assert bm.floor_metrics(p[None].repeat(2, 0), 30.0).sliding_m_s == pytest.approx(0.25)


def test_standing_still_on_the_model_is_grounded_and_still(model) -> None:
    joints = bm.joint_centres_from_bige(pose(), model)
    assert joints.shape == (120, len(model.body_names), 3)
    lowest = {model.body_names[j] for j in np.argmin(joints[..., 1], axis=1)}
    assert lowest <= {"calcn_r", "calcn_l", "toes_r", "toes_l"}
    f = bm.floor_metrics(joints, FPS)
    assert (f.penetration_cm, f.floating_cm) == (0.0, 0.0)
    assert f.sliding_m_s == pytest.approx(0.0, abs=1e-9)
    drift = pose()
    drift[:, I["pelvis_tx"]] = 0.2 * np.arange(120) / FPS  # the whole body glides at 0.2 m/s
    assert bm.floor_metrics(bm.joint_centres_from_bige(drift, model), FPS).sliding_m_s == pytest.approx(0.2)


# ---------------------------------------------------------------- guidance metrics


def test_constant_pose_has_no_velocity_or_acceleration() -> None:
    x = pose()
    x[:, I["knee_angle_r"]] = 40.0
    assert bm.omega_deg_s(x) == 0.0
    assert bm.com_velocity_m_s(x) == 0.0
    assert bm.com_acceleration_m_s2(x) == 0.0


def test_asymmetry_of_a_known_offset() -> None:
    x = pose()
    for left, right in bm.SYMMETRY_PAIRS:
        x[:, I[right]] = 30.0
        x[:, I[left]] = 34.0
    assert bm.asymmetry_deg(x) == pytest.approx(4.0)
    y = pose()
    y[:, I["knee_angle_l"]] = 6.0  # one pair of three
    assert bm.asymmetry_deg(y) == pytest.approx(np.sqrt(36.0 / 3.0))
    assert bm.asymmetry_deg(np.stack([x, y])) == pytest.approx((4.0 + np.sqrt(12.0)) / 2)


def test_omega_and_com_of_known_ramps() -> None:
    t = np.arange(120) / FPS
    x = pose()
    x[:, I["knee_angle_r"]] = 30.0 * t  # 30 deg/s in one of seven coordinates
    x[:, I["lumbar_extension"]] = 500.0 * t  # not an omega coordinate
    assert bm.omega_deg_s(x) == pytest.approx(np.sqrt(30.0 ** 2 / 7.0))
    x[:, I["pelvis_tx"]] = 0.3 * t
    x[:, I["pelvis_tz"]] = 0.4 * t
    assert bm.com_velocity_m_s(x) == pytest.approx(0.5)
    assert bm.com_acceleration_m_s2(x) == pytest.approx(0.0, abs=1e-6)
    x[:, I["pelvis_ty"]] = 0.95 - 0.5 * 2.0 * t ** 2  # 2 m/s^2 downward
    assert bm.com_acceleration_m_s2(x) == pytest.approx(2.0, rel=1e-6)
    assert bm.com_velocity_m_s(x, fps=2 * FPS) == pytest.approx(2 * bm.com_velocity_m_s(x))


def test_pelvis_tilt_at_peak_activation_and_constraint() -> None:
    x = pose(100)
    x[:, I["pelvis_tilt"]] = -np.arange(100.0) / 2  # tilt = -frame/2 deg
    act = np.full(100, 0.1)
    act[40] = 0.5
    assert bm.pelvis_tilt_at_peak_activation_deg(x, act) == pytest.approx(-20.0)
    full = np.zeros((100, bm.N_MUSCLES))
    full[60, bm.VASMED_INDICES[0]] = 0.6  # left vastus medialis peaks at frame 60
    full[60, 0] = 1.0  # another muscle's peak elsewhere is ignored
    full[10, 5] = 1.0
    assert bm.pelvis_tilt_at_peak_activation_deg(x, full) == pytest.approx(-30.0)
    band = (0.35, 0.45)
    assert bm.activation_constraint(act, 100, band) == pytest.approx(0.05)
    assert bm.activation_constraint(np.full(100, 0.4), 100, band) == 0.0
    assert bm.activation_constraint(np.stack([np.full(100, 0.2), act]), 100, band) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="activations"):
        bm.pelvis_tilt_at_peak_activation_deg(x, act[:50])
    with pytest.raises(ValueError, match="within \\[0, 1\\]"):
        bm.activation_constraint(act * 3, 100, band)


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match="coords: expected"):
        bm.omega_deg_s(np.zeros((10, 32)))
    with pytest.raises(ValueError, match="at least 3 frames"):
        bm.com_acceleration_m_s2(np.zeros((2, 33)))
    with pytest.raises(ValueError, match="joints_m"):
        bm.floor_metrics(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="fps"):
        bm.omega_deg_s(pose(), fps=0.0)


# ---------------------------------------------------------------- real data


def _trial(rel: str) -> np.ndarray:
    path = shared_dir() / "data" / rel
    if not path.is_file():
        pytest.skip(f"real trial not available: {path}")
    return bm.load_bige(path)


def test_mocap_sit_to_stand_is_plausible(model) -> None:
    x = _trial("opencap_sts/mocap_33dof.mot")
    k = bm.kinematic_metrics(bm.cut_windows(x), model=model)
    assert k.penetration_cm < 1.0 and k.floating_cm < 1.0
    assert 0.0 < k.sliding_m_s < 0.1  # feet stay planted in a sit-to-stand
    assert 1.6 < k.diversity < 2.0
    assert 30.0 < k.omega_deg_s < 150.0
    assert 0.2 < k.com_velocity_m_s < 1.0
    assert k.asymmetry_deg < 5.0


def test_asymmetric_squats_are_more_asymmetric_than_normal_squats() -> None:
    normal = bm.asymmetry_deg(bm.cut_windows(_trial("opencap_squats1/squats1_mocap.mot")))
    faulty = bm.asymmetry_deg(bm.cut_windows(_trial("addbiomechanics/subject6_squatsAsym1.mot")))
    assert faulty > 2 * normal


def test_floor_metrics_agree_with_laiuhlrich2022(model) -> None:
    osim = shared_dir() / "models" / "LaiUhlrich2022.osim"
    if not osim.is_file():
        pytest.skip(f"model not available: {osim}")
    pytest.importorskip("opensim", reason="opensim is needed to export LaiUhlrich2022")
    from edge.skeleton.export import export_osim

    lai = export_osim(osim)
    for rel in ("opencap_sts/mocap_33dof.mot", "opencap_squats1/squats1_mocap.mot",
                "addbiomechanics/subject3_squatsAsym1.mot"):
        x = _trial(rel)
        ours = bm.floor_metrics(bm.joint_centres_from_bige(x, model))
        theirs = bm.floor_metrics(bm.joint_centres_from_bige(x, lai))
        assert ours.penetration_cm == pytest.approx(theirs.penetration_cm, abs=0.5), rel
        assert ours.floating_cm == pytest.approx(theirs.floating_cm, abs=0.5), rel
        assert ours.sliding_m_s == pytest.approx(theirs.sliding_m_s, abs=0.03), rel
