"""The bige command end to end on a short clip: processes, bus, recording, overlay video, summary."""

import json
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.bench import render_clip
from edge.cli import main, to_toml
from edge.config_io import load_toml
from edge.motion_io import read_mot
from edge.orchestrator import Orchestrator
from edge.settings import load_settings
from edge.synthetic.source import SyntheticSourceConfig
from edge.synthetic.squat_motion import SquatMotionConfig

N_FRAMES = 60


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 2-second 640x480 clip of the synthetic subject squatting."""
    config = SyntheticSourceConfig(motion=SquatMotionConfig(reps=1, stand_start_s=2.0, stand_end_s=0.0, tempo_s=2.0,
                                                            pause_s=0.0))
    return render_clip(tmp_path_factory.mktemp("clip") / "squat.mp4", config, max_frames=N_FRAMES)


@pytest.fixture
def settings_file(tmp_path) -> Path:
    """Settings on a private ipc bus, so parallel runs and other programs cannot collide."""
    path = tmp_path / "station.toml"
    path.write_text(f'[bus]\ntransport = "ipc"\nipc_dir = "{tmp_path / "bus"}"\n'
                    f'[lifter]\ncalibration_frames = 10\n')
    return path


def test_run_on_a_clip_writes_video_recording_and_summary(clip, settings_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--source", str(clip), "--out", str(out), "--headless", "--settings", str(settings_file)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == N_FRAMES and summary["error"] is None
    assert summary["detection_rate"] > 0.9
    assert summary["recorded"]["kinematics"] == N_FRAMES
    # the lifter's camera reached the overlay (for the target ghost), and no message was rejected
    assert summary["overlay"] == {"camera_calibrated": True, "rejected_messages": {}}
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    (calibration,) = [e for e in events if e["kind"] == "camera_calibration"]  # recorded once, for review
    assert calibration["width"] > 0 and len(calibration["intrinsics_px"]) == 4
    assert set(summary["latency_ms"]) >= {"camera.pose", "lifter.solve", "capture_to_kinematics", "capture_to_overlay"}
    motion = read_mot(out / "kinematics.mot")
    assert motion.values.shape == (N_FRAMES, 33) and np.isfinite(motion.values[-1]).all()
    np.testing.assert_allclose(motion.time_s, np.arange(N_FRAMES) / 30.0, atol=1e-6)  # the clip's own timeline
    video = cv2.VideoCapture(str(out / "overlay.mp4"))
    assert video.isOpened() and int(video.get(cv2.CAP_PROP_FRAME_COUNT)) >= N_FRAMES - 2
    assert (out / "events.jsonl").read_text().count('"state"') >= 2
    assert json.loads(capsys.readouterr().out)["frames"] == N_FRAMES


def test_a_crashed_worker_is_restarted_and_counted(clip, settings_file, tmp_path):
    settings = load_settings(settings_file)
    source = replace(settings.camera.source, spec=str(clip), realtime=True)  # ~2 s, time to crash a worker
    settings = replace(settings, camera=replace(settings.camera, source=source))
    orchestrator = Orchestrator(settings, tmp_path / "crash")
    result = {}
    thread = threading.Thread(target=lambda: result.update(summary=orchestrator.run().summary))
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lifter = orchestrator._workers["lifter"].process
        if lifter is not None and lifter.is_alive() and (tmp_path / "crash" / "metadata.json").exists():
            time.sleep(0.5)
            os.kill(lifter.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    thread.join(60)
    assert not thread.is_alive()
    assert result["summary"]["restarts"]["lifter"] == 1
    assert result["summary"]["frames"] == N_FRAMES


def test_clear_errors_for_a_missing_source_and_an_existing_output(tmp_path, settings_file, caplog):
    assert main(["run", "--source", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o"), "--headless"]) == 2
    assert "source not found" in caplog.text and "nope.mp4" in caplog.text
    existing = tmp_path / "taken"
    existing.mkdir()
    assert main(["demo", "--out", str(existing), "--settings", str(settings_file)]) == 2
    assert "already exists" in caplog.text


def test_settings_command_prints_every_default_as_valid_toml(tmp_path, capsys):
    assert main(["settings"]) == 0
    path = tmp_path / "all.toml"
    path.write_text(capsys.readouterr().out)
    assert load_settings(path) == load_settings()
    assert load_toml(path)["lifter"]["ik"]["foot_flat_weight"] == 3.0


def test_to_toml_nests_tables():
    text = to_toml({"a": 1, "b": {"c": "x", "d": {"e": [1, 2]}}, "f": None})
    assert text == 'a = 1\n\n[b]\nc = "x"\n\n[b.d]\ne = [1, 2]'


def test_a_remote_overlay_draws_jpeg_frames_sent_over_tcp(clip, tmp_path):
    from edge.messages import ImageEncoding
    from edge.orchestrator import run_remote_overlay
    from edge.settings import StationSettings

    base = StationSettings()
    bus = replace(base.bus, port_base=20000 + os.getpid() % 20000)
    source = replace(base.camera.source, spec=str(clip), realtime=True)
    station = replace(base, bus=bus, camera=replace(base.camera, source=source, forward=ImageEncoding.JPEG),
                      lifter=replace(base.lifter, calibration_frames=10))
    remote: dict = {}
    done = threading.Event()
    viewer = threading.Thread(target=lambda: remote.update(
        run_remote_overlay(station, tmp_path / "remote", headless=True, max_duration_s=120.0, stop_event=done)))
    viewer.start()
    time.sleep(3.0)  # the viewer process is up and connecting (ZeroMQ retries) before the 2-s clip plays
    Orchestrator(station, tmp_path / "station").run()
    time.sleep(1.0)  # the last frames are on their way
    done.set()
    viewer.join(30)
    assert not viewer.is_alive()
    assert remote["frames_written"] >= N_FRAMES // 2
    video = cv2.VideoCapture(str(tmp_path / "remote" / "overlay.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == remote["frames_written"]


def test_metrics_command_prints_json_for_a_mot_file(tmp_path, capsys):
    from edge.messages import BIGE_COORDINATES
    from edge.motion_io import Motion, write_mot
    from edge.synthetic.squat_motion import squat_motion

    time_s, coords = squat_motion(SquatMotionConfig(reps=2, fps=60.0))
    path = tmp_path / "squats.mot"
    write_mot(path, Motion(time_s=time_s, columns=BIGE_COORDINATES, values=coords, in_degrees=True))
    assert main(["metrics", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    (entry,) = result["files"]
    assert entry["n_reps"] == 2 and entry["sliding_m_s"] < 0.05
    assert main(["metrics", str(tmp_path / "missing.mot")]) == 2


def test_demo_runs_the_pipeline_on_the_synthetic_subject_and_scores_it(tmp_path, settings_file, capsys):
    out = tmp_path / "demo"
    # the frontal view is the hard one: knee and hip flexion happen in depth
    assert main(["demo", "--reps", "1", "--azimuth", "0", "--out", str(out), "--settings", str(settings_file)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    truth = summary["truth_rmse_deg"]
    assert summary["detection_rate"] > 0.9 and truth["frames_compared"] > 0.8 * summary["frames"]
    assert truth["mean_sagittal_lower"] < 9.0  # frontal, 3 reps: 12.7 before the planted-feet prior, 6.7 with it
    assert (out / "overlay.mp4").is_file() and (out / "kinematics.mot").is_file()


def test_demo_names_a_missing_motion_file(tmp_path, settings_file, caplog):
    missing = tmp_path / "nowhere.mot"
    assert main(["demo", "--motion", str(missing), "--out", str(tmp_path / "d"), "--settings", str(settings_file)]) == 2
    assert "nowhere.mot" in caplog.text
    assert not (tmp_path / "d").exists()
