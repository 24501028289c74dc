"""Runtime of the live pipeline: messages and bus, camera, lifter, overlay, recorder, orchestration (see edge/graph.py)."""
