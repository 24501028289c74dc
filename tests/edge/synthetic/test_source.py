"""SyntheticSource: the FrameSource life cycle, frames with exact truth, pacing choice, looping."""

from __future__ import annotations

import numpy as np
import pytest

from edge.sources import FrameSource, SourceState
from edge.synthetic.body import BodyKinematics
from edge.synthetic.mannequin import MannequinConfig
from edge.synthetic.source import SyntheticFrame, SyntheticSource, SyntheticSourceConfig
from edge.synthetic.squat_motion import SquatMotionConfig


@pytest.fixture(scope="module")
def kinematics() -> BodyKinematics:
    return BodyKinematics.default()


def _config(loop: bool = False) -> SyntheticSourceConfig:
    return SyntheticSourceConfig(
        motion=SquatMotionConfig(reps=1, tempo_s=1.0, pause_s=0.0, stand_start_s=2.0, stand_end_s=0.0, fps=8.0),
        mannequin=MannequinConfig(width_px=160, height_px=120, azimuth_deg=45.0), realtime=False, loop=loop)


def test_frames_carry_truth_and_end(kinematics: BodyKinematics) -> None:
    source = SyntheticSource(_config(), kinematics)
    assert isinstance(source, FrameSource)
    assert source.read() is None  # not open yet
    with pytest.raises(RuntimeError, match="open"):
        _ = source.camera
    frames = []
    with source:
        assert source.state is SourceState.OPEN
        assert source.camera.width == 160 and source.fps == 8.0
        while (frame := source.read()) is not None:
            frames.append(frame)
        assert source.state is SourceState.ENDED
        n = len(source.time_s)
        assert len(frames) == n and source.coords_bige.shape == (n, 33)
        for i, f in enumerate(frames):
            assert isinstance(f, SyntheticFrame)
            assert f.frame_index == i and f.image_bgr.shape == (120, 160, 3)
            assert f.t_source_s == pytest.approx(source.time_s[i])
            np.testing.assert_array_equal(f.coords_bige, source.coords_bige[i])
        stamps = [f.t_capture_ns for f in frames]
        assert all(b > a for a, b in zip(stamps, stamps[1:]))
        knee = source.coords_bige[:, 9]
        assert knee.max() > 80.0  # it squats
        deepest = frames[int(knee.argmax())].image_bgr
        assert np.abs(deepest.astype(int) - frames[0].image_bgr.astype(int)).sum() > 0  # the image changes
    assert source.state is SourceState.CLOSED


def test_loop_keeps_counting(kinematics: BodyKinematics) -> None:
    with SyntheticSource(_config(loop=True), kinematics) as source:
        n = len(source.time_s)
        frames = [source.read() for _ in range(n + 3)]
    assert all(f is not None for f in frames)
    assert [f.frame_index for f in frames] == list(range(n + 3))
    assert frames[n].t_source_s == pytest.approx(0.0)
    np.testing.assert_array_equal(frames[n].coords_bige, frames[0].coords_bige)


def test_config_type_checked() -> None:
    with pytest.raises(TypeError, match="motion"):
        SyntheticSourceConfig(motion=MannequinConfig())  # type: ignore[arg-type]
