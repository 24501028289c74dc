"""Biomechanics engine: BIGE's evaluation metrics, rep segmentation and related offline tools."""
