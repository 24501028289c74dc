"""Export an OpenSim model (.osim, optional marker-set .xml) to a SkeletonModel (offline tool: needs opensim).

Inputs: an .osim file and optionally a MarkerSet .xml (added to / replacing the model's markers).
Output: a ``SkeletonModel`` (edge.skeleton.model), which forward kinematics evaluates without opensim.

Algorithm: coordinates are read in the model's CoordinateSet order; those that a
CoordinateCouplerConstraint makes dependent become ``DependentCoordinate``s. Each joint's parent and
child frames are read as transforms in their base bodies (findTransformInBaseFrame). CustomJoint
SpatialTransforms are copied axis by axis; PinJoint (rotation about the frames' z), UniversalJoint
(about x, then the rotated y) and WeldJoint become the equivalent six axes (conventions checked
against OpenSim's body transforms in tests/edge/skeleton). Every exported function is compared with
OpenSim's own calcValue at sample points; a mismatch raises, so an export is exact or fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.skeleton.model import (
    GROUND, Body, Constant, Coordinate, CubicSpline, DependentCoordinate, Function, Joint, Linear, Marker,
    MotionType, Multiplier, Polynomial, RigidTransform, SkeletonModel, TransformAxis,
)

FUNCTION_TOLERANCE = 1e-9
"""Largest allowed |ours - OpenSim's calcValue| at the check points (absolute, plus relative)."""

_X, _Y, _Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


class ExportError(ValueError):
    """The OpenSim model uses something this exporter cannot represent exactly (message names it)."""


def import_opensim() -> Any:
    """Import opensim with its console logging reduced to errors and its log file off.

    Raises:
        ImportError: opensim is not installed (x86-64 only: pip install opensim==4.6).
    """
    try:
        import opensim
    except ImportError as exc:
        raise ImportError("opensim is needed to export or validate skeletal models but is not installed "
                          "(x86-64 only: pip install 'bige-edge[opensim]', i.e. opensim==4.6)") from exc
    opensim.Logger.setLevelString("error")
    opensim.Logger.removeFileSink()  # no opensim.log in the working directory
    return opensim


def _transform(osim_transform: Any) -> RigidTransform:
    rot = osim_transform.R().asMat33()
    p = osim_transform.p()
    return RigidTransform(tuple(tuple(rot.get(i, j) for j in range(3)) for i in range(3)),
                          tuple(p.get(i) for i in range(3)))


def _convert_function(osim: Any, f: Any, where: str) -> Function:
    kind = f.getConcreteClassName()
    if kind == "Constant":
        return Constant(osim.Constant.safeDownCast(f).getValue())
    if kind == "LinearFunction":
        lf = osim.LinearFunction.safeDownCast(f)
        return Linear(lf.getSlope(), lf.getIntercept())
    if kind == "PolynomialFunction":
        c = osim.PolynomialFunction.safeDownCast(f).getCoefficients()
        return Polynomial(tuple(c.get(i) for i in range(c.size())))
    if kind == "SimmSpline":
        sp = osim.SimmSpline.safeDownCast(f)
        n = sp.getSize()
        xs, ys = sp.getX(), sp.getY()
        return CubicSpline.from_knots([xs.get(i) for i in range(n)], [ys.get(i) for i in range(n)])
    if kind == "MultiplierFunction":
        mf = osim.MultiplierFunction.safeDownCast(f)
        return Multiplier(mf.getScale(), _convert_function(osim, mf.getFunction(), where))
    raise ExportError(f"{where}: OpenSim function type {kind} is not supported "
                      "(Constant, LinearFunction, PolynomialFunction, SimmSpline, MultiplierFunction are)")


def _check_function(osim: Any, f: Any, ours: Function, where: str, lo: float, hi: float) -> None:
    """Compare our function with OpenSim's calcValue on [lo, hi] widened, knots and midpoints included."""
    xs = list(np.linspace(lo - 0.5, hi + 0.5, 41))
    inner = ours.function if isinstance(ours, Multiplier) else ours
    if isinstance(inner, CubicSpline):
        k = np.asarray(inner.x)
        xs += list(k) + list(0.5 * (k[1:] + k[:-1])) + [k[0] - 0.3, k[-1] + 0.3]
    xs_arr = np.asarray(xs)
    theirs = np.array([f.calcValue(osim.Vector(1, float(x))) for x in xs_arr])
    err = np.abs(ours(xs_arr) - theirs)
    bad = err > FUNCTION_TOLERANCE * (1.0 + np.abs(theirs))
    if np.any(bad):
        i = int(np.argmax(err))
        raise ExportError(f"{where}: exported function differs from OpenSim's by {err[i]:.3g} at x = {xs_arr[i]:.6g} "
                          f"({type(ours).__name__})")


def _function(osim: Any, f: Any, where: str, lo: float, hi: float) -> Function:
    ours = _convert_function(osim, f, where)
    _check_function(osim, f, ours, where, lo, hi)
    return ours


def _base_frame_transform(osim: Any, frame: Any, where: str) -> tuple[str, RigidTransform]:
    """(base body name, transform of the frame in it); nested offset frames are rejected (scaling
    them would need the frame chain)."""
    pof = osim.PhysicalOffsetFrame.safeDownCast(frame)
    base = frame.findBaseFrame()
    if pof is not None and pof.getParentFrame().getAbsolutePathString() != base.getAbsolutePathString():
        raise ExportError(f"{where}: offset frame {frame.getAbsolutePathString()} is attached to another offset "
                          "frame, not to a body (nested offset frames are not supported)")
    return base.getName(), _transform(frame.findTransformInBaseFrame())


def export_osim(osim_path: str | Path, marker_set_xml: str | Path | None = None) -> SkeletonModel:
    """Export an OpenSim model to a SkeletonModel.

    Args:
        osim_path: the .osim model file.
        marker_set_xml: optional MarkerSet .xml whose markers are added to the model (replacing any
            of the same name).

    Returns:
        The model: independent coordinates in the CoordinateSet's order, bodies in topological order.

    Raises:
        ImportError: opensim is not installed.
        FileNotFoundError: a file does not exist.
        ExportError: the model uses a joint, constraint or function type that cannot be exported exactly.
    """
    osim = import_opensim()
    osim_path = Path(osim_path)
    for p in (osim_path, marker_set_xml):
        if p is not None and not Path(p).is_file():
            raise FileNotFoundError(f"OpenSim file not found: {p}")
    model = osim.Model(str(osim_path))
    if marker_set_xml is not None:
        model.updateMarkerSet(osim.MarkerSet(str(marker_set_xml)))
    state = model.initSystem()

    # Coupled coordinates.
    dependent: dict[str, tuple[str, Any, float]] = {}
    constraints = model.getConstraintSet()
    for i in range(constraints.getSize()):
        con = constraints.get(i)
        if not con.isEnforced(state):
            continue
        ccc = osim.CoordinateCouplerConstraint.safeDownCast(con)
        if ccc is None:
            raise ExportError(f"{osim_path}: constraint {con.getName()} ({con.getConcreteClassName()}) is not "
                              "supported (only CoordinateCouplerConstraint)")
        names = ccc.getIndependentCoordinateNames()
        if names.getSize() != 1:
            raise ExportError(f"{osim_path}: constraint {con.getName()}: {names.getSize()} independent coordinates "
                              "(only functions of one coordinate are supported)")
        dependent[ccc.getDependentCoordinateName()] = (names.get(0), ccc.getFunction(),
                                                   osim.PropertyHelper.getValueDouble(ccc.getPropertyByName("scale_factor")))

    cset = model.getCoordinateSet()
    osim_coords = [cset.get(i) for i in range(cset.getSize())]
    ranges = {c.getName(): (c.getRangeMin(), c.getRangeMax()) for c in osim_coords}

    # Joints: one per body, in topological order.
    jset = model.getJointSet()
    joints_by_child: dict[str, Any] = {}
    for i in range(jset.getSize()):
        j = jset.get(i)
        child = j.getChildFrame().findBaseFrame().getName()
        if child in joints_by_child:
            raise ExportError(f"{osim_path}: body {child} is the child of two joints (closed loops are not supported)")
        joints_by_child[child] = j
    bset = model.getBodySet()
    body_names = [bset.get(i).getName() for i in range(bset.getSize())]
    missing = [b for b in body_names if b not in joints_by_child]
    if missing:
        raise ExportError(f"{osim_path}: bodies without a joint: {missing}")
    order: list[str] = []
    placed = {"ground"}
    while len(order) < len(body_names):
        ready = [b for b in body_names if b not in placed
                 and joints_by_child[b].getParentFrame().findBaseFrame().getName() in placed]
        if not ready:
            raise ExportError(f"{osim_path}: joints do not form a tree rooted at ground")
        order += ready
        placed.update(ready)
    index = {name: i for i, name in enumerate(order)}

    rotation_coords: set[str] = set()
    translation_coords: set[str] = set()
    bodies = []
    for name in order:
        j = joints_by_child[name]
        where = f"{osim_path.name}: joint {j.getName()}"
        parent_name, parent_offset = _base_frame_transform(osim, j.getParentFrame(), where)
        _, child_offset = _base_frame_transform(osim, j.getChildFrame(), where)
        axes = _joint_axes(osim, j, where, ranges)
        for k, ax in enumerate(axes):
            if ax.coordinate is not None:
                (rotation_coords if k < 3 else translation_coords).add(ax.coordinate)
        body = bset.get(name)
        com = body.getMassCenter()
        bodies.append(Body(name, GROUND if parent_name == "ground" else index[parent_name], body.getMass(),
                           tuple(com.get(i) for i in range(3)),
                           Joint(j.getName(), j.getConcreteClassName(), parent_offset, child_offset, axes)))

    def motion(c: Any) -> MotionType:
        kind = c.getMotionType()
        if kind == 3 and c.getName() in dependent:  # coupled: the kind of its independent coordinate
            return motion(cset.get(dependent[c.getName()][0]))
        if kind == 1 or (kind == 3 and c.getName() in rotation_coords and c.getName() not in translation_coords):
            return MotionType.ROTATIONAL
        if kind == 2 or (kind == 3 and c.getName() in translation_coords and c.getName() not in rotation_coords):
            return MotionType.TRANSLATIONAL
        raise ExportError(f"{osim_path}: coordinate {c.getName()}: cannot tell rotational from translational")

    coordinates, dependents = [], []
    for c in osim_coords:
        if c.getName() in dependent:
            indep, f, scale = dependent[c.getName()]
            lo, hi = ranges[indep]
            func = _function(osim, f, f"{osim_path.name}: coupler of {c.getName()}", lo, hi)
            dependents.append(DependentCoordinate(c.getName(), motion(c), indep,
                                                  func if scale == 1.0 else Multiplier(scale, func)))
        else:
            coordinates.append(Coordinate(c.getName(), motion(c), c.getDefaultValue(), c.getRangeMin(),
                                          c.getRangeMax(), bool(c.get_locked())))

    markers = []
    mset = model.getMarkerSet()
    for i in range(mset.getSize()):
        m = mset.get(i)
        base, t = _base_frame_transform(osim, m.getParentFrame(), f"{osim_path.name}: marker {m.getName()}")
        if base == "ground":
            raise ExportError(f"{osim_path.name}: marker {m.getName()} is fixed to ground (not supported)")
        loc = m.get_location()
        offset = t.matrix() @ np.array([loc.get(0), loc.get(1), loc.get(2), 1.0])
        markers.append(Marker(m.getName(), index[base], tuple(offset[:3])))

    metadata = {"source_osim": osim_path.name, "opensim_model_name": model.getName(),
                "opensim_version": osim.GetVersion()}
    if marker_set_xml is not None:
        metadata["source_marker_set"] = Path(marker_set_xml).name
    return SkeletonModel(model.getName(), tuple(coordinates), tuple(bodies), tuple(markers), tuple(dependents),
                         metadata)


def _joint_axes(osim: Any, j: Any, where: str, ranges: dict[str, tuple[float, float]]) -> tuple[TransformAxis, ...]:
    kind = j.getConcreteClassName()
    zero = Constant(0.0)
    coords = [j.get_coordinates(i).getName() for i in range(j.numCoordinates())]
    if kind == "CustomJoint":
        st = osim.CustomJoint.safeDownCast(j).getSpatialTransform()
        axes = []
        for k in range(6):
            ta = st.getTransformAxis(k)
            a = ta.getAxis()
            names = ta.getCoordinateNamesInArray()
            if names.getSize() > 1:
                raise ExportError(f"{where}: axis {k} depends on {names.getSize()} coordinates (only one is supported)")
            coord = names.get(0) if names.getSize() == 1 else None
            if not ta.hasFunction():
                func: Function = zero
            else:
                lo, hi = ranges[coord] if coord is not None else (-1.0, 1.0)
                func = _function(osim, ta.getFunction(), f"{where} axis {k}", lo, hi)
                if coord is None and not isinstance(func, Constant) and not (
                        isinstance(func, Multiplier) and isinstance(func.function, Constant)):
                    raise ExportError(f"{where}: axis {k} has a non-constant function but no coordinate")
            axes.append(TransformAxis(tuple(a.get(i) for i in range(3)), func, coord))
        return tuple(axes)
    if kind == "PinJoint":
        return (TransformAxis(_Z, Linear(1.0, 0.0), coords[0]), TransformAxis(_X, zero), TransformAxis(_Y, zero),
                TransformAxis(_X, zero), TransformAxis(_Y, zero), TransformAxis(_Z, zero))
    if kind == "UniversalJoint":
        return (TransformAxis(_X, Linear(1.0, 0.0), coords[0]), TransformAxis(_Y, Linear(1.0, 0.0), coords[1]),
                TransformAxis(_Z, zero), TransformAxis(_X, zero), TransformAxis(_Y, zero), TransformAxis(_Z, zero))
    if kind == "WeldJoint":
        return (TransformAxis(_X, zero), TransformAxis(_Y, zero), TransformAxis(_Z, zero),
                TransformAxis(_X, zero), TransformAxis(_Y, zero), TransformAxis(_Z, zero))
    raise ExportError(f"{where}: joint type {kind} is not supported (CustomJoint, PinJoint, UniversalJoint, "
                      "WeldJoint are)")
