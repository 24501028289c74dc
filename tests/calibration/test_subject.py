import numpy as np
import pytest

from calibration.subject import SEGMENTS, estimate_scaling
from edge.lifter import LANDMARKS, MARKER_NAMES
from edge.skeleton.fk import marker_positions
from edge.skeleton.model import load_default


def landmarks_of(model, n=20):
    names = [m.name for m in model.markers]
    m = marker_positions(model, model.default_q())[[names.index(k) for k in MARKER_NAMES]]
    world = np.zeros((n, 33, 3))
    world[:, LANDMARKS] = m + np.random.default_rng(0).normal(0, 0.002, (n, len(MARKER_NAMES), 3))
    return world, np.ones((n, 33))


def test_scaling_recovers_known_segment_factors():
    generic = load_default()
    truth = {"thigh": 1.1, "shank": 0.9, "trunk": 1.05}
    scales = {b: np.full(3, truth.get(seg, 1.0)) for seg, (_, bodies) in SEGMENTS.items() for b in bodies}
    world, vis = landmarks_of(generic.scaled(scales))
    result = estimate_scaling(generic, world, vis)
    # thigh/shank markers sit on neighbouring bodies, so a segment's length mixes scales slightly
    assert result.summary()["thigh"] == pytest.approx(1.1, abs=0.03)
    assert result.summary()["shank"] == pytest.approx(0.9, abs=0.03)
    assert result.summary()["pelvis"] == pytest.approx(1.0, abs=0.03)
    assert set(result.body_scales) <= set(generic.body_names)


def test_scaling_rejects_invisible_segments_and_bad_shapes():
    generic = load_default()
    world, vis = landmarks_of(generic)
    vis[:, 25:29] = 0.0  # knees and ankles hidden
    with pytest.raises(ValueError, match="segment 'thigh' visible in 0 frames"):
        estimate_scaling(generic, world, vis)
    with pytest.raises(ValueError, match="need world_xyz"):
        estimate_scaling(generic, world[:, :20], vis)
