"""The synthetic subject: the skeletal model squatting, drawn as a shaded mannequin, with exact truth.

- ``squat_motion``: squats in BIGE coordinates with the feet planted (``SquatMotionConfig``).
- ``mannequin``: OpenCV rendering of the subject from a configurable viewpoint (``MannequinConfig``).
- ``source``: ``SyntheticSource``, a frame source for ``bige demo`` and tests, with per-frame truth.
- ``body``: forward kinematics in BIGE coordinates (adaptor over ``edge.skeleton``).
"""
