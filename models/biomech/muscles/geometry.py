"""Musculotendon geometry of the 80 lower-limb muscles as polynomials of the joint coordinates.

Purpose: musculotendon lengths and moment arms without OpenSim, fast and batched (OpenCap's approach).
Inputs: leg coordinates (B, 14) in ``LEG_COORDINATES`` order (right hip flexion ... mtp, then left),
radians. Outputs: lengths (B, 80) in metres and moment arms (B, 80, 14) in metres (per radian), muscles
in ``BIGE_MUSCLE_ORDER`` (the 40 left muscles alphabetically, then the 40 right ones, as BIGE).

Algorithm: each muscle's length is a polynomial of the coordinates it spans (at most four: hip
flexion/adduction/rotation and knee, or knee/ankle/subtalar, ...), fitted offline to OpenSim's path
lengths and moment arms (scripts/fit_muscle_geometry.py, models.biomech.muscles.fit). The moment arm
about coordinate q_j is r_j = -dL/dq_j, the polynomial's exact derivative, so lengths and moment arms
are consistent by construction. Muscles spanning the same coordinates share one design matrix, so
evaluation is a handful of matrix products. The asset also carries each muscle's Hill-model
parameters (max isometric force, optimal fibre length, tendon slack length, pennation, curve options).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_GEOMETRY_FILE = "pose2sim_muscle_geometry.json"
FORMAT_VERSION = 1

MUSCLE_BASE_NAMES: tuple[str, ...] = (
    "addbrev", "addlong", "addmagDist", "addmagIsch", "addmagMid", "addmagProx", "bflh", "bfsh", "edl",
    "ehl", "fdl", "fhl", "gaslat", "gasmed", "glmax1", "glmax2", "glmax3", "glmed1", "glmed2", "glmed3",
    "glmin1", "glmin2", "glmin3", "grac", "iliacus", "perbrev", "perlong", "piri", "psoas", "recfem",
    "sart", "semimem", "semiten", "soleus", "tfl", "tibant", "tibpost", "vasint", "vaslat", "vasmed",
)
"""The 40 muscles of one leg (Rajagopal 2016 names), in BIGE's (alphabetical) order."""

BIGE_MUSCLE_ORDER: tuple[str, ...] = (tuple(f"{m}_l" for m in MUSCLE_BASE_NAMES)
                                      + tuple(f"{m}_r" for m in MUSCLE_BASE_NAMES))
"""The 80 muscles in the BIGE surrogate's output order: left 40, then right 40."""

LEG_DOFS: tuple[str, ...] = ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle",
                             "subtalar_angle", "mtp_angle")
LEG_COORDINATES: tuple[str, ...] = tuple(f"{d}_r" for d in LEG_DOFS) + tuple(f"{d}_l" for d in LEG_DOFS)
"""The 14 coordinates muscle paths depend on (right leg, then left), radians."""


class GeometryFormatError(ValueError):
    """A muscle-geometry description is malformed; the message names the muscle and field."""


def _finite(value: Any, where: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GeometryFormatError(f"{where}: expected a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out) or (positive and out <= 0):
        raise GeometryFormatError(f"{where}: expected a finite{' positive' if positive else ''} number, got {value!r}")
    return out


@dataclass(frozen=True)
class MuscleParameters:
    """Hill-type parameters of one muscle (OpenSim DeGrooteFregly2016Muscle properties).

    ``max_contraction_velocity`` is in optimal fibre lengths per second; ``passive_fibre_strain`` is the
    passive fibre strain at one normalised force; ``active_force_width_scale`` widens the active
    force-length curve about its peak; ``fibre_damping`` multiplies the normalised fibre velocity;
    ``tendon_strain_at_one_norm_force`` sets the tendon's stiffness (strain at max isometric force).
    """

    max_isometric_force_n: float
    optimal_fibre_length_m: float
    tendon_slack_length_m: float
    pennation_at_optimal_rad: float
    max_contraction_velocity: float = 10.0
    active_force_width_scale: float = 1.0
    passive_fibre_strain: float = 0.6
    fibre_damping: float = 0.0
    ignore_passive_fibre_force: bool = False
    min_activation: float = 0.01
    tendon_strain_at_one_norm_force: float = 0.049

    def __post_init__(self) -> None:
        for name in ("max_isometric_force_n", "optimal_fibre_length_m", "tendon_slack_length_m",
                     "max_contraction_velocity", "active_force_width_scale", "passive_fibre_strain",
                     "tendon_strain_at_one_norm_force"):
            object.__setattr__(self, name, _finite(getattr(self, name), f"MuscleParameters.{name}", positive=True))
        for name in ("pennation_at_optimal_rad", "fibre_damping", "min_activation"):
            object.__setattr__(self, name, _finite(getattr(self, name), f"MuscleParameters.{name}"))
        if not 0.0 <= self.pennation_at_optimal_rad < math.pi / 2:
            raise GeometryFormatError(f"MuscleParameters.pennation_at_optimal_rad: expected [0, pi/2), "
                                      f"got {self.pennation_at_optimal_rad}")
        if not 0.0 <= self.min_activation < 1.0:
            raise GeometryFormatError(f"MuscleParameters.min_activation: expected [0, 1), got {self.min_activation}")
        if not isinstance(self.ignore_passive_fibre_force, bool):
            raise GeometryFormatError(f"MuscleParameters.ignore_passive_fibre_force: expected true/false, "
                                      f"got {self.ignore_passive_fibre_force!r}")


@dataclass(frozen=True, eq=False)
class MusclePath:
    """Musculotendon length L(q) = sum_k coefficients[k] * prod_c q_c ** exponents[k, c] (metres, radians).

    ``fit`` holds the offline fit's errors against OpenSim (informational): rms_length_mm,
    rms_moment_arm_mm, max_moment_arm_error_mm, degree.
    """

    coordinates: tuple[str, ...]
    exponents: np.ndarray  # (n_terms, n_coordinates) int
    coefficients: np.ndarray  # (n_terms,)
    fit: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "coordinates", tuple(self.coordinates))
        e = np.asarray(self.exponents)
        c = np.asarray(self.coefficients, dtype=float)
        if not self.coordinates or len(set(self.coordinates)) != len(self.coordinates):
            raise GeometryFormatError(f"MusclePath.coordinates: expected distinct names, got {self.coordinates}")
        if e.ndim != 2 or e.shape[1] != len(self.coordinates) or e.shape[0] == 0:
            raise GeometryFormatError(f"MusclePath.exponents: expected shape (n_terms, {len(self.coordinates)}), "
                                      f"got {e.shape}")
        if not np.issubdtype(e.dtype, np.integer) or np.any(e < 0):
            raise GeometryFormatError("MusclePath.exponents: expected non-negative integers")
        if c.shape != (e.shape[0],) or not np.all(np.isfinite(c)):
            raise GeometryFormatError(
                f"MusclePath.coefficients: expected {e.shape[0]} finite numbers, got shape {c.shape}")
        object.__setattr__(self, "exponents", e.astype(np.int64))
        object.__setattr__(self, "coefficients", c)

    def design(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Monomials (B, n_terms) and their derivatives (B, n_coordinates, n_terms) at q (B, n_coordinates)."""
        return design_matrices(q, self.exponents)

    def length_and_moment_arms(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Length (B,) m and moment arms -dL/dq (B, n_coordinates) m at q (B, n_coordinates) rad."""
        phi, dphi = self.design(np.atleast_2d(q))
        return phi @ self.coefficients, -(dphi @ self.coefficients)


def monomial_exponents(n_coordinates: int, degree: int) -> np.ndarray:
    """All exponent rows of total degree <= degree over n_coordinates variables, (n_terms, n_coordinates)."""
    rows: list[tuple[int, ...]] = [()]
    for _ in range(n_coordinates):
        rows = [r + (k,) for r in rows for k in range(degree + 1) if sum(r) + k <= degree]
    return np.array(sorted(rows, key=lambda r: (sum(r), tuple(-x for x in r))), dtype=np.int64)


def design_matrices(q: np.ndarray, exponents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monomials and their partial derivatives.

    Args:
        q: (B, n_coordinates) values.
        exponents: (n_terms, n_coordinates) non-negative integers.

    Returns:
        phi (B, n_terms) and dphi (B, n_coordinates, n_terms) with dphi[:, c] = d phi / d q_c.
    """
    q = np.asarray(q, dtype=float)
    n_c = exponents.shape[1]
    top = int(exponents.max()) if exponents.size else 0
    k = np.arange(top + 1)
    powers = q[..., None] ** k  # (B, n_c, top + 1)
    dpowers = np.zeros_like(powers)
    dpowers[..., 1:] = k[1:] * powers[..., :-1]
    factors = [powers[:, c, exponents[:, c]] for c in range(n_c)]  # each (B, n_terms)
    phi = np.prod(np.stack(factors), axis=0) if n_c > 1 else factors[0]
    dphi = np.empty((q.shape[0], n_c, exponents.shape[0]))
    for c in range(n_c):
        d = dpowers[:, c, exponents[:, c]]
        for c2 in range(n_c):
            if c2 != c:
                d = d * factors[c2]
        dphi[:, c] = d
    return phi, dphi


@dataclass(frozen=True, eq=False)
class Muscle:
    name: str
    parameters: MuscleParameters
    path: MusclePath


@dataclass(frozen=True, eq=False)
class _Group:
    """Muscles spanning the same coordinates: one shared design, a coefficient matrix."""

    coordinate_idx: np.ndarray  # (n_c,) into the geometry's coordinates
    exponents: np.ndarray  # (n_terms, n_c), union of the members' terms
    coefficients: np.ndarray  # (n_terms, n_members)
    members: np.ndarray  # (n_members,) muscle indices


@dataclass(frozen=True, eq=False)
class MuscleGeometry:
    """The muscles (in ``BIGE_MUSCLE_ORDER`` for the default asset) and the coordinates their paths use."""

    muscles: tuple[Muscle, ...]
    coordinates: tuple[str, ...] = LEG_COORDINATES
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "muscles", tuple(self.muscles))
        object.__setattr__(self, "coordinates", tuple(self.coordinates))
        names = [m.name for m in self.muscles]
        if not names or len(set(names)) != len(names):
            raise GeometryFormatError(f"MuscleGeometry: expected distinct muscle names, got {names}")
        known = set(self.coordinates)
        for m in self.muscles:
            unknown = [c for c in m.path.coordinates if c not in known]
            if unknown:
                raise GeometryFormatError(f"muscle {m.name}: path coordinates {unknown} are not in {self.coordinates}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.muscles)

    @property
    def n_muscles(self) -> int:
        return len(self.muscles)

    def muscle_index(self, name: str) -> int:
        """Index of a muscle. Raises KeyError naming it."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"muscle {name!r} not in the geometry") from None

    def parameter_array(self, name: str) -> np.ndarray:
        """One MuscleParameters field for all muscles, (n_muscles,), read-only.

        Raises:
            KeyError: not a MuscleParameters field.
        """
        return self._parameter_arrays[name]

    @cached_property
    def _parameter_arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for name in MuscleParameters.__dataclass_fields__:
            a = np.array([getattr(m.parameters, name) for m in self.muscles], dtype=float)
            a.flags.writeable = False
            out[name] = a
        return out

    @cached_property
    def _groups(self) -> tuple[_Group, ...]:
        by_coords: dict[tuple[str, ...], list[int]] = {}
        for i, m in enumerate(self.muscles):
            by_coords.setdefault(m.path.coordinates, []).append(i)
        groups = []
        for coords, members in by_coords.items():
            rows: dict[tuple[int, ...], int] = {}
            for i in members:
                for e in self.muscles[i].path.exponents:
                    rows.setdefault(tuple(int(x) for x in e), len(rows))
            coef = np.zeros((len(rows), len(members)))
            for j, i in enumerate(members):
                p = self.muscles[i].path
                for e, c in zip(p.exponents, p.coefficients):
                    coef[rows[tuple(int(x) for x in e)], j] += c
            groups.append(_Group(np.array([self.coordinates.index(c) for c in coords]),
                                 np.array(list(rows), dtype=np.int64), coef, np.array(members)))
        return tuple(groups)

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Musculotendon lengths and moment arms at q.

        Args:
            q: (B, n_coordinates) or (n_coordinates,) values of ``self.coordinates``, radians.

        Returns:
            lengths (B, n_muscles) m and moment arms (B, n_muscles, n_coordinates) m (-dL/dq; zero
            for coordinates a muscle does not span); without the batch axis for a 1-D q.

        Raises:
            ValueError: q has the wrong shape or non-finite values.
        """
        q = np.asarray(q, dtype=float)
        single = q.ndim == 1
        q2 = q[None] if single else q
        if q2.ndim != 2 or q2.shape[1] != len(self.coordinates):
            raise ValueError(f"q: expected shape (B, {len(self.coordinates)}) in the order {self.coordinates}, "
                             f"got {q.shape}")
        if not np.all(np.isfinite(q2)):
            raise ValueError("q: contains non-finite values")
        lengths = np.empty((q2.shape[0], self.n_muscles))
        arms = np.zeros((q2.shape[0], self.n_muscles, len(self.coordinates)))
        for g in self._groups:
            phi, dphi = design_matrices(q2[:, g.coordinate_idx], g.exponents)
            lengths[:, g.members] = phi @ g.coefficients
            arms[:, g.members[:, None], g.coordinate_idx[None, :]] = -np.swapaxes(dphi @ g.coefficients, 1, 2)
        return (lengths[0], arms[0]) if single else (lengths, arms)

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (inverse of ``from_dict``)."""
        return {
            "format_version": FORMAT_VERSION,
            "metadata": dict(self.metadata),
            "coordinates": list(self.coordinates),
            "muscles": [{
                "name": m.name,
                "parameters": {k: getattr(m.parameters, k) for k in MuscleParameters.__dataclass_fields__},
                "path": {"coordinates": list(m.path.coordinates), "exponents": m.path.exponents.tolist(),
                         "coefficients": m.path.coefficients.tolist(), "fit": dict(m.path.fit)},
            } for m in self.muscles],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "geometry") -> MuscleGeometry:
        """Build from ``to_dict`` output.

        Raises:
            GeometryFormatError: a field is missing or malformed (the message names source, muscle, field).
        """
        if not isinstance(d, Mapping):
            raise GeometryFormatError(f"{source}: expected an object, got {type(d).__name__}")
        if d.get("format_version") != FORMAT_VERSION:
            raise GeometryFormatError(
                f"{source}: format_version {d.get('format_version')!r}, expected {FORMAT_VERSION}")
        try:
            muscles = []
            for k, md in enumerate(d["muscles"]):
                where = f"{source}: muscle {md.get('name', k)!r}"
                try:
                    p = md["path"]
                    muscles.append(Muscle(str(md["name"]), MuscleParameters(**md["parameters"]),
                                          MusclePath(tuple(p["coordinates"]), np.array(p["exponents"], dtype=np.int64),
                                                     np.array(p["coefficients"], dtype=float), dict(p.get("fit", {})))))
                except KeyError as exc:
                    raise GeometryFormatError(f"{where}: missing field {exc}") from None
                except (GeometryFormatError, TypeError, ValueError) as exc:
                    raise GeometryFormatError(f"{where}: {exc}") from None
            return cls(tuple(muscles), tuple(d["coordinates"]), dict(d.get("metadata", {})))
        except KeyError as exc:
            raise GeometryFormatError(f"{source}: missing field {exc}") from None

    def save(self, path: str | Path) -> None:
        """Write the JSON file (compact: the asset is shipped)."""
        Path(path).write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> MuscleGeometry:
        """Read a geometry JSON file.

        Raises:
            FileNotFoundError: the file does not exist.
            GeometryFormatError: it is not valid JSON or not a valid geometry (message names the file).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"muscle geometry file not found: {path}")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise GeometryFormatError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(d, source=str(path))


def load_default_geometry() -> MuscleGeometry:
    """The shipped geometry of the 80 lower-limb muscles of pose2sim's Model_Pose2Sim_muscles_flex.

    Raises:
        FileNotFoundError: the asset is missing (run scripts/fit_muscle_geometry.py).
    """
    return MuscleGeometry.load(ASSETS_DIR / DEFAULT_GEOMETRY_FILE)


def leg_coordinate_indices(model_coordinate_names: Sequence[str]) -> np.ndarray:
    """Index of each of ``LEG_COORDINATES`` in a model's coordinate list, (14,).

    Raises:
        KeyError: the model lacks some of them (names them).
    """
    names = list(model_coordinate_names)
    missing = [c for c in LEG_COORDINATES if c not in names]
    if missing:
        raise KeyError(f"model lacks the leg coordinates {missing}")
    return np.array([names.index(c) for c in LEG_COORDINATES], dtype=np.intp)
