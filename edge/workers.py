"""Worker processes of the live pipeline: one function per node of ``edge.graph``.

Each worker binds its publisher (if it writes), connects to its producers, runs until its stop event
is set (or its input ends), drains what is still queued, and writes its statistics to
``<stats_dir>/<name>.json`` for the run summary. Workers ignore SIGINT: the orchestrator stops them
in graph order through their events, so that nothing upstream is cut off before downstream drained.

Backpressure: the camera never blocks on a publish (ZeroMQ drops when a subscriber's queue is full,
counted by the subscriber as missed seq numbers); the lifter reads every pose in order; the recorder
reads every message; the overlay drains its queue and draws only the newest state.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from edge import graph
from edge.bus import Publisher, Subscriber
from edge.messages import CameraCalibration, Heartbeat, Kinematics, Pose, ProcessState
from edge.settings import StationSettings
from edge.timing import CycleTimer

log = logging.getLogger(__name__)

LINGER_MS = 500  # a producer's last messages at the end of a run
POLL_MS = 50
CALIBRATION_REPEATS = 5  # a new CameraCalibration goes out with this many frames, then every second


@dataclass(frozen=True)
class RunContext:
    """What every worker of one run needs besides the settings (picklable)."""

    settings: StationSettings
    endpoints: dict[str, str]  # worker name -> its publisher endpoint
    out_dir: Path  # the run's output folder (the recorder's session folder)
    stats_dir: Path
    headless: bool = True


def endpoints_for(settings: StationSettings) -> dict[str, str]:
    """Publisher endpoint of each producing worker, from the bus settings."""
    return {n.name: settings.bus.endpoint(n.writes[0]) for n in graph.GRAPH if n.writes}


def _subscriber(ctx: RunContext, name: str, rcvhwm: int | None = None) -> Subscriber:
    node = graph.node(name)
    bus = ctx.settings.bus if rcvhwm is None else replace(ctx.settings.bus, rcvhwm=rcvhwm)
    return Subscriber([ctx.endpoints[u] for u in graph.upstream(node)], node.reads + node.optional_reads, bus)


def _write_stats(ctx: RunContext, name: str, stats: dict[str, Any]) -> None:
    path = ctx.stats_dir / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stats, indent=1))
    tmp.replace(path)


def _quiet_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def camera_worker(ctx: RunContext, stop: Any) -> None:
    """Source -> MediaPipe -> frame, pose and heartbeat messages."""
    from edge.camera import CameraProcess

    _quiet_sigint()
    config = ctx.settings.camera
    with Publisher(ctx.endpoints["camera"], ctx.settings.bus) as pub, CameraProcess(config) as camera:
        detected = 0
        frames = 0

        def publish(msg: Any) -> None:
            nonlocal detected, frames
            if isinstance(msg, Pose):
                frames += 1
                detected += msg.detected
            pub.publish(msg)

        time.sleep(0.3)  # let subscribers connect before the first frame (PUB drops without subscribers)
        state = camera.run(publish, stop)
        _write_stats(ctx, "camera", {"state": state.value, "frames": frames, "detected": detected,
                                     "fps": camera.timer.fps(), "timing": camera.timer.summary()})
        pub.close(linger_ms=LINGER_MS)


def lifter_worker(ctx: RunContext, stop: Any) -> None:
    """Pose -> Kinematics (every pose, in order)."""
    from edge.lifter import Lifter

    _quiet_sigint()
    timer = CycleTimer()
    hb_seq = 0
    last_hb = 0
    # the calibration backlog leaves in one burst: a deep send queue keeps it whole (kinematics are small)
    with Publisher(ctx.endpoints["lifter"], replace(ctx.settings.bus, sndhwm=1000)) as pub, \
            _subscriber(ctx, "lifter", rcvhwm=64) as sub, Lifter(ctx.settings.lifter) as lifter:

        def heartbeat(state: ProcessState, detail: str = "") -> None:
            nonlocal hb_seq, last_hb
            pub.publish(Heartbeat(hb_seq, time.monotonic_ns(), "lifter", state, detail, timer.fps(), timer.p50_ms()))
            hb_seq += 1
            last_hb = time.monotonic_ns()

        # (lifter revision, monotonic ns, times sent) of the last CameraCalibration sent
        calibration_sent = (-1, 0, 0)

        def send_calibration() -> None:
            """The lifter's camera for displays: with each of the first CALIBRATION_REPEATS frames after
            it changes (the first copy leaves with the calibration backlog's burst, which a display's
            short queue may drop), then every second for late subscribers."""
            nonlocal calibration_sent
            now = time.monotonic_ns()
            revision, sent_ns, count = calibration_sent
            if revision != lifter.calibration_revision:
                count = 0
            elif count >= CALIBRATION_REPEATS and now - sent_ns < 1e9:
                return
            camera = lifter.output_camera()
            if camera is None:
                return
            pub.publish(CameraCalibration.of_camera(lifter.calibration_revision, now, camera))
            calibration_sent = (lifter.calibration_revision, now, count + 1)

        def handle(pose: Pose) -> None:
            with timer.section("solve"):
                out = lifter.process(pose)
            send_calibration()
            for kin in out:
                pub.publish(kin)
            if len(out) == 1:  # a live frame (not the calibration backlog, which waits by design)
                timer.add("capture_to_kinematics", time.monotonic_ns() - out[0].t_capture_ns)
            elif out:
                timer.add("calibration_delay", time.monotonic_ns() - out[0].t_capture_ns)
            timer.end_cycle()

        heartbeat(ProcessState.STARTING, "calibrating on the first frames")
        while not stop.is_set():
            msg = sub.recv(POLL_MS)
            if isinstance(msg, Pose):
                handle(msg)
            if time.monotonic_ns() - last_hb > 1e9:
                heartbeat(ProcessState.RUNNING if lifter.calibrated else ProcessState.STARTING)
        while (msg := sub.recv(POLL_MS)) is not None:  # drain what the camera sent before it ended
            if isinstance(msg, Pose):
                handle(msg)
        for kin in lifter.finish():
            pub.publish(kin)
        heartbeat(ProcessState.ENDED)
        _write_stats(ctx, "lifter", {"fps": timer.fps(), "timing": timer.summary(),
                                     "missed": dict(sub.stats.missed), "rejected": dict(sub.stats.rejected),
                                     "camera_pitch_deg": lifter.alignment.camera_pitch_deg if lifter.alignment else None,
                                     "scaling": lifter.scaling_summary})
        pub.close(linger_ms=LINGER_MS)


def recorder_worker(ctx: RunContext, stop: Any) -> None:
    """Every pose, kinematics frame and state change -> the session folder."""
    from edge.config_io import to_table
    from edge.recorder import SessionRecorder

    _quiet_sigint()
    config = replace(ctx.settings.recorder, root_dir=ctx.out_dir.parent, session_name=ctx.out_dir.name)
    counts = {"poses": 0, "detected": 0, "kinematics": 0, "valid_kinematics": 0}
    states: dict[str, str] = {}
    calibration_seq = [-1]  # the lifter's camera, recorded once per revision (for reviewing with a ghost)
    with _subscriber(ctx, "recorder", rcvhwm=1000) as sub, \
            SessionRecorder(config, source=ctx.settings.camera.source.spec, model_name="pose2sim_simple_blazepose",
                            station_settings=to_table(ctx.settings)) as rec:

        def handle(msg: Any) -> None:
            if isinstance(msg, Pose):
                rec.add_pose(msg)
                counts["poses"] += 1
                counts["detected"] += msg.detected
            elif isinstance(msg, Kinematics):
                rec.add_kinematics(msg)
                counts["kinematics"] += 1
                counts["valid_kinematics"] += msg.valid
            elif isinstance(msg, CameraCalibration):
                if msg.seq != calibration_seq[0]:  # a new calibration (the lifter sends each one repeatedly)
                    calibration_seq[0] = msg.seq
                    rec.add_event("camera_calibration", revision=msg.seq, t_capture_ns=msg.t_capture_ns,
                                  width=msg.width, height=msg.height, intrinsics_px=msg.intrinsics.tolist(),
                                  rotation_cw=msg.rotation_cw.tolist(), translation_cw_m=msg.translation_cw_m.tolist())
            elif isinstance(msg, Heartbeat):
                if states.get(msg.process) != msg.state.value:
                    states[msg.process] = msg.state.value
                    rec.add_event("state", process=msg.process, state=msg.state.value, detail=msg.detail,
                                  t_capture_ns=msg.t_capture_ns)
            elif msg is not None:
                rec.add_event(type(msg).__name__.lower(), **{k: v for k, v in vars(msg).items()
                                                            if isinstance(v, (int, float, str))})

        while not stop.is_set():
            handle(sub.recv(POLL_MS))
        while (msg := sub.recv(POLL_MS)) is not None:
            handle(msg)
        _write_stats(ctx, "recorder", {**counts, "missed": dict(sub.stats.missed), "rejected": dict(sub.stats.rejected)})


def overlay_worker(ctx: RunContext, stop: Any, quit_requested: Any) -> None:
    """Newest frame, pose, kinematics and heartbeats -> rendered overlay (window and/or overlay.mp4)."""
    from edge.overlay import Overlay, OutputMode, skeleton_ghost_model

    _quiet_sigint()
    config = replace(ctx.settings.overlay, output=OutputMode.HEADLESS if ctx.headless else OutputMode.WINDOW,
                     mp4_path=ctx.out_dir / "overlay.mp4")
    with _subscriber(ctx, "overlay") as sub, Overlay(config, ghost=skeleton_ghost_model()) as overlay:
        def drain(timeout_ms: int) -> bool:
            fresh = False
            msg = sub.recv(timeout_ms)
            while msg is not None:
                overlay.update(msg)
                fresh |= isinstance(msg, Pose)  # one render per camera frame (its pose follows its image)
                msg = sub.recv(0)
            return fresh

        while not stop.is_set():
            if drain(POLL_MS):
                if not overlay.emit(overlay.render()):
                    quit_requested.set()
        if drain(POLL_MS):
            overlay.emit(overlay.render())
        _write_stats(ctx, "overlay", {"frames_written": overlay.frames_written, "timing": overlay.timer.summary(),
                                      "camera_calibrated": overlay.camera_calibrated,
                                      "missed": dict(sub.stats.missed), "rejected": dict(sub.stats.rejected)})


WORKERS: dict[str, Callable[..., None]] = {
    "camera": camera_worker,
    "lifter": lifter_worker,
    "recorder": recorder_worker,
    "overlay": overlay_worker,
}
