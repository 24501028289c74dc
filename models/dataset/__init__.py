"""Versioned training datasets for the BIGE generator (real squat reps plus synthetic ones).

- ``build``: the ``bige dataset`` command, ``DatasetConfig``, ``build_dataset``, ``load_manifest``, ``load_split``.
- ``samples``: one real trial or synthetic pseudo-subject -> fixed-length samples with activations and labels.
- ``shards``: byte-reproducible .npz shards.
"""
