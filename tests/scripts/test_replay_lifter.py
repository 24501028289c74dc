"""scripts/replay_lifter.py: a recorded session's landmarks lifted again and scored against its truth."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from calibration.camera import PinholeCamera
from edge.config_io import to_table
from edge.lifter import LANDMARKS, MARKER_NAMES, LifterConfig, OneEuroConfig
from edge.messages import BIGE_COORDINATES, Pose
from edge.motion_io import Motion, write_mot
from edge.recorder import RecorderConfig, SessionRecorder
from edge.settings import StationSettings
from edge.skeleton.bige_map import from_bige
from edge.skeleton.fk import marker_positions
from edge.skeleton.model import load_default
from edge.synthetic.source import subject_motion
from edge.synthetic.squat_motion import SquatMotionConfig
from scripts.replay_lifter import main

W, H = 640, 480


def _settings() -> StationSettings:
    s = StationSettings()
    synthetic = dataclasses.replace(s.camera.synthetic, motion=SquatMotionConfig(reps=1, fps=15.0))
    camera = dataclasses.replace(s.camera, synthetic=synthetic,
                                 source=dataclasses.replace(s.camera.source, spec="synthetic"))
    lifter = LifterConfig(calibration_frames=10, long_side_fov_deg=60.0, smoothing=OneEuroConfig(min_cutoff_hz=0.0))
    return dataclasses.replace(s, camera=camera, lifter=lifter)


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A demo-like session whose landmarks are the model's own markers, filmed from the front-left."""
    settings = _settings()
    time_s, truth = subject_motion(settings.camera.synthetic)
    model = load_default()
    markers = marker_positions(model, from_bige(model, truth))
    idx = [[m.name for m in model.markers].index(n) for n in MARKER_NAMES]
    cam = PinholeCamera.look_at(np.array([2.6, 1.0, -1.5]), np.array([0.0, 0.8, 0.0]), W, H, 60.0)
    root = tmp_path_factory.mktemp("sessions")
    with SessionRecorder(RecorderConfig(root), source="synthetic", model_name=model.name,
                         station_settings=to_table(settings)) as rec:
        for f, m in enumerate(markers[:, idx]):
            image = np.zeros((33, 3), np.float32)
            world = np.zeros((33, 3), np.float32)
            vis = np.zeros(33, np.float32)
            image[LANDMARKS, :2] = cam.project(m) / [W, H]
            mid_hip = 0.5 * (m[MARKER_NAMES.index("LHip")] + m[MARKER_NAMES.index("RHip")])
            world[LANDMARKS] = (m - mid_hip) @ cam.R_cw.T  # MediaPipe axes are the camera's
            vis[LANDMARKS] = 1.0
            rec.add_pose(Pose(f, 10**9 + int(time_s[f] * 1e9), f, True, image, world, vis, vis, 0, W, H,
                              t_source_ns=int(round(time_s[f] * 1e9))))
        folder = rec.folder
    return folder, time_s, truth


def test_a_demo_session_is_scored_against_the_synthetic_truth(session, tmp_path):
    folder, _, _ = session
    out = tmp_path / "scores.json"
    assert main([str(folder), "--json", str(out), "--mot", str(tmp_path / "replayed.mot")]) == 0
    rmse = json.loads(out.read_text())["rmse_deg"]
    assert rmse["mean_sagittal_lower"] < 3.0  # exact landmarks: only the priors and gravity cost anything
    assert (tmp_path / "replayed.mot").is_file()


def test_a_reference_file_and_overrides_change_the_score(session, tmp_path, capsys):
    folder, time_s, truth = session
    ref = tmp_path / "ref.mot"
    write_mot(ref, Motion(time_s=time_s, columns=BIGE_COORDINATES, values=truth, in_degrees=True))
    assert main([str(folder), "--reference", str(ref)]) == 0
    good = json.loads(capsys.readouterr().out)["rmse_deg"]["mean_sagittal_lower"]
    assert good < 3.0
    assert main([str(folder), "--reference", str(ref), "--set", "lifter.image_weight=0.0",
                 "--set", "lifter.world_weight=0.01"]) == 0
    weak = json.loads(capsys.readouterr().out)
    assert weak["overrides"] == ["lifter.image_weight=0.0", "lifter.world_weight=0.01"]
    assert weak["rmse_deg"]["mean_sagittal_lower"] != good


def test_bad_input_is_named(session, tmp_path, capsys):
    folder, _, _ = session
    assert main([str(folder), "--set", "lifter.no_such_table.x=1"]) == 2
    assert "no_such_table" in capsys.readouterr().err
    assert main([str(folder), "--set", "lifter.world_weight=-1"]) == 2
    assert "world_weight" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2


def test_current_lifter_replaces_the_recorded_lifter_settings(session):
    from scripts.replay_lifter import replay

    folder, _, _ = session
    *_, recorded = replay(folder, [])
    *_, current = replay(folder, ["lifter.world_weight=0.5"], current_lifter=True)
    assert recorded.lifter.calibration_frames == 10  # as the session ran
    assert current.lifter == dataclasses.replace(LifterConfig(), world_weight=0.5)  # today's defaults, overridden


# scripts/lifter_panel.py: the same replay over a panel of sessions, one column per settings variant

def test_lifter_panel_scores_each_variant_on_each_session(session, tmp_path, capsys):
    from scripts.lifter_panel import main as panel_main

    folder, _, _ = session
    sessions = tmp_path / "panel"
    sessions.mkdir()
    (sessions / "s5_0").symlink_to(folder, target_is_directory=True)  # a panel name; the rest are absent
    out = tmp_path / "report"
    variant = "world only=lifter.image_weight=0.0;lifter.world_weight=1.0"
    assert panel_main([str(sessions), str(out), "--variant", variant]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    scores = {v: report["rmse_deg"][v]["s5_0"]["mean_sagittal_lower"] for v in ("default", "world only")}
    assert scores["default"] < 3.0 and scores["world only"] != scores["default"]
    table = out.with_suffix(".md").read_text()
    assert "| s5_0 |" in table and "| default | world only |" in table and "mean, rendered" in table


def test_lifter_panel_input_errors_are_clear(tmp_path, capsys):
    from scripts.lifter_panel import main as panel_main

    assert panel_main([str(tmp_path), str(tmp_path / "r"), "--variant", "no settings"]) == 2
    assert "expected NAME=KEY=VALUE" in capsys.readouterr().err
    assert panel_main([str(tmp_path), str(tmp_path / "r")]) == 2
    assert "no panel session there" in capsys.readouterr().err


def test_a_session_that_is_not_a_demo_needs_a_reference(session):
    from scripts.replay_lifter import replay, score

    folder, _, _ = session
    frames, time_s, coords, settings = replay(folder, [])
    camera = dataclasses.replace(settings.camera, source=dataclasses.replace(settings.camera.source, spec="clip.mp4"))
    with pytest.raises(ValueError, match="not a bige demo session; give --reference"):
        score(folder, frames, time_s, coords, dataclasses.replace(settings, camera=camera), None)
