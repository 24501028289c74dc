"""Skeletal model exported from OpenSim and its forward kinematics, usable without opensim.

- ``edge.skeleton.model``: ``SkeletonModel`` (JSON load/save, scaling), ``load_default()``.
- ``edge.skeleton.fk``: batched numpy forward kinematics (live path).
- ``edge.skeleton.fk_torch``: the same in torch, differentiable (imports torch).
- ``edge.skeleton.bige_map``: model coordinates <-> the 33 BIGE coordinates.
- ``edge.skeleton.export``: .osim -> SkeletonModel (offline; imports opensim lazily).
"""
