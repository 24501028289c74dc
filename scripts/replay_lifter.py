"""Replay a recorded session's landmarks through the lifter, optionally with other settings, and score it.

Usage:
    python scripts/replay_lifter.py SESSION [--reference REF.mot] [--set lifter.ik.foot_anchor_weight=5 ...]
                                    [--current-lifter] [--json OUT.json] [--mot OUT.mot]

A session folder (from ``bige run`` or ``bige demo``) holds every MediaPipe pose (``landmarks.bin``)
and the station settings it ran with (``metadata.json``), so a lifter change can be measured in seconds
without running MediaPipe again. The truth is ``--reference`` (an OpenSim .mot, e.g. the mocap of a
filmed trial, compared on the source timeline the way ``../shared/tools/mot_rmse.py`` does it: the
estimate interpolated at every reference time) or, for a ``bige demo`` session, the synthetic
subject's exact coordinates regenerated from the recorded settings (compared frame by frame).

Prints (and with ``--json`` writes) the RMSE in degrees of hip, knee and ankle flexion, hip adduction,
pelvis tilt and lumbar extension, and ``mean_sagittal_lower`` (the six flexions). Exit 2 with a
message on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge.config_io import ConfigError, from_table, to_table
from edge.demo import rmse_table
from edge.lifter import Lifter, LifterConfig
from edge.messages import BIGE_COORDINATES, Pose
from edge.motion_io import Motion, read_mot, to_bige33, write_mot
from edge.recorder import read_session
from edge.settings import StationSettings
from edge.synthetic.source import subject_motion


def _without_nulls(value: Any) -> Any:
    """The settings table without null entries (they take their defaults; TOML tables have no null)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _set(table: dict[str, Any], assignment: str) -> None:
    """Apply one ``dotted.key=value`` override (value parsed as JSON, else kept as a string)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ValueError(f"--set {assignment!r}: expected dotted.key=value")
    *path, leaf = key.split(".")
    node = table
    for part in path:
        if not isinstance(node.get(part), dict):
            raise ValueError(f"--set {assignment!r}: no settings table {part!r}")
        node = node[part]
    try:
        node[leaf] = json.loads(text)
    except json.JSONDecodeError:
        node[leaf] = text


def replay(session_folder: Path, overrides: list[str], current_lifter: bool = False
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, StationSettings]:
    """Lift the session's recorded poses again, with the recorded settings (the lifter's current defaults
    instead of the recorded lifter settings if ``current_lifter``) changed by the overrides.

    Returns:
        frame_index (N,), source time in s (N,), BIGE coordinates (N, 33) of the valid frames, and the
        settings used.

    Raises:
        ValueError: the session lacks what a replay needs, or an override is malformed.
        ConfigError: the settings (with the overrides) are invalid.
    """
    session = read_session(session_folder)
    size = session.metadata.get("image_size_px")
    if not size:
        raise ValueError(f"{session_folder}: metadata.json has no image_size_px (recorded before it was "
                         f"kept, or no person was ever detected)")
    table = _without_nulls(session.metadata.get("station_settings") or {})
    if current_lifter:
        table["lifter"] = _without_nulls(to_table(LifterConfig()))
    for assignment in overrides:
        _set(table, assignment)
    settings = from_table(StationSettings, table, "station_settings")
    lifter = Lifter(settings.lifter)
    out = []
    for r in session.landmarks:
        out += lifter.process(Pose(int(r["seq"]), int(r["t_capture_ns"]), int(r["frame_index"]), bool(r["detected"]),
                                   r["image_xyz"], r["world_xyz"], r["visibility"], r["presence"], 0,
                                   int(size[0]), int(size[1]), t_source_ns=int(r["t_source_ns"])))
    out += lifter.finish()
    valid = [k for k in out if k.valid]
    if not valid:
        raise ValueError(f"{session_folder}: the replay produced no valid kinematics")
    return (np.array([k.frame_index for k in valid]), np.array([k.t_source_ns for k in valid]) / 1e9,
            np.array([k.coordinates for k in valid]), settings)


def score(session_folder: Path, frames: np.ndarray, time_s: np.ndarray, coords: np.ndarray,
          settings: StationSettings, reference: Path | None) -> tuple[dict[str, float], str]:
    """The RMSE table of a replay (``replay``'s outputs) and the name of what it is scored against: the
    reference .mot (interpolated at its times) or, for a ``bige demo`` session, the synthetic subject's
    exact coordinates (frame by frame).

    Raises:
        ValueError: no reference for a session that is not a demo, or a malformed reference.
        FileNotFoundError: the reference or the subject's motion file is missing.
    """
    if reference is not None:
        ref = to_bige33(read_mot(reference))
        estimate = np.stack([np.interp(ref.time_s, time_s, coords[:, i]) for i in range(coords.shape[1])], axis=1)
        return rmse_table(estimate, ref.values), str(reference)
    if settings.camera.source.spec != "synthetic":
        raise ValueError(f"{session_folder}: not a bige demo session; give --reference REF.mot")
    _, truth = subject_motion(settings.camera.synthetic)
    keep = frames < len(truth)
    return rmse_table(coords[keep], truth[frames[keep]]), "synthetic subject (exact)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("session", type=Path, help="session folder (bige run / bige demo --out)")
    parser.add_argument("--reference", type=Path, help="reference .mot (e.g. mocap) on the source timeline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="station setting to change, dotted (e.g. lifter.world_weight=0.5); repeatable")
    parser.add_argument("--current-lifter", action="store_true",
                        help="start from the lifter's current defaults, not the settings it recorded with")
    parser.add_argument("--json", type=Path, help="write the scores here")
    parser.add_argument("--mot", type=Path, help="write the replayed kinematics here (.mot, source timeline)")
    args = parser.parse_args(argv)
    try:
        frames, time_s, coords, settings = replay(args.session, args.set, args.current_lifter)
        result, truth_name = score(args.session, frames, time_s, coords, settings, args.reference)
    except (ValueError, ConfigError, FileNotFoundError) as e:
        print(f"replay_lifter: {e}", file=sys.stderr)
        return 2
    report = {"session": str(args.session), "truth": truth_name, "overrides": args.set, "rmse_deg": result}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.mot:
        write_mot(args.mot, Motion(time_s=time_s, columns=BIGE_COORDINATES, values=coords, in_degrees=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
