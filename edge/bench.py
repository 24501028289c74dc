"""``bige bench``: sustained fps and per-stage latency of the whole pipeline on a 640x480 source.

Two runs of the real pipeline (all processes, bus, recorder and headless overlay):
1. throughput: a 640x480 clip read as fast as the pipeline takes it -> sustained fps;
2. real time: the same clip paced at its frame rate (30 fps) -> per-stage latency percentiles and
   capture-to-overlay latency under the load of a live camera.
The clip is the built-in synthetic subject (rendered once to a video file, so rendering is not
timed), unless --source names another clip. Results are written as JSON.
"""

from __future__ import annotations

import dataclasses
import platform
import tempfile
from pathlib import Path
from typing import Any

import cv2

from edge.messages import ImageEncoding
from edge.orchestrator import Orchestrator
from edge.settings import StationSettings
from edge.synthetic.source import SyntheticSource, SyntheticSourceConfig
from edge.synthetic.squat_motion import SquatMotionConfig


def render_clip(path: Path, config: SyntheticSourceConfig, max_frames: int | None = None) -> Path:
    """Write the synthetic subject (rendered as fast as possible) to an mp4v clip at the motion's fps.

    Args:
        path: the .mp4 to write.
        config: what to film (its ``realtime`` setting is ignored).
        max_frames: stop after this many frames (default: the whole motion).
    """
    size = (config.mannequin.width_px, config.mannequin.height_px)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), config.motion.fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path} (OpenCV mp4v)")
    n_frames = 0
    with SyntheticSource(dataclasses.replace(config, realtime=False, loop=False)) as source:
        while (max_frames is None or n_frames < max_frames) and (frame := source.read()) is not None:
            writer.write(frame.image_bgr)
            n_frames += 1
    writer.release()
    return path


def _run(settings: StationSettings, clip: Path, realtime: bool, out: Path) -> dict[str, Any]:
    source = dataclasses.replace(settings.camera.source, spec=str(clip), realtime=realtime)
    camera = dataclasses.replace(settings.camera, source=source, forward=ImageEncoding.BGR8)
    return Orchestrator(dataclasses.replace(settings, camera=camera), out, headless=True).run().summary


def bench(settings: StationSettings, source: Path | None = None) -> dict[str, Any]:
    """Run both measurements; returns the JSON-ready result."""
    with tempfile.TemporaryDirectory(prefix="bige-bench-") as tmp:
        tmp_path = Path(tmp)
        config = SyntheticSourceConfig(motion=SquatMotionConfig(reps=3))
        config = dataclasses.replace(config, mannequin=dataclasses.replace(config.mannequin, azimuth_deg=30.0))
        clip = source if source is not None else render_clip(tmp_path / "bench.mp4", config)
        throughput = _run(settings, clip, realtime=False, out=tmp_path / "throughput")
        realtime = _run(settings, clip, realtime=True, out=tmp_path / "realtime")
    stages = {k: v for k, v in realtime["latency_ms"].items()
              if not k.startswith("capture_to") and k != "lifter.calibration_delay"}
    dominant = max(stages, key=lambda k: stages[k]["p50_ms"]) if stages else None
    return {
        "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "source": str(source) if source else "synthetic subject, 640x480, 30 fps (rendered clip)",
        "sustained_fps": throughput["fps"].get("camera", 0.0),
        "throughput_run": {k: throughput[k] for k in ("frames", "detection_rate", "fps", "latency_ms", "duration_s")},
        "realtime_run": {k: realtime[k] for k in ("frames", "detection_rate", "fps", "latency_ms", "duration_s",
                                                  "missed_messages")},
        "capture_to_overlay_ms": realtime["latency_ms"].get("capture_to_overlay"),
        "dominant_stage": dominant,
    }
