"""Batched forward kinematics of a SkeletonModel in numpy (live path: no opensim, no torch).

Inputs: a ``SkeletonModel`` and coordinates q, (B, n_coordinates) or (n_coordinates,), in the model's
own coordinate order, radians / metres (independent coordinates only; coupled ones are computed).
Outputs: body world transforms (B, n_bodies, 4, 4), marker positions (B, n_markers, 3), joint
centres (B, n_bodies, 3), centre of mass (B, 3); a 1-D q gives outputs without the batch axis.

Algorithm: all 6 x n_bodies transform-axis functions are evaluated at once (grouped by kind:
constant, linear, polynomial, cubic spline); every joint's three rotations are built by one batched
product of [cos, sin, 1] with precomputed Rodrigues matrices (the joint's offset-frame rotations folded
in, see CompiledModel), giving each body's pose in its parent body; the tree is then composed level by
level (bodies are held in breadth-first order, one batched product per tree depth). No Python loop
runs over the batch or over the bodies.
"""

from __future__ import annotations

import numpy as np

from edge.skeleton.model import CompiledModel, FunctionTable, SkeletonModel

def _as_batch(model: SkeletonModel, q: np.ndarray) -> tuple[np.ndarray, bool]:
    q = np.asarray(q, dtype=float)
    single = q.ndim == 1
    q2 = q[None] if single else q
    if q2.ndim != 2 or q2.shape[1] != model.n_coordinates:
        raise ValueError(f"q: expected shape (B, {model.n_coordinates}) or ({model.n_coordinates},) "
                         f"for model {model.name}, got {q.shape}")
    return q2, single


def evaluate_functions(table: FunctionTable, x: np.ndarray) -> np.ndarray:
    """Evaluate every function of a FunctionTable: x (B, n_inputs) -> (B, table.n_out)."""
    out = np.broadcast_to(table.constants, (x.shape[0], table.n_out)).copy()
    if table.lin_slot.size:
        out[:, table.lin_slot] = x[:, table.lin_coord] * table.lin_slope + table.lin_intercept
    if table.poly_slot.size:
        xp = x[:, table.poly_coord]  # (B, n_poly)
        acc = np.zeros_like(xp)
        for k in range(table.poly_coef.shape[1]):  # Horner over the (few) orders
            acc = acc * xp + table.poly_coef[:, k]
        out[:, table.poly_slot] = acc
    if table.spl_slot.size:
        xs = x[:, table.spl_coord]  # (B, n_spl)
        seg = (xs[:, :, None] >= table.spl_knots[None, :, 1:]).sum(-1)  # (B, n_spl) knot index
        rows = np.arange(table.spl_slot.size)[None, :]
        coef = table.spl_coef[rows, seg]  # (B, n_spl, 4)
        dx = xs - table.spl_knots[rows, seg]
        cubic = xs >= table.spl_knots[:, 0]  # left of the first knot: linear extrapolation
        out[:, table.spl_slot] = coef[..., 0] + dx * (coef[..., 1] + cubic * dx * (coef[..., 2] + dx * coef[..., 3]))
    return out


def extended_coordinates(model: SkeletonModel, q: np.ndarray) -> np.ndarray:
    """[independent q, dependent q]: (B, n_coordinates + n_dependent) from q (B, n_coordinates)."""
    c = model.compiled
    if not model.dependent_coordinates:
        return q
    return np.concatenate([q, evaluate_functions(c.dependent_functions, q)], axis=1)


def _local_poses(c: CompiledModel, q_ext: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each (internal-order) body's pose in its parent body: rotation (B, n, 3, 3), position (B, n, 3)."""
    n = c.rot_basis.shape[0]
    values = evaluate_functions(c.axis_functions, q_ext).reshape(q_ext.shape[0], n, 6)  # (B, n, 6)
    angles = values[..., :3]
    trig = np.stack([np.cos(angles), np.sin(angles), np.ones_like(angles)], axis=-1)  # (B, n, 3, 3)
    rk = (trig[..., None, :] @ c.rot_basis).reshape(q_ext.shape[0], n, 3, 3, 3)  # (B, n, k, 3, 3)
    rot = rk[:, :, 0] @ rk[:, :, 1] @ rk[:, :, 2]  # (B, n, 3, 3)
    pos = c.parent_pos + (values[..., None, 3:] @ c.trans_dirs)[..., 0, :] - (rot @ c.child_pos[..., None])[..., 0]
    return rot, pos


def _world_poses(model: SkeletonModel, q2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rotation (B, n, 3, 3) and origin (B, n, 3) of the bodies in the compiled (breadth-first) order."""
    c = model.compiled
    rot, pos = _local_poses(c, extended_coordinates(model, q2))
    for start, stop, parents in c.levels[1:]:  # level 0 hangs on ground: local = world
        r_parent = rot[:, parents]
        pos[:, start:stop] = pos[:, parents] + (r_parent @ pos[:, start:stop, :, None])[..., 0]
        rot[:, start:stop] = r_parent @ rot[:, start:stop]
    return rot, pos


def body_poses(model: SkeletonModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rotation (B, n_bodies, 3, 3) and origin (B, n_bodies, 3) of every body.

    Args:
        model: the skeletal model.
        q: (B, n_coordinates) or (n_coordinates,) independent coordinates, rad / m.

    Returns:
        (rotation, position); without the batch axis for a 1-D q.

    Raises:
        ValueError: q has the wrong shape.
    """
    q2, single = _as_batch(model, q)
    rot, pos = _world_poses(model, q2)
    back = np.argsort(model.compiled.order)  # internal -> model order
    rot, pos = rot[:, back], pos[:, back]
    return (rot[0], pos[0]) if single else (rot, pos)


def body_transforms(model: SkeletonModel, q: np.ndarray) -> np.ndarray:
    """World transforms of the bodies, (B, n_bodies, 4, 4) (or (n_bodies, 4, 4) for a 1-D q).

    Raises:
        ValueError: q has the wrong shape.
    """
    q2, single = _as_batch(model, q)
    rot, pos = _world_poses(model, q2)
    back = np.argsort(model.compiled.order)
    out = np.zeros(rot.shape[:2] + (4, 4))
    out[..., :3, :3] = rot[:, back]
    out[..., :3, 3] = pos[:, back]
    out[..., 3, 3] = 1.0
    return out[0] if single else out


def marker_positions(model: SkeletonModel, q: np.ndarray) -> np.ndarray:
    """Marker positions in ground, (B, n_markers, 3) (or (n_markers, 3) for a 1-D q).

    Raises:
        ValueError: q has the wrong shape.
    """
    q2, single = _as_batch(model, q)
    rot, pos = _world_poses(model, q2)
    c = model.compiled
    out = pos[:, c.marker_body] + (rot[:, c.marker_body] @ c.marker_offset[..., None])[..., 0]
    return out[0] if single else out


def joint_centres(model: SkeletonModel, q: np.ndarray) -> np.ndarray:
    """Origin of each body's joint child frame in ground, (B, n_bodies, 3) (or (n_bodies, 3)).

    Raises:
        ValueError: q has the wrong shape.
    """
    q2, single = _as_batch(model, q)
    rot, pos = _world_poses(model, q2)
    c = model.compiled
    out = (pos + (rot @ c.child_pos[..., None])[..., 0])[:, np.argsort(c.order)]
    return out[0] if single else out


def centre_of_mass(model: SkeletonModel, q: np.ndarray) -> np.ndarray:
    """Whole-body centre of mass in ground, (B, 3) (or (3,) for a 1-D q).

    Raises:
        ValueError: q has the wrong shape, or the model has no mass.
    """
    q2, single = _as_batch(model, q)
    c = model.compiled
    total = c.mass.sum()
    if not total > 0:
        raise ValueError(f"model {model.name} has no mass: centre of mass undefined")
    rot, pos = _world_poses(model, q2)
    com_bodies = pos + (rot @ c.mass_centre[..., None])[..., 0]  # (B, n, 3)
    out = (c.mass @ com_bodies) / total  # (B, 3)
    return out[0] if single else out
