"""Map a skeletal model's coordinates to and from the 33 BIGE coordinates (edge.messages.BIGE_COORDINATES).

Inputs/outputs: model coordinates (..., n_coordinates) in radians / metres, in the model's own order;
BIGE coordinates (..., 33) in BIGE's column order, degrees for rotations and metres for pelvis_t*.

Coordinates are matched by name, with pose2sim's lumbar names as aliases: Model_Pose2Sim_simple calls
the lumbar joint's coordinates L5_S1_Flex_Ext / L5_S1_Lat_Bending / L5_S1_axial_rotation where
LaiUhlrich2022 (BIGE's model family) says lumbar_extension / lumbar_bending / lumbar_rotation. Both
models' ``back`` CustomJoint are identical (pelvis offset (-0.1007, 0.0815, 0) m, no rotation; rotation1
about z = extension, rotation2 about x = bending, rotation3 about y = rotation, all with slope 1), so
the values carry over unchanged, same sign. tests/edge/skeleton/test_bige_map.py checks the axes of all
33 coordinates against LaiUhlrich2022 when it is available. Model coordinates BIGE lacks (pose2sim's
neck and wrists) take the model's defaults in ``from_bige``.
"""

from __future__ import annotations

import numpy as np

from edge.messages import BIGE_COORDINATES, N_COORDINATES
from edge.skeleton.model import MotionType, SkeletonModel

MODEL_TO_BIGE_ALIASES: dict[str, str] = {
    "L5_S1_Flex_Ext": "lumbar_extension",
    "L5_S1_Lat_Bending": "lumbar_bending",
    "L5_S1_axial_rotation": "lumbar_rotation",
}
"""Model coordinate name -> BIGE name where they differ (pose2sim's lumbar joint)."""


def bige_indices(model: SkeletonModel) -> np.ndarray:
    """Model coordinate index of each BIGE coordinate, (33,) int.

    Raises:
        KeyError: a BIGE coordinate has no counterpart in the model (names them all).
    """
    by_bige = {MODEL_TO_BIGE_ALIASES.get(name, name): i for i, name in enumerate(model.coordinate_names)}
    missing = [name for name in BIGE_COORDINATES if name not in by_bige]
    if missing:
        raise KeyError(f"model {model.name} lacks BIGE coordinates {missing}")
    return np.array([by_bige[name] for name in BIGE_COORDINATES], dtype=np.intp)


def _degree_factors(model: SkeletonModel, idx: np.ndarray) -> np.ndarray:
    return np.array([np.degrees(1.0) if model.coordinates[i].motion_type is MotionType.ROTATIONAL else 1.0
                     for i in idx])


def to_bige(model: SkeletonModel, q_model_rad: np.ndarray) -> np.ndarray:
    """BIGE coordinates (..., 33), degrees / metres, from model coordinates (..., n_coordinates), rad / m.

    Raises:
        ValueError: the last axis is not the model's number of coordinates.
        KeyError: the model lacks a BIGE coordinate.
    """
    q = np.asarray(q_model_rad, dtype=float)
    if q.ndim == 0 or q.shape[-1] != model.n_coordinates:
        raise ValueError(f"q_model_rad: expected last axis {model.n_coordinates} (model {model.name}), got shape {q.shape}")
    idx = bige_indices(model)
    return q[..., idx] * _degree_factors(model, idx)


def from_bige(model: SkeletonModel, q_bige: np.ndarray) -> np.ndarray:
    """Model coordinates (..., n_coordinates), rad / m, from BIGE coordinates (..., 33), degrees / metres.

    Coordinates BIGE lacks take the model's default values.

    Raises:
        ValueError: the last axis is not 33.
        KeyError: the model lacks a BIGE coordinate.
    """
    qb = np.asarray(q_bige, dtype=float)
    if qb.ndim == 0 or qb.shape[-1] != N_COORDINATES:
        raise ValueError(f"q_bige: expected last axis {N_COORDINATES}, got shape {qb.shape}")
    idx = bige_indices(model)
    out = np.broadcast_to(model.default_q(), qb.shape[:-1] + (model.n_coordinates,)).copy()
    out[..., idx] = qb / _degree_factors(model, idx)
    return out
