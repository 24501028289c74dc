"""Batched forward kinematics of a SkeletonModel in torch, differentiable with respect to q.

Same algorithm and outputs as edge.skeleton.fk (numpy): q (B, n_coordinates) or (n_coordinates,)
in rad / m -> body transforms (B, n_bodies, 4, 4), marker positions (B, n_markers, 3), joint centres
(B, n_bodies, 3), centre of mass (B, 3). Results take q's dtype and device; the model's constant
arrays are converted once per (model, dtype, device) and cached. Spline segment lookup is piecewise
constant, so gradients are those of the active cubic piece (exact except exactly at knots).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edge.skeleton.model import CompiledModel, FunctionTable, SkeletonModel


@dataclass(frozen=True, eq=False)
class _Tables:
    """Tensor copies of a FunctionTable's arrays."""

    constants: torch.Tensor
    lin: tuple[torch.Tensor, ...]
    poly: tuple[torch.Tensor, ...]
    spl: tuple[torch.Tensor, ...]
    n_out: int


@dataclass(frozen=True, eq=False)
class _TorchModel:
    """Tensor copies of a CompiledModel's arrays (see edge.skeleton.model.CompiledModel)."""

    axis_functions: _Tables
    dependent_functions: _Tables
    levels: tuple[tuple[int, int, torch.Tensor], ...]
    back: torch.Tensor  # internal -> model body order
    rot_basis: torch.Tensor
    trans_dirs: torch.Tensor
    parent_pos: torch.Tensor
    child_pos: torch.Tensor
    marker_body: torch.Tensor
    marker_offset: torch.Tensor
    mass: torch.Tensor
    mass_centre: torch.Tensor


def _tables(t: FunctionTable, f, i) -> _Tables:
    return _Tables(f(t.constants), (i(t.lin_slot), i(t.lin_coord), f(t.lin_slope), f(t.lin_intercept)),
                   (i(t.poly_slot), i(t.poly_coord), f(t.poly_coef)),
                   (i(t.spl_slot), i(t.spl_coord), f(t.spl_knots), f(t.spl_coef)), t.n_out)


def _torch_model(model: SkeletonModel, dtype: torch.dtype, device: torch.device) -> _TorchModel:
    # Cached on the model instance itself (as functools.cached_property does), so it lives as long as the model.
    cache: dict[tuple[torch.dtype, torch.device], _TorchModel] = model.__dict__.setdefault("_torch_tables", {})
    key = (dtype, device)
    if key in cache:
        return cache[key]
    c: CompiledModel = model.compiled
    f = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
    i = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long, device=device)  # noqa: E731
    tm = _TorchModel(
        _tables(c.axis_functions, f, i), _tables(c.dependent_functions, f, i),
        tuple((start, stop, i(parents)) for start, stop, parents in c.levels), i(np.argsort(c.order)),
        f(c.rot_basis), f(c.trans_dirs), f(c.parent_pos), f(c.child_pos),
        i(c.marker_body), f(c.marker_offset), f(c.mass), f(c.mass_centre))
    cache[key] = tm
    return tm


def _as_batch(model: SkeletonModel, q: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if not isinstance(q, torch.Tensor):
        raise TypeError(f"q: expected a torch.Tensor, got {type(q).__name__}")
    if not q.is_floating_point():
        raise TypeError(f"q: expected a floating-point tensor, got {q.dtype}")
    single = q.dim() == 1
    q2 = q.unsqueeze(0) if single else q
    if q2.dim() != 2 or q2.shape[1] != model.n_coordinates:
        raise ValueError(f"q: expected shape (B, {model.n_coordinates}) or ({model.n_coordinates},) "
                         f"for model {model.name}, got {tuple(q.shape)}")
    return q2, single


def _evaluate(t: _Tables, x: torch.Tensor) -> torch.Tensor:
    """x (B, n_inputs) -> (B, n_out), differentiable."""
    parts = [t.constants.expand(x.shape[0], t.n_out)]
    slots = []
    lin_slot, lin_coord, slope, intercept = t.lin
    if lin_slot.numel():
        parts.append(x[:, lin_coord] * slope + intercept)
        slots.append(lin_slot)
    poly_slot, poly_coord, poly_coef = t.poly
    if poly_slot.numel():
        xp = x[:, poly_coord]  # (B, n_poly)
        acc = torch.zeros_like(xp)
        for k in range(poly_coef.shape[1]):
            acc = acc * xp + poly_coef[:, k]
        parts.append(acc)
        slots.append(poly_slot)
    spl_slot, spl_coord, knots, coef = t.spl
    if spl_slot.numel():
        xs = x[:, spl_coord]  # (B, n_spl)
        seg = (xs.detach().unsqueeze(-1) >= knots[:, 1:]).sum(-1)  # (B, n_spl)
        rows = torch.arange(spl_slot.numel(), device=x.device).unsqueeze(0).expand_as(seg)
        cf = coef[rows, seg]  # (B, n_spl, 4)
        dx = xs - knots[rows, seg]
        cubic = (xs.detach() >= knots[:, 0]).to(xs.dtype)
        parts.append(cf[..., 0] + dx * (cf[..., 1] + cubic * dx * (cf[..., 2] + dx * cf[..., 3])))
        slots.append(spl_slot)
    if not slots:
        return parts[0]
    # Scatter the function values into their slots (index_copy keeps autograd).
    return parts[0].index_copy(1, torch.cat(slots), torch.cat(parts[1:], dim=1))


def _world_poses(model: SkeletonModel, q2: torch.Tensor) -> tuple[_TorchModel, torch.Tensor, torch.Tensor]:
    """World rotation (B, n, 3, 3) and origin (B, n, 3) of the bodies in the compiled (breadth-first) order."""
    tm = _torch_model(model, q2.dtype, q2.device)
    q_ext = q2
    if model.dependent_coordinates:
        q_ext = torch.cat([q2, _evaluate(tm.dependent_functions, q2)], dim=1)
    batch, n = q2.shape[0], tm.rot_basis.shape[0]
    values = _evaluate(tm.axis_functions, q_ext).reshape(batch, n, 6)  # (B, n, 6)
    angles = values[..., :3]
    trig = torch.stack([torch.cos(angles), torch.sin(angles), torch.ones_like(angles)], dim=-1)  # (B, n, 3, 3)
    rk = (trig.unsqueeze(-2) @ tm.rot_basis).reshape(batch, n, 3, 3, 3)  # (B, n, k, 3, 3)
    local_rot = rk[:, :, 0] @ rk[:, :, 1] @ rk[:, :, 2]  # (B, n, 3, 3)
    local_pos = (tm.parent_pos + (values[..., 3:].unsqueeze(-2) @ tm.trans_dirs).squeeze(-2)
                 - (local_rot @ tm.child_pos.unsqueeze(-1)).squeeze(-1))  # (B, n, 3)
    # Compose level by level; levels are contiguous slices, so the world poses are concatenations.
    rots, poss = [], []
    for start, stop, parents in tm.levels:
        r, p = local_rot[:, start:stop], local_pos[:, start:stop]
        if rots:
            r_all, p_all = torch.cat(rots, dim=1), torch.cat(poss, dim=1)
            r_parent = r_all[:, parents]
            p = p_all[:, parents] + (r_parent @ p.unsqueeze(-1)).squeeze(-1)
            r = r_parent @ r
        rots.append(r)
        poss.append(p)
    return tm, torch.cat(rots, dim=1), torch.cat(poss, dim=1)


def body_poses(model: SkeletonModel, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World rotation (B, n_bodies, 3, 3) and origin (B, n_bodies, 3) of every body.

    Raises:
        TypeError: q is not a floating-point tensor. ValueError: q has the wrong shape.
    """
    q2, single = _as_batch(model, q)
    tm, rot, pos = _world_poses(model, q2)
    rot, pos = rot[:, tm.back], pos[:, tm.back]
    return (rot[0], pos[0]) if single else (rot, pos)


def body_transforms(model: SkeletonModel, q: torch.Tensor) -> torch.Tensor:
    """World transforms of the bodies, (B, n_bodies, 4, 4) (or (n_bodies, 4, 4) for a 1-D q).

    Raises:
        TypeError: q is not a floating-point tensor. ValueError: q has the wrong shape.
    """
    q2, single = _as_batch(model, q)
    tm, rot, pos = _world_poses(model, q2)
    rot, pos = rot[:, tm.back], pos[:, tm.back]
    bottom = torch.zeros(rot.shape[:2] + (1, 4), dtype=rot.dtype, device=rot.device)
    bottom[..., 0, 3] = 1.0
    out = torch.cat([torch.cat([rot, pos.unsqueeze(-1)], dim=-1), bottom], dim=-2)  # (B, n, 4, 4)
    return out[0] if single else out


def marker_positions(model: SkeletonModel, q: torch.Tensor) -> torch.Tensor:
    """Marker positions in ground, (B, n_markers, 3) (or (n_markers, 3) for a 1-D q).

    Raises:
        TypeError: q is not a floating-point tensor. ValueError: q has the wrong shape.
    """
    q2, single = _as_batch(model, q)
    tm, rot, pos = _world_poses(model, q2)
    out = pos[:, tm.marker_body] + (rot[:, tm.marker_body] @ tm.marker_offset.unsqueeze(-1)).squeeze(-1)
    return out[0] if single else out


def joint_centres(model: SkeletonModel, q: torch.Tensor) -> torch.Tensor:
    """Origin of each body's joint child frame in ground, (B, n_bodies, 3) (or (n_bodies, 3)).

    Raises:
        TypeError: q is not a floating-point tensor. ValueError: q has the wrong shape.
    """
    q2, single = _as_batch(model, q)
    tm, rot, pos = _world_poses(model, q2)
    out = (pos + (rot @ tm.child_pos.unsqueeze(-1)).squeeze(-1))[:, tm.back]
    return out[0] if single else out


def centre_of_mass(model: SkeletonModel, q: torch.Tensor) -> torch.Tensor:
    """Whole-body centre of mass in ground, (B, 3) (or (3,) for a 1-D q).

    Raises:
        TypeError: q is not a floating-point tensor. ValueError: q has the wrong shape or the model has no mass.
    """
    q2, single = _as_batch(model, q)
    tm = _torch_model(model, q2.dtype, q2.device)
    total = tm.mass.sum()
    if not bool(total > 0):
        raise ValueError(f"model {model.name} has no mass: centre of mass undefined")
    _, rot, pos = _world_poses(model, q2)
    com_bodies = pos + (rot @ tm.mass_centre.unsqueeze(-1)).squeeze(-1)  # (B, n, 3)
    out = (tm.mass @ com_bodies) / total  # (B, 3)
    return out[0] if single else out
