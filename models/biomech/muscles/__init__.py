"""Muscle activations of squats: polynomial muscle geometry, squat inverse dynamics, static optimisation.

- ``geometry``: the 80 lower-limb muscles' lengths and moment arms as polynomials of the leg coordinates,
  with their Hill parameters (``load_default_geometry``; asset fitted to pose2sim's muscle model).
- ``fit``: the offline fit of that asset against OpenSim (imports opensim lazily).
- ``inverse_dynamics``: joint moments of a motion with both feet on the ground.
- ``static_optimization``: DeGroote-Fregly muscle model (rigid or compliant tendons) and the batched
  activation solve.
- ``activations``: the whole pipeline, ``MuscleActivationEstimator`` (BIGE coordinates in, 80
  activations out, in BIGE's muscle order).
"""
