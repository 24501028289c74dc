"""Subject scaling: per-body scale factors of the skeletal model from observed segment lengths.

Inputs: a window of MediaPipe world landmarks (N, 33, 3) in metres with visibilities, and the
generic model. Output: body name -> (3,) scale factors, to pass to ``SkeletonModel.scaled``.

Algorithm: for each segment, the median over frames of the distance between two landmarks (e.g. hip
to knee for the thigh) is divided by the same marker distance on the unscaled model in its default
pose. Segment lengths do not depend on posture, so any few seconds of a visible subject work
(standing, seated or squatting). Left and right are averaged (a subject is near-symmetric and this
halves the noise); bodies without a measurable segment take the scale of their neighbour, and every
factor is clamped to a plausible range so that one bad landmark cannot produce a giant or a doll.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge import landmarks as lm
from edge.skeleton.fk import marker_positions
from edge.skeleton.model import SkeletonModel


@dataclass(frozen=True)
class ScalingConfig:
    """Settings of the segment-length scaling."""

    min_visibility: float = 0.5
    min_frames: int = 10
    min_scale: float = 0.6
    max_scale: float = 1.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_visibility <= 1.0:
            raise ValueError(f"min_visibility must be in [0, 1], got {self.min_visibility}")
        if self.min_frames < 1:
            raise ValueError(f"min_frames must be >= 1, got {self.min_frames}")
        if not 0.0 < self.min_scale < 1.0 < self.max_scale:
            raise ValueError(f"need 0 < min_scale < 1 < max_scale, got {self.min_scale}, {self.max_scale}")


# segment name -> (landmark pairs measuring it, both sides; bodies it scales)
SEGMENTS: dict[str, tuple[tuple[tuple[int, int], ...], tuple[str, ...]]] = {
    "pelvis": (((lm.LEFT_HIP, lm.RIGHT_HIP),), ("pelvis", "sacrum")),
    "thigh": (((lm.LEFT_HIP, lm.LEFT_KNEE), (lm.RIGHT_HIP, lm.RIGHT_KNEE)), ("femur_l", "femur_r")),
    "shank": (((lm.LEFT_KNEE, lm.LEFT_ANKLE), (lm.RIGHT_KNEE, lm.RIGHT_ANKLE)), ("tibia_l", "tibia_r")),
    "foot": (((lm.LEFT_HEEL, lm.LEFT_FOOT_INDEX), (lm.RIGHT_HEEL, lm.RIGHT_FOOT_INDEX)),
             ("talus_l", "talus_r", "calcn_l", "calcn_r", "toes_l", "toes_r")),
    "trunk": (((lm.LEFT_HIP, lm.LEFT_SHOULDER), (lm.RIGHT_HIP, lm.RIGHT_SHOULDER)), ("torso", "head")),
    "upper_arm": (((lm.LEFT_SHOULDER, lm.LEFT_ELBOW), (lm.RIGHT_SHOULDER, lm.RIGHT_ELBOW)),
                  ("humerus_l", "humerus_r")),
    "forearm": (((lm.LEFT_ELBOW, lm.LEFT_WRIST), (lm.RIGHT_ELBOW, lm.RIGHT_WRIST)),
                ("ulna_l", "ulna_r", "radius_l", "radius_r", "hand_l", "hand_r")),
}


@dataclass(frozen=True)
class SubjectScaling:
    """Measured segment lengths (m), the model's (m), and the per-body scale factors they give."""

    segment_length_m: dict[str, float]
    model_length_m: dict[str, float]
    body_scales: dict[str, np.ndarray]

    def summary(self) -> dict[str, float]:
        """Segment name -> scale factor (for logs and session metadata)."""
        return {k: round(self.segment_length_m[k] / self.model_length_m[k], 4) for k in self.segment_length_m}


def estimate_scaling(model: SkeletonModel, world_xyz: np.ndarray, visibility: np.ndarray,
                     config: ScalingConfig = ScalingConfig()) -> SubjectScaling:
    """Scale factors of ``model`` for the subject seen in ``world_xyz``.

    Args:
        model: the generic (unscaled) model with the BlazePose markers.
        world_xyz: (N, 33, 3) MediaPipe world landmarks, metres (frames with NaN are ignored per segment).
        visibility: (N, 33) landmark visibilities.

    Returns:
        Measured and model segment lengths and the body scale factors.

    Raises:
        ValueError: wrong shapes, or too few frames where a segment's landmarks are visible.
    """
    world = np.asarray(world_xyz, dtype=np.float64)
    vis = np.asarray(visibility, dtype=np.float64)
    if world.ndim != 3 or world.shape[1:] != (33, 3) or vis.shape != world.shape[:2]:
        raise ValueError(f"need world_xyz (N, 33, 3) and visibility (N, 33), got {world.shape} and {vis.shape}")
    marker_index = {m.name: i for i, m in enumerate(model.markers)}
    missing = sorted({lm.LANDMARK_TO_MARKER[i] for pairs, _ in SEGMENTS.values() for p in pairs for i in p}
                     - set(marker_index))
    if missing:
        raise ValueError(f"model {model.name} lacks the markers {missing} needed for scaling")
    default_q = np.array([c.default_value for c in model.coordinates])
    model_markers = marker_positions(model, default_q)
    measured: dict[str, float] = {}
    reference: dict[str, float] = {}
    for segment, (pairs, _) in SEGMENTS.items():
        lengths = []
        for a, b in pairs:
            ok = (vis[:, a] >= config.min_visibility) & (vis[:, b] >= config.min_visibility)
            ok &= np.isfinite(world[:, a]).all(axis=1) & np.isfinite(world[:, b]).all(axis=1)
            lengths.append(np.linalg.norm(world[ok, a] - world[ok, b], axis=1))
        all_lengths = np.concatenate(lengths)
        if all_lengths.size < config.min_frames:
            raise ValueError(f"scaling: segment '{segment}' visible in {all_lengths.size} frames, "
                             f"need {config.min_frames}")
        measured[segment] = float(np.median(all_lengths))
        reference[segment] = float(np.mean([
            np.linalg.norm(model_markers[marker_index[lm.LANDMARK_TO_MARKER[a]]]
                           - model_markers[marker_index[lm.LANDMARK_TO_MARKER[b]]]) for a, b in pairs]))
    body_scales: dict[str, np.ndarray] = {}
    for segment, (_, bodies) in SEGMENTS.items():
        factor = float(np.clip(measured[segment] / reference[segment], config.min_scale, config.max_scale))
        for body in bodies:
            if body in model.body_names:
                body_scales[body] = np.full(3, factor)
    return SubjectScaling(measured, reference, body_scales)
