"""Synthetic squat training data: physically consistent reps in BIGE coordinates with labelled form faults.

- ``generator``: ``RepSpec``, ``sample_rep_specs``, ``generate_rep`` / ``generate_reps``.
- ``faults``: fault names, thresholds, ``measure_rep`` and ``labels_from_measures`` (also for real reps).
"""
