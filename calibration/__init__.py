"""Calibration: pinhole camera, gravity/floor alignment, subject scaling."""
