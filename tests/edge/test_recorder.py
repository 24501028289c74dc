"""Tests for edge.recorder: session folder contents, read-back, torn tails, crash safety."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from edge.messages import BIGE_COORDINATES, N_COORDINATES, N_LANDMARKS, Kinematics, Pose, ProcessState
from edge.motion_io import read_mot
from edge.paths import PROJECT_ROOT
from edge.recorder import (EVENTS_FILE, KINEMATICS_FILE, KINEMATICS_RECORD, LANDMARKS_FILE,
                           LANDMARKS_RECORD, METADATA_FILE, MOT_FILE, RecorderConfig, RecorderError,
                           RecorderWarning, SessionRecorder, read_journal, read_session,
                           recover_session)

T0_NS = 5_000_000_000
FPS = 30


def _pose(i: int, rng: np.random.Generator) -> Pose:
    detected = i % 7 != 3
    def arr(*shape: int) -> np.ndarray:
        a = rng.random(shape, dtype=np.float32)
        return a if detected else np.full(shape, np.nan, np.float32)
    return Pose(seq=i, t_capture_ns=T0_NS + i * 33_333_333, frame_index=i, detected=detected,
                image_xyz=arr(N_LANDMARKS, 3), world_xyz=arr(N_LANDMARKS, 3),
                visibility=arr(N_LANDMARKS), presence=arr(N_LANDMARKS), inference_ns=40_000_000 + i,
                image_width_px=640, image_height_px=480, t_source_ns=i * 33_333_333)


def _kinematics(i: int, rng: np.random.Generator) -> Kinematics:
    return Kinematics(seq=i, t_capture_ns=T0_NS + i * 33_333_333, frame_index=i, valid=i % 7 != 3,
                      coordinates=rng.normal(size=N_COORDINATES) * 30, marker_rms_m=0.01 * i,
                      solve_ns=8_000_000 + i, t_source_ns=i * 33_333_333)


def _record(tmp_path: Path, n_frames: int = 5 * FPS, **config: object) -> tuple[Path, list[Pose], list[Kinematics]]:
    rng = np.random.default_rng(0)
    poses = [_pose(i, rng) for i in range(n_frames)]
    kinematics = [_kinematics(i, rng) for i in range(n_frames)]
    settings = {"camera": {"index": 0, "fps": 30.0}, "state": ProcessState.RUNNING, "root": tmp_path}
    with SessionRecorder(RecorderConfig(tmp_path / "sessions", **config), source="video:test.mp4",
                         model_name="Model_Pose2Sim_simple", station_settings=settings) as recorder:
        for pose, kin in zip(poses, kinematics):
            recorder.add_pose(pose)
            recorder.add_kinematics(kin)
            if pose.seq % FPS == 0:
                recorder.add_event("cue", t_capture_ns=pose.t_capture_ns, code="knee_valgus_l",
                                   severity=np.float32(0.5))
        recorder.add_event("state", state=ProcessState.NO_PERSON)
        folder = recorder.folder
    return folder, poses, kinematics


def test_five_seconds_read_back_equal(tmp_path: Path) -> None:
    folder, poses, kinematics = _record(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [KINEMATICS_FILE, LANDMARKS_FILE, MOT_FILE, EVENTS_FILE, METADATA_FILE])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session = read_session(folder)

    lm = session.landmarks
    assert len(lm) == len(poses) == 150
    np.testing.assert_array_equal(lm["seq"], [p.seq for p in poses])
    np.testing.assert_array_equal(lm["t_capture_ns"], [p.t_capture_ns for p in poses])
    np.testing.assert_array_equal(lm["detected"].astype(bool), [p.detected for p in poses])
    for field in ("image_xyz", "world_xyz", "visibility", "presence"):
        np.testing.assert_array_equal(lm[field], np.stack([getattr(p, field) for p in poses]), err_msg=field)
    np.testing.assert_array_equal(lm["inference_ns"], [p.inference_ns for p in poses])

    kin = session.kinematics
    np.testing.assert_array_equal(kin["coordinates"], np.stack([k.coordinates for k in kinematics]))
    np.testing.assert_array_equal(kin["valid"].astype(bool), [k.valid for k in kinematics])
    np.testing.assert_array_equal(kin["marker_rms_m"], [k.marker_rms_m for k in kinematics])
    np.testing.assert_array_equal(kin["solve_ns"], [k.solve_ns for k in kinematics])
    np.testing.assert_array_equal(kin["t_source_ns"], [k.t_source_ns for k in kinematics])

    mot = read_mot(folder / MOT_FILE)
    assert mot.columns == BIGE_COORDINATES and mot.in_degrees
    np.testing.assert_array_equal(mot.values, kin["coordinates"])
    np.testing.assert_allclose(mot.time_s, np.arange(150) * 0.033333333, atol=1e-9)
    np.testing.assert_array_equal(session.motion.values, mot.values)
    np.testing.assert_array_equal(session.motion.time_s, mot.time_s)

    kinds = [e["kind"] for e in session.events]
    assert kinds == ["recording_started"] + ["cue"] * 5 + ["state", "recording_stopped"]
    cue = session.events[1]
    assert cue["t_capture_ns"] == T0_NS and cue["code"] == "knee_valgus_l" and cue["severity"] == 0.5
    assert session.events[-2]["state"] == "no_person"
    assert all(isinstance(e["t_monotonic_ns"], int) and e["wall_time"].endswith("+00:00")
               for e in session.events)

    meta = session.metadata
    assert meta["closed_cleanly"] is True and meta["t0_capture_ns"] == T0_NS
    assert meta["frame_counts"] == {"poses": 150, "poses_detected": 129, "kinematics": 150,
                                    "kinematics_valid": 129, "events": 8}
    assert meta["source"] == "video:test.mp4" and meta["model_name"] == "Model_Pose2Sim_simple"
    assert meta["image_size_px"] == [640, 480]  # what a replay of the landmarks needs
    assert meta["station_settings"] == {"camera": {"index": 0, "fps": 30.0}, "state": "running",
                                        "root": str(tmp_path)}
    assert meta["software"]["bige-edge"] and meta["ended_wall_time"]
    assert meta["files"][LANDMARKS_FILE]["record_bytes"] == LANDMARKS_RECORD.itemsize
    assert "journal_flush" in meta["flush_timing_ms"]


def test_session_folders_are_never_reused(tmp_path: Path) -> None:
    config = RecorderConfig(tmp_path, session_name="squats_01")
    with SessionRecorder(config, source="s", model_name="m"):
        pass
    with pytest.raises(RecorderError, match=r"squats_01 already exists"):
        SessionRecorder(config, source="s", model_name="m").open()
    auto = RecorderConfig(tmp_path)
    with SessionRecorder(auto, source="s", model_name="m") as a, \
            SessionRecorder(auto, source="s", model_name="m") as b:
        assert a.folder != b.folder and a.folder.parent == b.folder.parent == tmp_path


@pytest.mark.parametrize("kwargs, message", [
    ({"session_name": "../escape"}, "session_name"),
    ({"flush_interval_s": 0.0}, r"flush_interval_s must be in \(0, 1\]"),
    ({"flush_interval_s": 2.0}, r"flush_interval_s must be in \(0, 1\]"),
    ({"flush_interval_s": 1.0, "mot_rewrite_interval_s": 0.5}, "mot_rewrite_interval_s"),
])
def test_config_validation(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecorderConfig(tmp_path, **kwargs)


def test_misuse_gives_clear_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    recorder = SessionRecorder(RecorderConfig(tmp_path), source="s", model_name="m")
    with pytest.raises(RecorderError, match="not opened"):
        recorder.add_pose(_pose(0, rng))
    with pytest.raises(TypeError, match="station_settings.cam.*object"):
        SessionRecorder(RecorderConfig(tmp_path), source="s", model_name="m",
                        station_settings={"cam": object()})
    with recorder:
        with pytest.raises(TypeError, match="expected edge.messages.Pose"):
            recorder.add_pose(_kinematics(0, rng))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="kind must be a lower-case identifier"):
            recorder.add_event("Bad Kind")
        with pytest.raises(ValueError, match="reserved"):
            recorder.add_event("cue", wall_time="now")
        with pytest.raises(TypeError, match=r"event 'error'\.exc: .*cannot be written as JSON"):
            recorder.add_event("error", exc=ValueError("x"))
    with pytest.raises(RecorderError, match="is closed"):
        recorder.add_kinematics(_kinematics(0, rng))
    recorder.close()  # idempotent


def test_background_flush_makes_data_durable_without_flush_calls(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with SessionRecorder(RecorderConfig(tmp_path, flush_interval_s=0.1, mot_rewrite_interval_s=0.1),
                         source="s", model_name="m") as recorder:
        for i in range(10):
            recorder.add_kinematics(_kinematics(i, rng))
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if (recorder.folder / KINEMATICS_FILE).stat().st_size == 10 * KINEMATICS_RECORD.itemsize:
                break
            time.sleep(0.02)
        assert len(read_journal(recorder.folder / KINEMATICS_FILE).records) == 10
        while time.monotonic() < deadline and read_mot(recorder.folder / MOT_FILE).n_frames < 10:
            time.sleep(0.02)
        assert read_mot(recorder.folder / MOT_FILE).n_frames == 10


def test_torn_tails_are_dropped_with_warning_and_recovered(tmp_path: Path) -> None:
    folder, _, kinematics = _record(tmp_path, n_frames=20)
    with open(folder / KINEMATICS_FILE, "ab") as f:
        f.write(b"BKN1" + bytes(100))  # a record cut short by a crash
    with open(folder / LANDMARKS_FILE, "ab") as f:
        f.write(bytes(LANDMARKS_RECORD.itemsize))  # a zero-filled block after a power loss
    with open(folder / EVENTS_FILE, "ab") as f:
        f.write(b'{"kind":"cue","t_mono')
    (folder / ".kinematics.mot.abc123.tmp").write_text("half a file")
    with pytest.warns(RecorderWarning) as caught:
        session = read_session(folder)
    messages = "\n".join(str(w.message) for w in caught)
    assert "kinematics.bin: dropped a torn or corrupt tail of 104 bytes after record 20" in messages
    assert f"landmarks.bin: dropped a torn or corrupt tail of {LANDMARKS_RECORD.itemsize} bytes" in messages
    assert "events.jsonl:5: torn last line" in messages
    assert len(session.kinematics) == len(session.landmarks) == 20 and len(session.events) == 4

    with pytest.warns(RecorderWarning, match="torn"):
        report = recover_session(folder)
    assert report.truncated_bytes == {KINEMATICS_FILE: 104, LANDMARKS_FILE: LANDMARKS_RECORD.itemsize,
                                      EVENTS_FILE: len(b'{"kind":"cue","t_mono')}
    assert report.removed_temp_files == (".kinematics.mot.abc123.tmp",) and report.was_closed_cleanly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = read_session(folder)
    np.testing.assert_array_equal(again.kinematics["coordinates"], np.stack([k.coordinates for k in kinematics]))
    assert "recovered_wall_time" in again.metadata


def test_corrupt_record_in_the_middle_is_dropped(tmp_path: Path) -> None:
    folder, _, kinematics = _record(tmp_path, n_frames=10)
    path = folder / KINEMATICS_FILE
    data = bytearray(path.read_bytes())
    data[4 * KINEMATICS_RECORD.itemsize + 100] ^= 0xFF  # flip bits inside record 4
    path.write_bytes(bytes(data))
    with pytest.warns(RecorderWarning, match=r"dropped 1 corrupt records at indexes \[4\]"):
        journal = read_journal(path)
    np.testing.assert_array_equal(journal.records["seq"], [0, 1, 2, 3, 5, 6, 7, 8, 9])


def test_recover_refuses_a_live_session(tmp_path: Path) -> None:
    with SessionRecorder(RecorderConfig(tmp_path), source="s", model_name="m") as recorder:
        with pytest.raises(RecorderError, match="being recorded by a live process"):
            recover_session(recorder.folder)


@pytest.mark.opensim
def test_recorded_mot_opens_in_opensim(tmp_path: Path) -> None:
    opensim = pytest.importorskip("opensim", reason="opensim not installed (x86-64 only)")
    folder, _, kinematics = _record(tmp_path, n_frames=30)
    table = opensim.TimeSeriesTable(str(folder / MOT_FILE))
    assert table.getNumRows() == 30 and list(table.getColumnLabels()) == list(BIGE_COORDINATES)
    np.testing.assert_allclose(table.getDependentColumn("knee_angle_r").to_numpy(),
                               [k.coordinates[BIGE_COORDINATES.index("knee_angle_r")] for k in kinematics])


_CHILD = r"""
import sys, time
import numpy as np
from pathlib import Path
from edge.messages import Kinematics, Pose
from edge.recorder import RecorderConfig, SessionRecorder
rng = np.random.default_rng(int(sys.argv[2]))
rec = SessionRecorder(RecorderConfig(Path(sys.argv[1]), session_name="crash", flush_interval_s=0.5,
                                     mot_rewrite_interval_s=0.5), source="crash-test", model_name="m")
rec.open()
print("ready", flush=True)
i = 0
while True:
    t = time.monotonic_ns()
    a = rng.random((33, 3), dtype=np.float32)
    v = rng.random(33, dtype=np.float32)
    rec.add_pose(Pose(i, t, i, True, a, a, v, v, t_source_ns=i * 33_333_333))
    rec.add_kinematics(Kinematics(i, t, i, True, rng.normal(size=33) * 30, t_source_ns=i * 33_333_333))
    if i % 20 == 0:
        rec.add_event("state", t_capture_ns=t, state="running", i=i)
    i += 1
    time.sleep(0.01)
"""


def test_sigkill_at_random_moments_loses_at_most_about_one_flush(tmp_path: Path) -> None:
    try:
        import opensim
    except ImportError:
        opensim = None
    flush_interval_s = 0.5
    random.seed(1234)
    for run in range(4):
        root = tmp_path / f"run{run}"
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(root), str(run)], cwd=PROJECT_ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready", child.stderr.read()
            time.sleep(random.uniform(1.0, 2.2))
            t_kill_ns = time.monotonic_ns()
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
        folder = root / "crash"

        # Every file parses as it is, before any recovery.
        metadata = json.loads((folder / METADATA_FILE).read_text())
        assert metadata["closed_cleanly"] is False and metadata["t0_capture_ns"] is not None
        stale_mot = read_mot(folder / MOT_FILE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecorderWarning)  # a torn tail is allowed here
            session = read_session(folder)
        assert len(session.kinematics) > 0 and len(session.landmarks) > 0 and session.events
        assert stale_mot.n_frames <= len(session.kinematics)
        if opensim is not None:
            assert opensim.TimeSeriesTable(str(folder / MOT_FILE)).getNumRows() == stale_mot.n_frames

        # After recovery the .mot holds everything flushed: at most ~one flush interval lost.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecorderWarning)
            report = recover_session(folder)
        mot = read_mot(folder / MOT_FILE)
        assert mot.n_frames == report.n_kinematics == len(session.kinematics)
        lost_s = (t_kill_ns - int(session.kinematics["t_capture_ns"][-1])) / 1e9
        assert 0 <= lost_s <= flush_interval_s + 1.0, f"run {run}: lost {lost_s:.2f} s of frames"
        np.testing.assert_array_equal(mot.values, session.kinematics["coordinates"])
        if opensim is not None:
            assert opensim.TimeSeriesTable(str(folder / MOT_FILE)).getNumRows() == mot.n_frames
