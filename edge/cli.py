"""The ``bige`` command.

- ``bige run --source SRC [--out DIR] [--headless]``: the live pipeline on a webcam index, video
  file, stream URL or image folder; writes overlay.mp4, kinematics.mot (and the rest of the session
  recording) and summary.json into DIR.
- ``bige demo [--out DIR] [--azimuth DEG] [--motion FILE.mot]``: the same on the built-in synthetic
  subject (no camera needed; squats, or a recorded motion), and the lifter's RMSE against the subject's
  exact coordinates in summary.json.
- ``bige overlay --host HOST``: the overlay alone, on another machine, fed by a station over the network.
- ``bige bench --json FILE``: sustained fps and per-stage latency percentiles on a 640x480 source.
- ``bige metrics FILE.mot ...``: BIGE's evaluation metrics as JSON (``models.biomech.metrics``).
- ``bige dataset [--out DIR] [--synthetic N] [--seed S]``: the versioned training dataset (``models.dataset``).
- ``bige recover DIR``: rebuild a session's kinematics.mot from its journal after a crash.
- ``bige settings``: print every station setting with its default, as TOML.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

from edge.config_io import ConfigError, to_table

log = logging.getLogger("bige")


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(show_path=False, rich_tracebacks=False)])


def _default_out(kind: str) -> Path:
    return Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def _settings(path: str | None):
    from edge.settings import load_settings

    return load_settings(Path(path) if path else None)


def _run_pipeline(settings, out: Path, headless: bool) -> dict:
    from edge.orchestrator import Orchestrator

    result = Orchestrator(settings, out, headless=headless).run()
    return result.summary


def cmd_run(args: argparse.Namespace) -> int:
    from edge.messages import ImageEncoding

    from edge.overlay import check_display
    from edge.sources import parse_spec

    settings = _settings(args.settings)
    if not args.headless:
        check_display()
    kind, target = parse_spec(args.source)
    if not kind.is_live and args.source != "synthetic" and not Path(str(target)).expanduser().exists():
        raise FileNotFoundError(f"source not found: {target} (expected a video file, a folder of images, "
                                f"a webcam index such as '0', or a stream URL)")
    source = dataclasses.replace(settings.camera.source, spec=args.source)
    # the local overlay needs the frames: raw unless the settings ask for JPEG (a remote overlay too)
    forward = ImageEncoding.BGR8 if settings.camera.forward is ImageEncoding.NONE else settings.camera.forward
    camera = dataclasses.replace(settings.camera, source=source, forward=forward)
    settings = dataclasses.replace(settings, camera=camera)
    if args.fullscreen:
        settings = dataclasses.replace(settings, overlay=dataclasses.replace(settings.overlay, fullscreen=True))
    summary = _run_pipeline(settings, Path(args.out) if args.out else _default_out("run"), args.headless)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.demo import demo_settings, truth_rmse
    from edge.overlay import check_display
    from edge.synthetic.recorded_motion import recorded_motion

    if args.window:
        check_display()
    motion_file = str(Path(args.motion).expanduser()) if args.motion else ""
    settings = demo_settings(_settings(args.settings), azimuth_deg=args.azimuth, reps=args.reps,
                             motion_file=motion_file)
    if motion_file:  # a missing or malformed file fails here, named, not inside the camera process
        recorded_motion(motion_file, settings.camera.synthetic.motion.fps)
    out = Path(args.out) if args.out else _default_out("demo")
    summary = _run_pipeline(settings, out, headless=not args.window)
    summary["truth_rmse_deg"] = truth_rmse(settings.camera.synthetic, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


def cmd_overlay(args: argparse.Namespace) -> int:
    from edge.orchestrator import run_remote_overlay
    from edge.overlay import check_display

    if not args.headless:
        check_display()
    settings = _settings(args.settings)
    settings = dataclasses.replace(settings, bus=dataclasses.replace(settings.bus, host=args.host))
    summary = run_remote_overlay(settings, Path(args.out) if args.out else _default_out("overlay"), args.headless,
                                 args.seconds)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from edge.bench import bench

    result = bench(_settings(args.settings), Path(args.source) if args.source else None)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("sustained_fps", "capture_to_overlay_ms", "dominant_stage")}, indent=2))
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from edge.recorder import recover_session

    report = recover_session(Path(args.folder))
    print(report)
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from edge.settings import StationSettings

    print(to_toml(to_table(StationSettings())))
    return 0


def to_toml(table: dict, prefix: str = "") -> str:
    """Plain TOML for a nested table of numbers, strings, booleans, lists and tables (None omitted)."""
    values = [f"{k} = {json.dumps(v)}" for k, v in table.items() if v is not None and not isinstance(v, dict)]
    blocks = [("\n".join([f"[{prefix}]"] + values) if prefix else "\n".join(values))] if values else []
    for key, value in table.items():
        if isinstance(value, dict) and (text := to_toml(value, f"{prefix}.{key}" if prefix else key)):
            blocks.append(text)
    return "\n\n".join(blocks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bige", description="BIGE Edge: real-time squat form feedback")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the live pipeline on a camera, video, stream or image folder")
    run.add_argument("--source", required=True, help="webcam index ('0'), video file, stream URL or image folder")
    run.add_argument("--out", help="output folder (must not exist; default runs/run-<time>)")
    run.add_argument("--headless", action="store_true", help="no window: write overlay.mp4 only")
    run.add_argument("--fullscreen", action="store_true", help="kiosk mode: full-screen window")
    run.add_argument("--settings", help="station settings TOML (default: station.toml of the project)")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="run the pipeline on the built-in synthetic squatting subject")
    demo.add_argument("--out", help="output folder (must not exist; default runs/demo-<time>)")
    demo.add_argument("--azimuth", type=float, default=30.0, help="camera azimuth around the subject, deg (0 = front)")
    demo.add_argument("--reps", type=int, default=3, help="number of squats")
    demo.add_argument("--motion", help="film this recorded motion (.mot, the 33 BIGE coordinates) instead of the squats")
    demo.add_argument("--window", action="store_true", help="show a window as well as writing overlay.mp4")
    demo.add_argument("--settings", help="station settings TOML")
    demo.set_defaults(func=cmd_demo)

    overlay = sub.add_parser("overlay", help="show the overlay of a station running elsewhere (its settings: "
                                              "bus.host = \"0.0.0.0\", camera.forward = \"jpeg\")")
    overlay.add_argument("--host", required=True, help="address of the station running `bige run`")
    overlay.add_argument("--out", help="folder for overlay.mp4 (must not exist; default runs/overlay-<time>)")
    overlay.add_argument("--headless", action="store_true", help="no window: write overlay.mp4 only")
    overlay.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    overlay.add_argument("--settings", help="station settings TOML (bus ports must match the station's)")
    overlay.set_defaults(func=cmd_overlay)

    bench = sub.add_parser("bench", help="measure sustained fps and per-stage latency on a 640x480 source")
    bench.add_argument("--json", required=True, help="where to write the results")
    bench.add_argument("--source", help="a video clip to use instead of the rendered synthetic subject")
    bench.add_argument("--settings", help="station settings TOML")
    bench.set_defaults(func=cmd_bench)

    from models.biomech import metrics_cli
    from models.dataset import build as dataset_cli

    metrics = sub.add_parser("metrics", help="BIGE's evaluation metrics (Tables 2 and 3) of .mot files, as JSON")
    metrics_cli.add_arguments(metrics)
    metrics.set_defaults(func=metrics_cli.run)

    dataset = sub.add_parser("dataset", help="build a versioned training dataset for the BIGE generator")
    dataset_cli.add_arguments(dataset)
    dataset.set_defaults(func=dataset_cli.run)

    recover = sub.add_parser("recover", help="rebuild a crashed session's kinematics.mot from its journal")
    recover.add_argument("folder")
    recover.set_defaults(func=cmd_recover)

    settings = sub.add_parser("settings", help="print all station settings with their defaults (TOML)")
    settings.set_defaults(func=cmd_settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bige`` console command."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    from edge.recorder import RecorderError

    try:
        return args.func(args)
    except (ConfigError, RecorderError, FileNotFoundError, ValueError, RuntimeError) as e:  # RunError included
        log.error("%s", e)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
