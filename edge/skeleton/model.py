"""A skeletal model exported from OpenSim, as plain data usable without opensim (e.g. on a Jetson).

Purpose: describe everything forward kinematics, centre of mass and scaling need, in a JSON file
that numpy (edge.skeleton.fk) and torch (edge.skeleton.fk_torch) evaluate exactly as OpenSim does.

Contents (one frozen dataclass each):
- ``Coordinate``: an independent generalized coordinate (radians or metres), default, range, locked.
- ``DependentCoordinate``: a coordinate fixed by a CoordinateCouplerConstraint to a function of one
  independent coordinate (e.g. LaiUhlrich2022's knee_angle_r_beta); forward kinematics takes only
  the independent coordinates and computes these.
- ``Body``: name, parent body index (-1 = ground; bodies are in topological order), mass, mass centre
  and the ``Joint`` connecting it to its parent.
- ``Joint``: parent offset frame F (in the parent body), child offset frame M (in the child body) and
  six ``TransformAxis`` (3 rotations, then 3 translations), each an axis and a function of one
  coordinate. The child frame relative to the parent frame is X_FM = [R1 R2 R3 | p] with R_k the
  rotation by f_k(q) about axis_k (successive, body-fixed: axis_2 is expressed in the frame already
  rotated by R1, ...) and p = sum_k f_k(q) axis_k in F. This is OpenSim's CustomJoint
  (SpatialTransform) convention, checked against OpenSim's own body transforms; PinJoint, UniversalJoint
  and WeldJoint are exported as the equivalent six axes.
- Functions of one coordinate: ``Constant``, ``Linear``, ``Polynomial``, ``CubicSpline`` (OpenSim's
  SimmSpline: piecewise cubic on knots, linear extrapolation with the end slopes) and ``Multiplier``
  (a scale factor around another function, as OpenSim's scaling creates).
- ``Marker``: name, body index, offset in the body (metres).

``SkeletonModel.scaled`` reproduces OpenSim's scaling rule (Model.scale / ScaleTool): per body scale
factors multiply the joint offset-frame translations, marker offsets and mass centres of that body,
and each CustomJoint translation function is wrapped in a Multiplier by axis . s_parent.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Union

import numpy as np

from edge.paths import ASSETS_DIR

FORMAT_VERSION = 1
DEFAULT_MODEL_FILE = "pose2sim_simple_blazepose.json"
GROUND = -1
"""Parent index of a body attached to ground (ground is the root, not itself in ``bodies``)."""


class ModelFormatError(ValueError):
    """A model description (JSON or dict) is malformed; the message names the field and value."""


class MotionType(enum.Enum):
    ROTATIONAL = "rotational"
    TRANSLATIONAL = "translational"


# --------------------------------------------------------------------------------------------------
# Small validation helpers (messages name the field path)


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelFormatError(f"{where}: expected a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ModelFormatError(f"{where}: expected a finite number, got {value!r}")
    return out


def _vector(value: Any, n: int, where: str) -> tuple[float, ...]:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ModelFormatError(f"{where}: expected {n} numbers, got {value!r}")
    return tuple(_float(v, f"{where}[{i}]") for i, v in enumerate(value))


def _floats(value: Any, where: str, min_len: int = 1) -> tuple[float, ...]:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or len(value) < min_len:
        raise ModelFormatError(f"{where}: expected a list of at least {min_len} numbers, got {value!r}")
    return tuple(_float(v, f"{where}[{i}]") for i, v in enumerate(value))


def _get(d: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(d, Mapping):
        raise ModelFormatError(f"{where}: expected an object, got {type(d).__name__}")
    if key not in d:
        raise ModelFormatError(f"{where}: missing field '{key}'")
    return d[key]


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ModelFormatError(f"{where}: expected a non-empty string, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------------
# Functions of one coordinate


@dataclass(frozen=True)
class Constant:
    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _float(self.value, "Constant.value"))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.full(np.shape(x), self.value)


@dataclass(frozen=True)
class Linear:
    """f(x) = slope * x + intercept (OpenSim LinearFunction, coefficients [slope, intercept])."""

    slope: float
    intercept: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "slope", _float(self.slope, "Linear.slope"))
        object.__setattr__(self, "intercept", _float(self.intercept, "Linear.intercept"))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.slope * np.asarray(x, dtype=float) + self.intercept


@dataclass(frozen=True)
class Polynomial:
    """f(x) = sum_i coefficients[i] x^(n-1-i): highest power first (OpenSim PolynomialFunction)."""

    coefficients: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "coefficients", _floats(self.coefficients, "Polynomial.coefficients"))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = np.zeros_like(x)
        for c in self.coefficients:
            out = out * x + c
        return out


@dataclass(frozen=True)
class CubicSpline:
    """OpenSim's SimmSpline: f(x) = y_k + b_k dx + c_k dx^2 + d_k dx^3, dx = x - x_k, x_k <= x < x_{k+1}.

    Outside [x_0, x_{n-1}] the function extrapolates linearly with the end slopes b_0 and b_{n-1}.
    ``from_knots`` computes the coefficients from the knots as OpenSim does (Forsythe, Malcolm and
    Moler's cubic spline, end third derivatives matched to the divided differences of the end points).
    """

    x: tuple[float, ...]
    y: tuple[float, ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    d: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.x) if isinstance(self.x, (list, tuple, np.ndarray)) else 0
        if n < 2:
            raise ModelFormatError(f"CubicSpline.x: expected at least 2 knots, got {self.x!r}")
        for name in ("x", "y", "b", "c", "d"):
            object.__setattr__(self, name, _vector(getattr(self, name), n, f"CubicSpline.{name}"))
        if any(x1 <= x0 for x0, x1 in zip(self.x, self.x[1:])):
            raise ModelFormatError(f"CubicSpline.x: knots must be strictly increasing, got {self.x}")

    @classmethod
    def from_knots(cls, x: Sequence[float], y: Sequence[float]) -> CubicSpline:
        """The SimmSpline through the knots (x, y), coefficients computed as OpenSim does.

        Raises:
            ModelFormatError: fewer than 2 knots, different lengths or non-increasing x.
        """
        xs = np.asarray(x, dtype=float)
        ys = np.asarray(y, dtype=float)
        n = xs.size
        if n < 2 or ys.shape != xs.shape:
            raise ModelFormatError(f"CubicSpline knots: need >= 2 (x, y) pairs of equal length, got {x!r}, {y!r}")
        if np.any(np.diff(xs) <= 0):
            raise ModelFormatError(f"CubicSpline knots: x must be strictly increasing, got {xs.tolist()}")
        b = np.zeros(n)
        c = np.zeros(n)
        d = np.zeros(n)
        if n == 2:
            b[:] = (ys[1] - ys[0]) / (xs[1] - xs[0])
            return cls(tuple(xs), tuple(ys), tuple(b), tuple(c), tuple(d))
        # Tridiagonal system: b = diagonal, d = off-diagonal, c = right-hand side.
        d[0] = xs[1] - xs[0]
        c[1] = (ys[1] - ys[0]) / d[0]
        for i in range(1, n - 1):
            d[i] = xs[i + 1] - xs[i]
            b[i] = 2.0 * (d[i - 1] + d[i])
            c[i + 1] = (ys[i + 1] - ys[i]) / d[i]
            c[i] = c[i + 1] - c[i]
        # End conditions: third derivatives at both ends from divided differences.
        b[0] = -d[0]
        b[n - 1] = -d[n - 2]
        c[0] = 0.0
        c[n - 1] = 0.0
        if n > 3:
            c[0] = c[2] / (xs[3] - xs[1]) - c[1] / (xs[2] - xs[0])
            c[n - 1] = c[n - 2] / (xs[n - 1] - xs[n - 3]) - c[n - 3] / (xs[n - 2] - xs[n - 4])
            c[0] = c[0] * d[0] ** 2 / (xs[3] - xs[0])
            c[n - 1] = -c[n - 1] * d[n - 2] ** 2 / (xs[n - 1] - xs[n - 4])
        for i in range(1, n):  # forward elimination
            t = d[i - 1] / b[i - 1]
            b[i] = b[i] - t * d[i - 1]
            c[i] = c[i] - t * c[i - 1]
        c[n - 1] = c[n - 1] / b[n - 1]  # back substitution
        for i in range(n - 2, -1, -1):
            c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
        b[n - 1] = (ys[n - 1] - ys[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2.0 * c[n - 1])
        for i in range(n - 1):
            b[i] = (ys[i + 1] - ys[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
            d[i] = (c[i + 1] - c[i]) / d[i]
            c[i] = 3.0 * c[i]
        c[n - 1] = 3.0 * c[n - 1]
        d[n - 1] = d[n - 2]
        return cls(tuple(xs), tuple(ys), tuple(b), tuple(c), tuple(d))

    def coefficient_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Knots (n,) and per-knot coefficients (n, 4) = [y, b, c, d], with c = d = 0 on the last knot
        (the right extrapolation is linear)."""
        coef = np.stack([self.y, self.b, self.c, self.d], axis=1)  # (n, 4)
        coef[-1, 2:] = 0.0
        return np.asarray(self.x), coef

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        knots, coef = self.coefficient_table()
        k = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, knots.size - 1)
        dx = x - knots[k]
        cubic = np.where(x < knots[0], 0.0, 1.0)  # left extrapolation is linear too
        y, b, c, d = (coef[k, i] for i in range(4))
        return y + dx * (b + cubic * dx * (c + dx * d))


@dataclass(frozen=True)
class Multiplier:
    """f(x) = scale * function(x) (OpenSim MultiplierFunction)."""

    scale: float
    function: Function

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _float(self.scale, "Multiplier.scale"))
        if not isinstance(self.function, _FUNCTION_TYPES):
            raise ModelFormatError(f"Multiplier.function: expected a function, got {self.function!r}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.scale * self.function(x)


Function = Union[Constant, Linear, Polynomial, CubicSpline, Multiplier]
_FUNCTION_TYPES = (Constant, Linear, Polynomial, CubicSpline, Multiplier)


def function_to_dict(f: Function) -> dict[str, Any]:
    """JSON-ready description of a function (``{"type": ..., ...}``)."""
    if isinstance(f, Constant):
        return {"type": "constant", "value": f.value}
    if isinstance(f, Linear):
        return {"type": "linear", "slope": f.slope, "intercept": f.intercept}
    if isinstance(f, Polynomial):
        return {"type": "polynomial", "coefficients": list(f.coefficients)}
    if isinstance(f, CubicSpline):
        return {"type": "cubic_spline", "x": list(f.x), "y": list(f.y), "b": list(f.b), "c": list(f.c),
                "d": list(f.d)}
    if isinstance(f, Multiplier):
        return {"type": "multiplier", "scale": f.scale, "function": function_to_dict(f.function)}
    raise TypeError(f"not a skeleton function: {f!r}")


def function_from_dict(d: Mapping[str, Any], where: str) -> Function:
    """Inverse of ``function_to_dict``; raises ModelFormatError naming ``where`` on bad input."""
    kind = _get(d, "type", where)
    try:
        if kind == "constant":
            return Constant(_get(d, "value", where))
        if kind == "linear":
            return Linear(_get(d, "slope", where), _get(d, "intercept", where))
        if kind == "polynomial":
            return Polynomial(_get(d, "coefficients", where))
        if kind == "cubic_spline":
            return CubicSpline(*(_get(d, k, where) for k in ("x", "y", "b", "c", "d")))
        if kind == "multiplier":
            return Multiplier(_get(d, "scale", where), function_from_dict(_get(d, "function", where),
                                                                       f"{where}.function"))
    except ModelFormatError as exc:
        if str(exc).startswith(where):
            raise
        raise ModelFormatError(f"{where}: {exc}") from None
    raise ModelFormatError(f"{where}.type: unknown function type {kind!r}")


# --------------------------------------------------------------------------------------------------
# Structure


@dataclass(frozen=True)
class RigidTransform:
    """A fixed frame in a body: rotation (3x3, row-major, frame axes in body coordinates) and translation (m)."""

    rotation: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        rot = self.rotation.tolist() if isinstance(self.rotation, np.ndarray) else self.rotation
        if not isinstance(rot, (list, tuple)) or len(rot) != 3:
            raise ModelFormatError(f"rotation: expected a 3x3 matrix, got {self.rotation!r}")
        rows = tuple(_vector(r, 3, f"rotation[{i}]") for i, r in enumerate(rot))
        m = np.asarray(rows)
        if not np.allclose(m @ m.T, np.eye(3), atol=1e-9) or np.linalg.det(m) < 0:
            raise ModelFormatError(f"rotation: not a proper rotation matrix: {rows}")
        object.__setattr__(self, "rotation", rows)
        object.__setattr__(self, "translation", _vector(self.translation, 3, "translation"))

    def matrix(self) -> np.ndarray:
        """The 4x4 homogeneous transform."""
        out = np.eye(4)
        out[:3, :3] = self.rotation
        out[:3, 3] = self.translation
        return out


@dataclass(frozen=True)
class TransformAxis:
    """One of a joint's six axes: unit ``axis`` in the parent offset frame, ``function`` of ``coordinate``
    (None for a constant function); the value is an angle (rad) or a displacement (m)."""

    axis: tuple[float, float, float]
    function: Function
    coordinate: str | None = None

    def __post_init__(self) -> None:
        axis = np.asarray(_vector(self.axis, 3, "axis"))
        norm = float(np.linalg.norm(axis))
        if norm < 1e-12:
            raise ModelFormatError(f"axis: zero vector {tuple(axis)}")
        object.__setattr__(self, "axis", tuple(float(v) for v in axis / norm))
        if not isinstance(self.function, _FUNCTION_TYPES):
            raise ModelFormatError(f"function: expected a function, got {self.function!r}")
        if self.coordinate is not None and (not isinstance(self.coordinate, str) or not self.coordinate):
            raise ModelFormatError(f"coordinate: expected a name or null, got {self.coordinate!r}")


@dataclass(frozen=True)
class Joint:
    """The joint between a body and its parent: X_parent_body = parent_offset * X_FM(q) * child_offset^-1."""

    name: str
    opensim_type: str  # the OpenSim class it was exported from (informational)
    parent_offset: RigidTransform
    child_offset: RigidTransform
    axes: tuple[TransformAxis, ...]  # rotation1..3, translation1..3

    def __post_init__(self) -> None:
        _str(self.name, "Joint.name")
        if len(self.axes) != 6 or not all(isinstance(a, TransformAxis) for a in self.axes):
            raise ModelFormatError(f"joint {self.name}: expected 6 transform axes, got {len(self.axes)}")
        object.__setattr__(self, "axes", tuple(self.axes))


@dataclass(frozen=True)
class Body:
    name: str
    parent: int  # index into SkeletonModel.bodies, or GROUND (-1)
    mass_kg: float
    mass_centre_m: tuple[float, float, float]  # in the body frame
    joint: Joint

    def __post_init__(self) -> None:
        _str(self.name, "Body.name")
        if isinstance(self.parent, bool) or not isinstance(self.parent, int):
            raise ModelFormatError(f"body {self.name}: parent must be an int, got {self.parent!r}")
        mass = _float(self.mass_kg, f"body {self.name}: mass_kg")
        if mass < 0:
            raise ModelFormatError(f"body {self.name}: mass_kg must be >= 0, got {mass}")
        object.__setattr__(self, "mass_kg", mass)
        object.__setattr__(self, "mass_centre_m", _vector(self.mass_centre_m, 3, f"body {self.name}: mass_centre_m"))


@dataclass(frozen=True)
class Coordinate:
    name: str
    motion_type: MotionType
    default_value: float  # rad or m
    range_min: float
    range_max: float
    locked: bool = False

    def __post_init__(self) -> None:
        _str(self.name, "Coordinate.name")
        if not isinstance(self.motion_type, MotionType):
            raise ModelFormatError(f"coordinate {self.name}: motion_type must be a MotionType, got {self.motion_type!r}")
        for f in ("default_value", "range_min", "range_max"):
            object.__setattr__(self, f, _float(getattr(self, f), f"coordinate {self.name}: {f}"))
        if self.range_min > self.range_max:
            raise ModelFormatError(f"coordinate {self.name}: range_min {self.range_min} > range_max {self.range_max}")
        if not isinstance(self.locked, bool):
            raise ModelFormatError(f"coordinate {self.name}: locked must be true or false, got {self.locked!r}")


@dataclass(frozen=True)
class DependentCoordinate:
    """A coordinate set by a CoordinateCouplerConstraint: value = function(independent coordinate)."""

    name: str
    motion_type: MotionType
    independent: str
    function: Function

    def __post_init__(self) -> None:
        _str(self.name, "DependentCoordinate.name")
        _str(self.independent, f"dependent coordinate {self.name}: independent")
        if not isinstance(self.motion_type, MotionType):
            raise ModelFormatError(f"dependent coordinate {self.name}: bad motion_type {self.motion_type!r}")
        if not isinstance(self.function, _FUNCTION_TYPES):
            raise ModelFormatError(f"dependent coordinate {self.name}: bad function {self.function!r}")


@dataclass(frozen=True)
class Marker:
    name: str
    body: int  # index into SkeletonModel.bodies
    offset_m: tuple[float, float, float]

    def __post_init__(self) -> None:
        _str(self.name, "Marker.name")
        if isinstance(self.body, bool) or not isinstance(self.body, int):
            raise ModelFormatError(f"marker {self.name}: body must be an int, got {self.body!r}")
        object.__setattr__(self, "offset_m", _vector(self.offset_m, 3, f"marker {self.name}: offset_m"))


def _unique(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ModelFormatError(f"duplicate {what} name {n!r}")
        seen.add(n)


@dataclass(frozen=True)
class SkeletonModel:
    """A skeletal model: coordinates, bodies (topological order, ground = root), markers, metadata."""

    name: str
    coordinates: tuple[Coordinate, ...]
    bodies: tuple[Body, ...]
    markers: tuple[Marker, ...] = ()
    dependent_coordinates: tuple[DependentCoordinate, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _str(self.name, "SkeletonModel.name")
        for f in ("coordinates", "bodies", "markers", "dependent_coordinates"):
            object.__setattr__(self, f, tuple(getattr(self, f)))
        if not self.bodies:
            raise ModelFormatError("model has no bodies")
        _unique([c.name for c in self.coordinates] + [c.name for c in self.dependent_coordinates], "coordinate")
        _unique([b.name for b in self.bodies], "body")
        _unique([m.name for m in self.markers], "marker")
        for i, b in enumerate(self.bodies):
            if not GROUND <= b.parent < i:
                raise ModelFormatError(
                    f"body {b.name}: parent index {b.parent} must be -1 (ground) or an earlier body (< {i})")
        independent = set(self.coordinate_names)
        for dc in self.dependent_coordinates:
            if dc.independent not in independent:
                raise ModelFormatError(
                    f"dependent coordinate {dc.name}: independent coordinate {dc.independent!r} is not in the model")
        known = independent | {dc.name for dc in self.dependent_coordinates}
        for b in self.bodies:
            for k, ax in enumerate(b.joint.axes):
                if ax.coordinate is not None and ax.coordinate not in known:
                    raise ModelFormatError(
                        f"joint {b.joint.name} axis {k}: unknown coordinate {ax.coordinate!r}")
        for m in self.markers:
            if not 0 <= m.body < len(self.bodies):
                raise ModelFormatError(f"marker {m.name}: body index {m.body} out of range 0..{len(self.bodies) - 1}")

    # ---- lookups
    @property
    def coordinate_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.coordinates)

    @property
    def body_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bodies)

    @property
    def marker_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.markers)

    @property
    def n_coordinates(self) -> int:
        return len(self.coordinates)

    def default_q(self) -> np.ndarray:
        """Default values of the independent coordinates, (n_coordinates,) rad / m."""
        return np.array([c.default_value for c in self.coordinates], dtype=float)

    def coordinate_index(self, name: str) -> int:
        """Index of an independent coordinate. Raises KeyError naming the coordinate."""
        try:
            return self.coordinate_names.index(name)
        except ValueError:
            raise KeyError(f"coordinate {name!r} not in model {self.name}") from None

    def body_index(self, name: str) -> int:
        """Index of a body. Raises KeyError naming the body."""
        try:
            return self.body_names.index(name)
        except ValueError:
            raise KeyError(f"body {name!r} not in model {self.name}") from None

    @cached_property
    def compiled(self) -> CompiledModel:
        """Array form used by the forward-kinematics back-ends (built once per model)."""
        return CompiledModel.build(self)

    # ---- scaling
    def scaled(self, body_scales: Mapping[str, Sequence[float] | np.ndarray],
               mass_kg: float | None = None) -> SkeletonModel:
        """A copy scaled per body as OpenSim's Model.scale / ScaleTool does.

        Body-fixed offsets of each listed body (joint offset frames in it, markers on it, its mass
        centre) are multiplied elementwise by its scale factors; each translation function of a joint
        is wrapped in a Multiplier by (axis . s_parent) of the joint's parent body (ground is never
        scaled). Bodies not listed keep scale 1.

        Args:
            body_scales: body name -> (3,) positive scale factors along the body's x, y, z.
            mass_kg: if given, all masses are multiplied by one factor so they sum to it (OpenSim's
                "preserve mass distribution"); otherwise masses are unchanged.

        Returns:
            The scaled model (metadata records the scale set).

        Raises:
            KeyError: a name in body_scales is not a body of the model.
            ValueError: a scale vector is not 3 positive finite numbers, or mass_kg is not positive.
        """
        scales = np.ones((len(self.bodies), 3))
        for name, s in body_scales.items():
            s_arr = np.asarray(s, dtype=float)
            if s_arr.shape != (3,) or not np.all(np.isfinite(s_arr)) or np.any(s_arr <= 0):
                raise ValueError(f"scale factors of body {name!r}: expected 3 positive numbers, got {s!r}")
            scales[self.body_index(name)] = s_arr
        bodies = []
        for i, b in enumerate(self.bodies):
            s_child = scales[i]
            s_parent = scales[b.parent] if b.parent != GROUND else None
            j = b.joint
            axes = list(j.axes)
            if s_parent is not None:
                for k in range(3, 6):
                    ax = axes[k]
                    factor = float(np.dot(ax.axis, s_parent))
                    f = ax.function
                    f = Multiplier(f.scale * factor, f.function) if isinstance(f, Multiplier) else Multiplier(factor, f)
                    axes[k] = TransformAxis(ax.axis, f, ax.coordinate)
            parent_offset = RigidTransform(
                j.parent_offset.rotation,
                tuple(np.asarray(j.parent_offset.translation) * (s_parent if s_parent is not None else 1.0)))
            child_offset = RigidTransform(j.child_offset.rotation, tuple(np.asarray(j.child_offset.translation) * s_child))
            joint = Joint(j.name, j.opensim_type, parent_offset, child_offset, tuple(axes))
            bodies.append(Body(b.name, b.parent, b.mass_kg, tuple(np.asarray(b.mass_centre_m) * s_child), joint))
        if mass_kg is not None:
            total = sum(b.mass_kg for b in bodies)
            if not (mass_kg > 0 and math.isfinite(mass_kg)) or total <= 0:
                raise ValueError(f"mass_kg must be positive (model mass {total} kg), got {mass_kg!r}")
            bodies = [Body(b.name, b.parent, b.mass_kg * mass_kg / total, b.mass_centre_m, b.joint) for b in bodies]
        markers = tuple(Marker(m.name, m.body, tuple(np.asarray(m.offset_m) * scales[m.body])) for m in self.markers)
        metadata = dict(self.metadata)
        metadata["scaled_from"] = self.name
        metadata["body_scales"] = {self.bodies[i].name: scales[i].tolist() for i in range(len(self.bodies))
                                   if np.any(scales[i] != 1.0)}
        return SkeletonModel(self.name, self.coordinates, tuple(bodies), markers, self.dependent_coordinates,
                             metadata)

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (inverse of ``from_dict``)."""

        def transform(t: RigidTransform) -> dict[str, Any]:
            return {"rotation": [list(r) for r in t.rotation], "translation": list(t.translation)}

        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "metadata": dict(self.metadata),
            "coordinates": [
                {"name": c.name, "motion_type": c.motion_type.value, "default_value": c.default_value,
                 "range_min": c.range_min, "range_max": c.range_max, "locked": c.locked}
                for c in self.coordinates],
            "dependent_coordinates": [
                {"name": c.name, "motion_type": c.motion_type.value, "independent": c.independent,
                 "function": function_to_dict(c.function)}
                for c in self.dependent_coordinates],
            "bodies": [
                {"name": b.name, "parent": b.parent, "mass_kg": b.mass_kg, "mass_centre_m": list(b.mass_centre_m),
                 "joint": {"name": b.joint.name, "opensim_type": b.joint.opensim_type,
                           "parent_offset": transform(b.joint.parent_offset),
                           "child_offset": transform(b.joint.child_offset),
                           "axes": [{"axis": list(a.axis), "coordinate": a.coordinate,
                                     "function": function_to_dict(a.function)} for a in b.joint.axes]}}
                for b in self.bodies],
            "markers": [{"name": m.name, "body": m.body, "offset_m": list(m.offset_m)} for m in self.markers],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "model") -> SkeletonModel:
        """Build a model from ``to_dict``'s output.

        Raises:
            ModelFormatError: a field is missing or has the wrong type/shape (message names it).
        """

        def wrap(where: str, build):  # re-raise with the field path in front
            try:
                return build()
            except ModelFormatError as exc:
                raise ModelFormatError(f"{source}: {where}: {exc}") from None

        version = _get(d, "format_version", source)
        if version != FORMAT_VERSION:
            raise ModelFormatError(f"{source}: format_version {version!r} not supported (expected {FORMAT_VERSION})")

        def motion(v: Any, where: str) -> MotionType:
            try:
                return MotionType(v)
            except ValueError:
                raise ModelFormatError(f"{where}: motion_type must be one of "
                                       f"{[m.value for m in MotionType]}, got {v!r}") from None

        def lst(key: str) -> list:
            v = _get(d, key, source)
            if not isinstance(v, list):
                raise ModelFormatError(f"{source}: field '{key}' must be a list, got {type(v).__name__}")
            return v

        def transform(t: Any, where: str) -> RigidTransform:
            return RigidTransform(_get(t, "rotation", where), _get(t, "translation", where))

        coords = []
        for i, c in enumerate(lst("coordinates")):
            w = f"coordinates[{i}]"
            coords.append(wrap(w, lambda c=c, w=w: Coordinate(
                _get(c, "name", w), motion(_get(c, "motion_type", w), w), _get(c, "default_value", w),
                _get(c, "range_min", w), _get(c, "range_max", w), _get(c, "locked", w))))
        deps = []
        for i, c in enumerate(lst("dependent_coordinates")):
            w = f"dependent_coordinates[{i}]"
            deps.append(wrap(w, lambda c=c, w=w: DependentCoordinate(
                _get(c, "name", w), motion(_get(c, "motion_type", w), w), _get(c, "independent", w),
                function_from_dict(_get(c, "function", w), "function"))))
        bodies = []
        for i, b in enumerate(lst("bodies")):
            w = f"bodies[{i}]"

            def build_body(b=b, w=w) -> Body:
                j = _get(b, "joint", w)
                axes_raw = _get(j, "axes", "joint")
                if not isinstance(axes_raw, list):
                    raise ModelFormatError(f"joint.axes: expected a list, got {axes_raw!r}")
                axes = tuple(TransformAxis(_get(a, "axis", f"joint.axes[{k}]"),
                                           function_from_dict(_get(a, "function", f"joint.axes[{k}]"),
                                                              f"joint.axes[{k}].function"),
                                           _get(a, "coordinate", f"joint.axes[{k}]"))
                             for k, a in enumerate(axes_raw))
                joint = Joint(_get(j, "name", "joint"), _get(j, "opensim_type", "joint"),
                              transform(_get(j, "parent_offset", "joint"), "joint.parent_offset"),
                              transform(_get(j, "child_offset", "joint"), "joint.child_offset"), axes)
                return Body(_get(b, "name", w), _get(b, "parent", w), _get(b, "mass_kg", w),
                            _get(b, "mass_centre_m", w), joint)

            bodies.append(wrap(w, build_body))
        markers = []
        for i, m in enumerate(lst("markers")):
            w = f"markers[{i}]"
            markers.append(wrap(w, lambda m=m, w=w: Marker(_get(m, "name", w), _get(m, "body", w),
                                                           _get(m, "offset_m", w))))
        metadata = _get(d, "metadata", source)
        if not isinstance(metadata, Mapping):
            raise ModelFormatError(f"{source}: metadata must be an object, got {metadata!r}")
        try:
            return cls(_get(d, "name", source), tuple(coords), tuple(bodies), tuple(markers), tuple(deps),
                       dict(metadata))
        except ModelFormatError as exc:
            raise ModelFormatError(f"{source}: {exc}") from None

    def save(self, path: str | Path) -> None:
        """Write the model as JSON (floats round-trip exactly)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> SkeletonModel:
        """Read a model written by ``save``.

        Raises:
            FileNotFoundError: no such file.
            ModelFormatError: not valid JSON, or a field is missing or malformed (message names file and field).
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelFormatError(f"{path}: not valid JSON: {exc}") from None
        return cls.from_dict(data, source=str(path))


def load_default() -> SkeletonModel:
    """The product's model: pose2sim's Model_Pose2Sim_simple with the BlazePose marker set."""
    return SkeletonModel.load(ASSETS_DIR / DEFAULT_MODEL_FILE)


# --------------------------------------------------------------------------------------------------
# Array form for the forward-kinematics back-ends


def _fold(f: Function, scale: float = 1.0) -> tuple[str, Any]:
    """Reduce a function to (kind, parameters) with any Multiplier folded into the parameters."""
    if isinstance(f, Multiplier):
        return _fold(f.function, scale * f.scale)
    if isinstance(f, Constant):
        return "constant", scale * f.value
    if isinstance(f, Linear):
        return "linear", (scale * f.slope, scale * f.intercept)
    if isinstance(f, Polynomial):
        return "polynomial", scale * np.asarray(f.coefficients)
    knots, coef = f.coefficient_table()
    return "spline", (knots, scale * coef)


@dataclass(frozen=True, eq=False)
class FunctionTable:
    """Many functions of one coordinate each, grouped by kind, evaluated together into ``n_out`` slots.

    The input vector is the extended coordinate vector [independent q, dependent q] (or only the
    independent ones when evaluating dependent coordinates). Slots of constant functions hold ``constants``.
    """

    n_out: int
    constants: np.ndarray  # (n_out,) constant values (0 where another kind fills the slot)
    lin_slot: np.ndarray  # (n_lin,) int
    lin_coord: np.ndarray  # (n_lin,) int
    lin_slope: np.ndarray  # (n_lin,)
    lin_intercept: np.ndarray  # (n_lin,)
    poly_slot: np.ndarray  # (n_poly,) int
    poly_coord: np.ndarray  # (n_poly,) int
    poly_coef: np.ndarray  # (n_poly, max_order + 1), highest power first, zero-padded on the left
    spl_slot: np.ndarray  # (n_spl,) int
    spl_coord: np.ndarray  # (n_spl,) int
    spl_knots: np.ndarray  # (n_spl, max_knots), padded with +inf
    spl_coef: np.ndarray  # (n_spl, max_knots, 4) [y, b, c, d] per knot, c = d = 0 on the last knot

    @classmethod
    def build(cls, entries: Sequence[tuple[Function, int | None]]) -> FunctionTable:
        """entries[i] = (function, coordinate index or None) fills slot i."""
        n = len(entries)
        constants = np.zeros(n)
        lin, poly, spl = [], [], []
        for slot, (f, coord) in enumerate(entries):
            kind, p = _fold(f)
            if kind == "constant" or coord is None:
                if kind != "constant":
                    raise ModelFormatError(f"slot {slot}: a {kind} function needs a coordinate")
                constants[slot] = p
            elif kind == "linear":
                lin.append((slot, coord, *p))
            elif kind == "polynomial":
                poly.append((slot, coord, p))
            else:
                spl.append((slot, coord, *p))
        order = max((p.size for _, _, p in poly), default=1)
        poly_coef = np.zeros((len(poly), order))
        for i, (_, _, p) in enumerate(poly):
            poly_coef[i, order - p.size:] = p
        n_knots = max((k.size for _, _, k, _ in spl), default=1)
        spl_knots = np.full((len(spl), n_knots), np.inf)
        spl_coef = np.zeros((len(spl), n_knots, 4))
        for i, (_, _, k, c) in enumerate(spl):
            spl_knots[i, :k.size] = k
            spl_coef[i, :k.size] = c
        ints = lambda rows, i: np.array([r[i] for r in rows], dtype=np.intp)  # noqa: E731
        flts = lambda rows, i: np.array([r[i] for r in rows], dtype=float)  # noqa: E731
        return cls(n, constants, ints(lin, 0), ints(lin, 1), flts(lin, 2), flts(lin, 3),
                   ints(poly, 0), ints(poly, 1), poly_coef,
                   ints(spl, 0), ints(spl, 1), spl_knots, spl_coef)


def _cross_matrices(axes: np.ndarray) -> np.ndarray:
    """[a]x for unit axes (..., 3) -> (..., 3, 3)."""
    out = np.zeros(axes.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -axes[..., 2], axes[..., 1]
    out[..., 1, 0], out[..., 1, 2] = axes[..., 2], -axes[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -axes[..., 1], axes[..., 0]
    return out


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """Arrays for batched forward kinematics (numpy; fk_torch converts them to tensors).

    Bodies are held in breadth-first order (``order[i]`` = model index of internal body i), so each
    tree level is a contiguous slice. For internal body i with joint frames F (rotation P, origin f in
    the parent body) and M (rotation C, origin m in the body), the body's pose in its parent is
        R = (P R1) R2 (R3 C^T),   p = f + sum_k t_k P a_k - R m,
    where R_k = cos(theta_k) (I - a a^T) + sin(theta_k) [a]x + a a^T (Rodrigues); ``rot_basis`` holds
    the three constant matrices of each R_k (P and C^T folded into the first and third), so one batched
    product with [cos, sin, 1] builds all rotations. The 6 n axis functions are in one FunctionTable
    (slot 6 i + k), the dependent coordinates in another.
    """

    n_coordinates: int
    order: np.ndarray  # (n,) model body index of each internal body
    levels: tuple[tuple[int, int, np.ndarray], ...]  # (start, stop, internal parent of each body in the slice)
    rot_basis: np.ndarray  # (n, 3 [rotation k], 3 [cos, sin, 1], 9 [3x3 row-major])
    trans_dirs: np.ndarray  # (n, 3, 3): row k = P a_k, translation axis k in the parent body
    parent_pos: np.ndarray  # (n, 3) f
    child_pos: np.ndarray  # (n, 3) m: joint centre in the body
    axis_functions: FunctionTable  # 6 n slots, inputs: [independent q, dependent q]
    dependent_functions: FunctionTable  # n_dependent slots, inputs: independent q
    marker_body: np.ndarray  # (n_markers,) internal body index
    marker_offset: np.ndarray  # (n_markers, 3)
    mass: np.ndarray  # (n,)
    mass_centre: np.ndarray  # (n, 3)

    @classmethod
    def build(cls, model: SkeletonModel) -> CompiledModel:
        names = list(model.coordinate_names) + [d.name for d in model.dependent_coordinates]
        index = {n: i for i, n in enumerate(names)}
        n = len(model.bodies)
        depth = np.zeros(n, dtype=np.intp)
        for i, b in enumerate(model.bodies):
            depth[i] = 0 if b.parent == GROUND else depth[b.parent] + 1
        order = np.argsort(depth, kind="stable")
        internal = np.empty(n, dtype=np.intp)
        internal[order] = np.arange(n)
        bodies = [model.bodies[i] for i in order]
        levels = []
        for d in range(int(depth.max()) + 1):
            members = np.flatnonzero(depth[order] == d)
            parents = np.array([internal[bodies[i].parent] if d else -1 for i in members], dtype=np.intp)
            levels.append((int(members[0]), int(members[-1]) + 1, parents))
        p_rot = np.array([b.joint.parent_offset.rotation for b in bodies])  # (n, 3, 3)
        c_rot_t = np.transpose(np.array([b.joint.child_offset.rotation for b in bodies]), (0, 2, 1))
        axes = np.array([[a.axis for a in b.joint.axes] for b in bodies])  # (n, 6, 3)
        rot_axes = axes[:, :3]
        outer = rot_axes[..., :, None] * rot_axes[..., None, :]  # (n, 3, 3, 3)
        basis = np.stack([np.eye(3) - outer, _cross_matrices(rot_axes), outer], axis=2)  # (n, 3 k, 3, 3, 3)
        basis[:, 0] = p_rot[:, None] @ basis[:, 0]
        basis[:, 2] = basis[:, 2] @ c_rot_t[:, None]
        entries = [(a.function, None if a.coordinate is None else index[a.coordinate])
                   for b in bodies for a in b.joint.axes]
        dep_entries = [(d.function, index[d.independent]) for d in model.dependent_coordinates]
        return cls(
            n_coordinates=model.n_coordinates, order=order, levels=tuple(levels),
            rot_basis=basis.reshape(n, 3, 3, 9),
            trans_dirs=np.einsum("nij,nkj->nki", p_rot, axes[:, 3:]),
            parent_pos=np.array([b.joint.parent_offset.translation for b in bodies]),
            child_pos=np.array([b.joint.child_offset.translation for b in bodies]),
            axis_functions=FunctionTable.build(entries), dependent_functions=FunctionTable.build(dep_entries),
            marker_body=np.array([internal[m.body] for m in model.markers], dtype=np.intp),
            marker_offset=np.array([m.offset_m for m in model.markers]).reshape(-1, 3),
            mass=np.array([b.mass_kg for b in bodies]), mass_centre=np.array([b.mass_centre_m for b in bodies]))
