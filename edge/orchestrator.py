"""Orchestrator: starts the worker processes of ``edge.graph``, supervises them, stops them in order.

- Start: the recorder first (it creates the output folder), then the consumers, then the camera, so
  that every subscriber is connected before the first frame.
- Supervision: a worker that dies with a non-zero exit code while the run is live is restarted (at
  most ``supervisor.max_restarts`` times each) and the restart is logged and counted in the summary.
- Stop: when the source ends (the camera exits normally), when the overlay window is closed, or on
  Ctrl-C, workers are stopped in graph order (camera, lifter, recorder, overlay), each after its
  upstream finished, so the last frames still reach the recording and the video.
- Summary: frames, detection rate, fps and per-stage latency percentiles -> ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge import graph
from edge.settings import StationSettings
from edge.workers import WORKERS, RunContext, endpoints_for

log = logging.getLogger(__name__)

START_ORDER = ("recorder", "overlay", "lifter", "camera")
STOP_ORDER = tuple(n.name for n in graph.GRAPH)
FOLDER_TIMEOUT_S = 20.0


class RunError(RuntimeError):
    """The run could not start or a worker kept failing."""


@dataclass
class _Worker:
    name: str
    process: mp.process.BaseProcess | None = None
    stop: Any = None
    restarts: int = 0
    exit_code: int | None = None


@dataclass
class RunResult:
    out_dir: Path
    summary: dict[str, Any]
    restarts: dict[str, int] = field(default_factory=dict)


class Orchestrator:
    """One run of the pipeline: ``Orchestrator(settings, out_dir).run()``."""

    def __init__(self, settings: StationSettings, out_dir: Path, headless: bool = True) -> None:
        self.settings = settings
        self.out_dir = Path(out_dir).resolve()
        self.headless = headless
        self._mp = mp.get_context("spawn")
        self._quit = self._mp.Event()
        self._workers = {name: _Worker(name) for name in WORKERS}

    def run(self) -> RunResult:
        """Run until the source ends, the window is closed or Ctrl-C; return the summary.

        Raises:
            RunError: the output folder exists, a worker failed to start, or kept crashing.
        """
        if self.out_dir.exists():
            raise RunError(f"output folder {self.out_dir} already exists; choose a new one (recordings are "
                           f"never overwritten)")
        stats_dir = Path(tempfile.mkdtemp(prefix="bige-stats-"))
        ctx = RunContext(self.settings, endpoints_for(self.settings), self.out_dir, stats_dir, self.headless)
        t_start = time.monotonic()
        error: str | None = None
        try:
            self._start("recorder", ctx)
            self._wait_for_folder()
            for name in START_ORDER[1:]:
                self._start(name, ctx)
            error = self._supervise(ctx)
        except KeyboardInterrupt:
            log.info("Ctrl-C: stopping")
        except RunError as e:
            error = str(e)
        finally:
            self._stop_all()
        duration_s = time.monotonic() - t_start
        summary = self._summary(stats_dir, duration_s, error)
        shutil.rmtree(stats_dir, ignore_errors=True)
        if self.out_dir.is_dir():
            (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        if error:
            raise RunError(error)
        return RunResult(self.out_dir, summary, {w.name: w.restarts for w in self._workers.values()})

    # ---- processes
    def _start(self, name: str, ctx: RunContext) -> None:
        worker = self._workers[name]
        worker.stop = self._mp.Event()
        args: tuple[Any, ...] = (ctx, worker.stop) + ((self._quit,) if name == "overlay" else ())
        worker.process = self._mp.Process(target=WORKERS[name], args=args, name=f"bige-{name}", daemon=False)
        worker.process.start()
        log.info("started %s (pid %d)", name, worker.process.pid)

    def _wait_for_folder(self) -> None:
        deadline = time.monotonic() + FOLDER_TIMEOUT_S
        recorder = self._workers["recorder"].process
        while not (self.out_dir / "metadata.json").is_file():
            if recorder is not None and not recorder.is_alive():
                raise RunError(f"the recorder could not create {self.out_dir} (exit code {recorder.exitcode})")
            if time.monotonic() > deadline:
                raise RunError(f"the recorder did not create {self.out_dir} within {FOLDER_TIMEOUT_S:.0f} s")
            time.sleep(0.05)

    def _supervise(self, ctx: RunContext) -> str | None:
        """Watch the workers until the run should end; None for a normal end, else the error."""
        limit = self.settings.supervisor.max_restarts
        while True:
            time.sleep(0.1)
            if self._quit.is_set():
                log.info("overlay window closed: stopping")
                return None
            for worker in self._workers.values():
                p = worker.process
                if p is None or p.is_alive():
                    continue
                if worker.name == "camera" and p.exitcode == 0:
                    log.info("source ended: finishing the run")
                    return None
                if worker.restarts >= limit:
                    return (f"worker {worker.name} crashed (exit code {p.exitcode}) and was already restarted "
                            f"{worker.restarts} times: giving up")
                worker.restarts += 1
                log.warning("worker %s crashed (exit code %s); restarting it (%d/%d)",
                            worker.name, p.exitcode, worker.restarts, limit)
                self._start(worker.name, ctx)

    def _stop_all(self) -> None:
        timeout = self.settings.supervisor.shutdown_timeout_s
        for name in STOP_ORDER:
            worker = self._workers[name]
            p = worker.process
            if p is None:
                continue
            if worker.stop is not None:
                worker.stop.set()
            p.join(timeout)
            if p.is_alive():
                log.warning("worker %s did not stop within %.0f s: terminating it", name, timeout)
                p.terminate()
                p.join(timeout)
            worker.exit_code = p.exitcode

    # ---- summary
    def _summary(self, stats_dir: Path, duration_s: float, error: str | None) -> dict[str, Any]:
        stats = {}
        for name in WORKERS:
            path = stats_dir / f"{name}.json"
            if path.is_file():
                stats[name] = json.loads(path.read_text())
        camera = stats.get("camera", {})
        frames = camera.get("frames", 0)
        latency: dict[str, dict[str, float]] = {}
        for name, key_map in (("camera", {"read": "camera.read", "pose": "camera.pose", "publish": "camera.publish"}),
                              ("lifter", {"solve": "lifter.solve", "capture_to_kinematics": "capture_to_kinematics",
                                          "calibration_delay": "lifter.calibration_delay"}),
                              ("overlay", {"render": "overlay.render", "capture_to_overlay": "capture_to_overlay"})):
            timing = stats.get(name, {}).get("timing", {})
            for key, label in key_map.items():
                if key in timing:
                    latency[label] = {k: round(v, 2) for k, v in timing[key].items() if k != "n"} | {"n": timing[key]["n"]}
        return {
            "out_dir": str(self.out_dir),
            "source": self.settings.camera.source.spec,
            "duration_s": round(duration_s, 2),
            "frames": frames,
            "detected_frames": camera.get("detected", 0),
            "detection_rate": round(camera.get("detected", 0) / frames, 4) if frames else 0.0,
            "fps": {name: round(s.get("fps", 0.0), 2) for name, s in stats.items() if "fps" in s},
            "latency_ms": latency,
            "recorded": {k: stats.get("recorder", {}).get(k) for k in ("poses", "kinematics", "valid_kinematics")},
            "missed_messages": {name: s.get("missed", {}) for name, s in stats.items() if "missed" in s},
            "lifter": {k: stats.get("lifter", {}).get(k) for k in ("camera_pitch_deg", "scaling")},
            "overlay": {"camera_calibrated": stats.get("overlay", {}).get("camera_calibrated"),
                        "rejected_messages": stats.get("overlay", {}).get("rejected", {})},
            "restarts": {w.name: w.restarts for w in self._workers.values()},
            "exit_codes": {w.name: w.exit_code for w in self._workers.values()},
            "error": error,
        }


def run_remote_overlay(settings: StationSettings, out_dir: Path, headless: bool,
                       max_duration_s: float | None = None, stop_event: Any = None) -> dict[str, Any]:
    """Run only the overlay, connected to a station elsewhere (``settings.bus.host``), until Ctrl-C,
    the window is closed, ``max_duration_s`` has passed, or ``stop_event`` (a threading.Event) is set.

    Returns:
        The overlay's statistics (frames written, render and capture-to-overlay latency).
    """
    out_dir = Path(out_dir).resolve()
    if out_dir.exists():
        raise RunError(f"output folder {out_dir} already exists; choose a new one")
    out_dir.mkdir(parents=True)
    stats_dir = Path(tempfile.mkdtemp(prefix="bige-stats-"))
    ctx = RunContext(settings, endpoints_for(settings), out_dir, stats_dir, headless)
    context = mp.get_context("spawn")
    stop, quit_requested = context.Event(), context.Event()
    process = context.Process(target=WORKERS["overlay"], args=(ctx, stop, quit_requested), name="bige-overlay")
    process.start()
    deadline = None if max_duration_s is None else time.monotonic() + max_duration_s
    try:
        while process.is_alive() and not quit_requested.is_set():
            if (deadline is not None and time.monotonic() > deadline) or (stop_event is not None and stop_event.is_set()):
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        log.info("Ctrl-C: stopping the overlay")
    finally:
        stop.set()
        process.join(settings.supervisor.shutdown_timeout_s)
        if process.is_alive():
            process.terminate()
            process.join()
    path = stats_dir / "overlay.json"
    stats = json.loads(path.read_text()) if path.is_file() else {}
    shutil.rmtree(stats_dir, ignore_errors=True)
    if process.exitcode not in (0, None):
        raise RunError(f"the overlay process failed (exit code {process.exitcode})")
    return {"out_dir": str(out_dir), "host": settings.bus.host, **stats}
