"""Forward kinematics of the skeletal model in BIGE coordinates, for the synthetic subject.

Inputs: BIGE coordinates (T, 33), degrees and metres. Outputs: body transforms in the ground frame
(T, n_bodies, 4, 4) and world positions of body-fixed points (foot soles, face features).

A thin adaptor over ``edge.skeleton`` (BIGE -> model coordinates -> forward kinematics) so that the
motion generator and the mannequin only deal with BIGE coordinates and body names. The body-fixed
points below are sized for the default (unscaled) pose2sim model; ground frame: x forward, y up, z to
the subject's right.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

REQUIRED_BODIES: tuple[str, ...] = (
    "pelvis", "femur_r", "tibia_r", "talus_r", "calcn_r", "toes_r",
    "femur_l", "tibia_l", "talus_l", "calcn_l", "toes_l",
    "torso", "head", "humerus_r", "ulna_r", "hand_r", "humerus_l", "ulna_l", "hand_l",
)
"""Bodies the synthetic subject needs (Rajagopal / pose2sim naming)."""

SOLE_POINTS_R_M: dict[str, tuple[str, tuple[float, float, float]]] = {
    "heel": ("calcn_r", (0.025, -0.010, 0.000)),
    "met1": ("calcn_r", (0.165, -0.010, -0.028)),
    "met5": ("calcn_r", (0.145, -0.010, 0.032)),
    "toe": ("toes_r", (0.055, -0.010, -0.012)),
}
"""Contact points on the right shoe sole: name -> (body, position in the body frame, metres).

The sole is 1 cm below the calcaneus and toe frame origins, so a standing subject's sole is flat on
y = 0 with all foot coordinates at zero. The left foot mirrors z.
"""


def sole_points(side: str) -> dict[str, tuple[str, np.ndarray]]:
    """Sole contact points of one foot.

    Args:
        side: "r" or "l".

    Returns:
        name -> (body name, (3,) position in that body's frame).

    Raises:
        ValueError: side is not "r" or "l".
    """
    if side not in ("r", "l"):
        raise ValueError(f"side must be 'r' or 'l', got {side!r}")
    mirror = np.array([1.0, 1.0, 1.0 if side == "r" else -1.0])
    return {name: (body[:-1] + side, np.asarray(p) * mirror) for name, (body, p) in SOLE_POINTS_R_M.items()}


class BodyKinematics:
    """Forward kinematics in BIGE coordinates: transforms of named bodies and body-fixed points.

    Args:
        body_names: names of the bodies, in the order ``transforms_fn`` returns them.
        transforms_fn: BIGE coordinates (T, 33) -> body transforms (T, n_bodies, 4, 4) in ground.
        masses_kg: (n_bodies,) body masses.
        mass_centres_m: (n_bodies, 3) mass centres in the body frames.

    Raises:
        ValueError: a body the synthetic subject needs is missing, or the mass arrays do not match.
    """

    def __init__(self, body_names: Sequence[str], transforms_fn: Callable[[np.ndarray], np.ndarray],
                 masses_kg: np.ndarray, mass_centres_m: np.ndarray) -> None:
        self.body_names = tuple(body_names)
        missing = [b for b in REQUIRED_BODIES if b not in self.body_names]
        if missing:
            raise ValueError(f"skeletal model lacks bodies the synthetic subject needs: {missing}")
        self.masses_kg = np.asarray(masses_kg, dtype=np.float64)
        self.mass_centres_m = np.asarray(mass_centres_m, dtype=np.float64)
        n = len(self.body_names)
        if self.masses_kg.shape != (n,) or self.mass_centres_m.shape != (n, 3) or not self.masses_kg.sum() > 0:
            raise ValueError(f"masses_kg must be ({n},) with a positive total and mass_centres_m ({n}, 3); got "
                             f"{self.masses_kg.shape} and {self.mass_centres_m.shape}")
        self._index = {name: i for i, name in enumerate(self.body_names)}
        self._transforms_fn = transforms_fn

    @classmethod
    def default(cls) -> "BodyKinematics":
        """Forward kinematics of ``edge.skeleton``'s default model (pose2sim's simple model)."""
        from edge.skeleton import bige_map, fk, model as skeleton_model

        model = skeleton_model.load_default()

        def transforms(coords_bige: np.ndarray) -> np.ndarray:
            return fk.body_transforms(model, bige_map.from_bige(model, coords_bige))

        masses = np.array([b.mass_kg for b in model.bodies])
        centres = np.array([b.mass_centre_m for b in model.bodies])
        return cls(model.body_names, transforms, masses, centres)

    def index(self, body: str) -> int:
        """Position of ``body`` in the transforms array.

        Raises:
            KeyError: unknown body.
        """
        try:
            return self._index[body]
        except KeyError:
            raise KeyError(f"unknown body {body!r}; known: {self.body_names}") from None

    def transforms(self, coords_bige: np.ndarray) -> np.ndarray:
        """Body transforms in ground for BIGE coordinates.

        Args:
            coords_bige: (T, 33) or (33,) degrees/metres in BIGE order.

        Returns:
            (T, n_bodies, 4, 4) homogeneous transforms (body frame -> ground).

        Raises:
            ValueError: wrong shape or non-finite values.
        """
        q = np.atleast_2d(np.asarray(coords_bige, dtype=np.float64))
        if q.ndim != 2 or q.shape[1] != 33:
            raise ValueError(f"coords_bige must have shape (T, 33), got {np.shape(coords_bige)}")
        if not np.all(np.isfinite(q)):
            raise ValueError("coords_bige contains non-finite values")
        return np.asarray(self._transforms_fn(q), dtype=np.float64)

    def mass_moments(self, transforms: np.ndarray) -> np.ndarray:
        """Mass-weighted body mass centres in ground, (T, n_bodies, 3) kg m (sum / total mass = CoM)."""
        centres = np.einsum("tbij,bj->tbi", transforms[..., :3, :3], self.mass_centres_m) + transforms[..., :3, 3]
        return centres * self.masses_kg[None, :, None]

    def centre_of_mass(self, transforms: np.ndarray) -> np.ndarray:
        """Whole-body centre of mass in ground, (T, 3) metres."""
        return self.mass_moments(transforms).sum(axis=1) / self.masses_kg.sum()


def points_in_ground(transforms: np.ndarray, body_index: int, local_m: np.ndarray) -> np.ndarray:
    """Ground positions of points fixed in one body.

    Args:
        transforms: (T, n_bodies, 4, 4) from ``BodyKinematics.transforms``.
        body_index: which body.
        local_m: (n, 3) or (3,) positions in the body frame.

    Returns:
        (T, n, 3), or (T, 3) for a single point.
    """
    R = transforms[:, body_index, :3, :3]  # (T, 3, 3)
    origin = transforms[:, body_index, :3, 3]  # (T, 3)
    local = np.asarray(local_m, dtype=np.float64)
    if local.ndim == 1:
        return np.einsum("tij,j->ti", R, local) + origin
    return np.einsum("tij,nj->tni", R, local) + origin[:, None, :]
