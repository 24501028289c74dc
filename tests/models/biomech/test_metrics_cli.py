"""``bige metrics``: JSON on synthetic .mot files (degrees and radians, 35 columns), errors, reference set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.messages import BIGE_COORDINATES, TRANSLATION_COORDINATES
from edge.motion_io import Motion, write_mot
from models.biomech.metrics_cli import main

I = {name: i for i, name in enumerate(BIGE_COORDINATES)}


def squats(n_reps: int = 3, fps: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """Time and (T, 33) degrees/metres of n_reps 2-s squats with 1-s pauses."""
    t = np.arange(int((1 + 3 * n_reps) * fps)) / fps
    phase = np.clip(t % 3.0 - 1.0, 0.0, 2.0)  # 0 during the pause, 0..2 s in a rep
    depth = 0.5 * (1 - np.cos(np.pi * phase))  # 0..1..0
    x = np.zeros((t.size, len(BIGE_COORDINATES)))
    for side in ("r", "l"):
        x[:, I[f"knee_angle_{side}"]] = 5.0 + 85.0 * depth
        x[:, I[f"hip_flexion_{side}"]] = 80.0 * depth
        x[:, I[f"ankle_angle_{side}"]] = 25.0 * depth
    x[:, I["pelvis_ty"]] = 0.95 - 0.3 * depth
    return t, x


def write(path: Path, t: np.ndarray, x: np.ndarray, in_degrees: bool = True, beta: bool = False) -> Path:
    values, columns = x.copy(), BIGE_COORDINATES
    if not in_degrees:
        rot = [i for i, c in enumerate(BIGE_COORDINATES) if c not in TRANSLATION_COORDINATES]
        values[:, rot] = np.deg2rad(values[:, rot])
    if beta:  # LaiUhlrich2022's extra knee columns
        values = np.column_stack([values, np.zeros((t.size, 2))])
        columns = BIGE_COORDINATES + ("knee_angle_r_beta", "knee_angle_l_beta")
    write_mot(path, Motion(time_s=t, columns=columns, values=values, in_degrees=in_degrees))
    return path


def test_metrics_json_same_for_degrees_radians_and_35_columns(tmp_path, capsys) -> None:
    t, x = squats()
    files = [write(tmp_path / "deg.mot", t, x), write(tmp_path / "rad.mot", t, x, in_degrees=False),
             write(tmp_path / "beta.mot", t, x, beta=True)]
    assert main([str(f) for f in files]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["files"]
    assert [r["n_reps"] for r in rows] == [3, 3, 3]
    assert rows[0]["n_frames"] == 600  # 0 to 9.99 s resampled to 60 fps
    for key in ("omega_deg_s", "com_velocity_m_s", "diversity", "penetration_cm", "sliding_m_s"):
        assert rows[1][key] == pytest.approx(rows[0][key], rel=1e-4)
        assert rows[2][key] == pytest.approx(rows[0][key], rel=1e-4)
    assert rows[0]["asymmetry_deg"] == 0.0
    assert rows[0]["pelvis_tilt_at_peak_activation_deg"] is None
    assert out["set"]["n_samples"] == 3 * rows[0]["n_samples"]


def test_reference_gives_fidelity_and_activations_enable_tilt(tmp_path, capsys) -> None:
    t, x = squats()
    real = write(tmp_path / "real.mot", t, x)
    shifted = x.copy()
    shifted[:, I["knee_angle_r"]] += 20.0
    gen = write(tmp_path / "gen.mot", t, shifted)
    n_60 = 600
    act = np.full(n_60, 0.1)
    act[300] = 0.5
    np.save(tmp_path / "act.npy", act)
    assert main([str(gen), "--reference", str(real), "--activations", str(tmp_path / "act.npy")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["set"]["reference"]["fidelity"] > 0.1
    row = out["files"][0]
    assert row["asymmetry_deg"] == pytest.approx(20.0 / np.sqrt(3.0), rel=1e-3)
    assert row["constraint"] is not None and row["constraint"] >= 0.0
    assert row["pelvis_tilt_at_peak_activation_deg"] == pytest.approx(0.0)
    assert main([str(real), "--reference", str(real)]) == 0
    assert json.loads(capsys.readouterr().out)["set"]["reference"]["fidelity"] == pytest.approx(0.0)


def test_errors_name_the_problem(tmp_path, capsys) -> None:
    assert main([str(tmp_path / "missing.mot")]) == 2
    assert "missing.mot" in capsys.readouterr().err
    bad = tmp_path / "few.mot"
    write_mot(bad, Motion(time_s=np.arange(10) / 60.0, columns=("knee_angle_r",), values=np.zeros((10, 1)),
                          in_degrees=True))
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert "few.mot" in err and "missing 32 of the 33" in err
    t, x = squats()
    good = write(tmp_path / "good.mot", t, x)
    np.save(tmp_path / "short.npy", np.zeros(5))
    assert main([str(good), "--activations", str(tmp_path / "short.npy")]) == 2
    assert "short.npy" in capsys.readouterr().err
