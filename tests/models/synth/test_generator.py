"""Synthetic squat reps: determinism, labels, planted feet, balance, joint ranges, heel lift, valgus."""

from __future__ import annotations

import numpy as np
import pytest

from edge.messages import BIGE_COORDINATES
from edge.skeleton import bige_map
from edge.skeleton.model import load_default
from edge.synthetic.body import BodyKinematics
from models.synth import faults
from models.synth.generator import (CONTACT_POINTS_R_M, RepSpec, generate_rep, generate_reps, sample_rep_specs,
                                    spec_labels)

FPS = 60.0
KNEE_R = BIGE_COORDINATES.index("knee_angle_r")
# Short reps keep the file fast: 0.9 s down, 0.7 s up, 0.2 s standing at each end.
SHORT = dict(descent_s=0.9, pause_s=0.0, ascent_s=0.7, stand_s=0.2)


@pytest.fixture(scope="module")
def kinematics() -> BodyKinematics:
    return BodyKinematics.default()


@pytest.fixture(scope="module")
def reps() -> dict[str, tuple[np.ndarray, frozenset[str], dict]]:
    specs = {
        "clean": RepSpec(**SHORT, variation=1.0, variation_seed=3),
        "shallow": RepSpec(**SHORT, depth_deg=55.0),
        "lean": RepSpec(**SHORT, trunk_over_tibia_deg=45.0),
        "valgus": RepSpec(**SHORT, knee_valgus_deg=11.0),
        "heel": RepSpec(**SHORT, heel_lift_deg=11.0),
        "asymmetry": RepSpec(**SHORT, asymmetry_deg=-20.0, weight_shift_m=-0.055),
        "wink": RepSpec(**SHORT, depth_deg=110.0, butt_wink_deg=15.0),
        "fast": RepSpec(descent_s=0.35, pause_s=0.0, ascent_s=0.5, stand_s=0.2),
    }
    return dict(zip(specs, generate_reps(list(specs.values()), FPS)))


def _points(kinematics: BodyKinematics, coords: np.ndarray) -> dict[str, np.ndarray]:
    """Ground positions (T, 3) of every contact point, by name with side suffix."""
    transforms = kinematics.transforms(coords)
    out = {}
    for side in ("r", "l"):
        mirror = np.array([1.0, 1.0, 1.0 if side == "r" else -1.0])
        for name, (body, local) in CONTACT_POINTS_R_M.items():
            i = kinematics.index(body[:-1] + side)
            out[f"{name}_{side}"] = transforms[:, i, :3, :3] @ (np.asarray(local) * mirror) + transforms[:, i, :3, 3]
    return out


def test_spec_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="depth_deg"):
        RepSpec(depth_deg=150.0)
    with pytest.raises(ValueError, match="cannot both be set"):
        RepSpec(knee_valgus_deg=8.0, heel_lift_deg=8.0)
    with pytest.raises(ValueError, match="unknown fault"):
        sample_rep_specs(3, seed=0, fault_rates={"wobble": 0.5})
    with pytest.raises(ValueError, match="fps"):
        generate_rep(RepSpec(), fps=1.0)


def test_sampler_is_deterministic_and_varied() -> None:
    a, b = sample_rep_specs(50, seed=7), sample_rep_specs(50, seed=7)
    assert a == b
    assert sample_rep_specs(50, seed=8) != a
    assert len({s.depth_deg for s in a}) == 50
    labels = [spec_labels(s) for s in a]
    assert any(not lab for lab in labels) and any(lab for lab in labels)
    everything = sample_rep_specs(200, seed=1, fault_rates={name: 1.0 for name in faults.FAULT_NAMES})
    assert all(spec_labels(s) for s in everything)
    none = sample_rep_specs(100, seed=1, fault_rates={name: 0.0 for name in faults.FAULT_NAMES})
    assert not any(spec_labels(s) for s in none)


def test_generation_is_deterministic() -> None:
    spec = RepSpec(**SHORT, variation=1.0, variation_seed=11)
    c1, l1, _ = generate_rep(spec)
    c2, l2, _ = generate_rep(spec)
    np.testing.assert_array_equal(c1, c2)
    assert l1 == l2
    c3, _, _ = generate_rep(RepSpec(**SHORT, variation=1.0, variation_seed=12))
    assert np.abs(c3 - c1).max() > 0.5  # the variation seed matters


def test_labels_match_the_faults(reps: dict) -> None:
    expected = {"clean": set(), "shallow": {"shallow_depth"}, "lean": {"excessive_trunk_lean"},
                "valgus": {"knee_valgus"}, "heel": {"heel_lift"}, "asymmetry": {"asymmetry"},
                "wink": {"butt_wink"}, "fast": {"fast_tempo"}}
    for name, (coords, labels, info) in reps.items():
        assert labels == expected[name], name
        assert info["measured_labels"] == labels, (name, info["measures"])  # the motion carries the fault
    clean = reps["clean"][2]["measures"]
    assert clean["peak_knee_deg"] > faults.SHALLOW_KNEE_DEG + 10
    assert clean["trunk_over_tibia_deg"] < faults.TRUNK_OVER_TIBIA_DEG - 10
    for name in ("clean", "lean"):  # the spec's lean is what the measure reads, within a few degrees
        spec_deg, measured = reps[name][2]["spec"]["trunk_over_tibia_deg"], reps[name][2]["measures"]
        assert measured["trunk_over_tibia_deg"] == pytest.approx(spec_deg, abs=4.0), name
    assert clean["knee_medial_shift_m"] < faults.VALGUS_SHIFT_M - 0.008
    assert clean["heel_rise_m"] < 0.002
    assert clean["knee_asymmetry_deg"] < 3.0 and clean["com_shift_m"] < 0.01
    assert clean["butt_wink_deg"] < 3.0 and clean["descent_s"] > faults.FAST_DESCENT_S
    assert reps["asymmetry"][2]["measures"]["knee_asymmetry_deg"] > faults.ASYMMETRY_KNEE_DEG


def test_feet_planted_and_on_the_floor(kinematics: BodyKinematics, reps: dict) -> None:
    for name in ("clean", "lean", "asymmetry", "wink", "fast", "shallow"):
        coords = reps[name][0]
        for point, p in _points(kinematics, coords).items():
            assert np.linalg.norm(p - p[0], axis=-1).max() < 1e-3, (name, point)  # fixed within 1 mm
            assert p[:, 1].min() > -5e-4, (name, point)  # no floor penetration
            assert p[:, 1].max() < 1e-3, (name, point)  # flat feet: no floating


def test_centre_of_mass_over_the_support(kinematics: BodyKinematics, reps: dict) -> None:
    for name, (coords, _, info) in reps.items():
        assert info["com_margin_m"] > 0.01, name
        com = kinematics.centre_of_mass(kinematics.transforms(coords))
        points = _points(kinematics, coords)
        heel_x = min(points[f"heel_{s}"][0, 0] for s in "rl")
        toe_x = max(points[f"hallux_{s}"][0, 0] for s in "rl")
        assert np.all((com[:, 0] > heel_x) & (com[:, 0] < toe_x)), name


def test_joint_ranges_respected(reps: dict) -> None:
    model = load_default()
    idx = bige_map.bige_indices(model)
    for name, (coords, _, _) in reps.items():
        for j, coordinate in enumerate(BIGE_COORDINATES):
            c = model.coordinates[idx[j]]
            factor = np.degrees(1.0) if c.motion_type.name == "ROTATIONAL" else 1.0
            assert c.range_min * factor <= coords[:, j].min() and coords[:, j].max() <= c.range_max * factor, \
                (name, coordinate)
        assert np.all(np.isfinite(coords))


def test_heel_lift_keeps_toes_down(kinematics: BodyKinematics, reps: dict) -> None:
    coords = reps["heel"][0]
    points = _points(kinematics, coords)
    bottom = int(np.argmax(coords[:, KNEE_R]))
    for side in ("r", "l"):
        assert points[f"heel_{side}"][bottom, 1] > 0.02  # heel up ~ 2.5 cm (11 deg about the mtp axis)
        for toe in ("hallux", "toe5"):
            p = points[f"{toe}_{side}"]
            assert np.linalg.norm(p - p[0], axis=-1).max() < 1e-3  # toes fixed on the floor
        for point in points.values():
            assert point[:, 1].min() > -5e-4
    assert reps["heel"][0][bottom, BIGE_COORDINATES.index("mtp_angle_r")] < -5.0  # toes dorsiflexed at the mtp


def test_valgus_moves_knees_in_with_medial_column_planted(kinematics: BodyKinematics, reps: dict) -> None:
    coords = reps["valgus"][0]
    points = _points(kinematics, coords)
    for side in ("r", "l"):
        for planted in ("heel", "met1", "hallux"):
            p = points[f"{planted}_{side}"]
            assert np.linalg.norm(p - p[0], axis=-1).max() < 1e-3, planted
        lift = points[f"met5_{side}"][:, 1].max()
        assert 0.005 < lift < 0.02  # the lateral forefoot rolls up
    shift = reps["valgus"][2]["measures"]["knee_medial_shift_m"]
    assert shift > reps["clean"][2]["measures"]["knee_medial_shift_m"] + 0.02
