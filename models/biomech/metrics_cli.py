"""``bige metrics FILE.mot ...``: BIGE's evaluation metrics of motion files, printed as JSON.

Inputs: OpenSim motion files with the 33 BIGE coordinates (degrees or radians; extra columns such as
LaiUhlrich2022's ``knee_angle_*_beta`` are dropped), any frame rate; optionally a reference set
(``--reference``) and per-file muscle activations (``--activations``, .npy at 60 fps).
Outputs: one JSON document on stdout: per file, the rep count and every kinematic metric of BIGE's
Tables 2 and 3 (see models.biomech.metrics); for the set, its diversity and, with a reference, the
reference's diversity and the set's fidelity to it.

Algorithm: each file is resampled to 60 fps and cut into 196-frame samples (BIGE's window;
models.biomech.metrics.cut_windows), the metrics are computed on those samples, and reps are counted
on the whole trial (models.biomech.reps.segment_reps). Errors (missing file, bad format, bad shapes)
are reported as one line naming the file, exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.motion_io import MotFormatError
from edge.skeleton.model import ModelFormatError, SkeletonModel, load_default
from models.biomech import metrics as bm
from models.biomech.reps import segment_reps


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``metrics`` command's arguments to ``parser`` (for a subcommand parser)."""
    parser.add_argument("files", nargs="+", help="motion files (.mot/.sto) with the 33 BIGE coordinates")
    parser.add_argument("--reference", nargs="+", metavar="FILE",
                        help="reference motion files: adds fidelity of FILES to them and their diversity")
    parser.add_argument("--activations", nargs="+", metavar="NPY",
                        help="one .npy per file, (T,) vastus medialis or (T, 80) in BIGE surrogate order, "
                             "0-1, at 60 fps with the resampled file's frame count; enables pelvis tilt "
                             "at peak activation and the constraint metric")
    parser.add_argument("--band", nargs=2, type=float, default=(0.35, 0.45), metavar=("LOW", "HIGH"),
                        help="activation band of the constraint metric (default 0.35 0.45)")
    parser.add_argument("--window-frames", type=int, default=bm.WINDOW_FRAMES,
                        help=f"sample length in frames at 60 fps (default {bm.WINDOW_FRAMES}, BIGE's)")
    parser.add_argument("--model", help="skeletal model for the floor metrics: SkeletonModel JSON or .osim "
                                        "(needs opensim); default: the product's model")
    parser.add_argument("--indent", type=int, default=2, help="JSON indent (default 2)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The stand-alone parser (prog ``bige metrics``)."""
    return add_arguments(argparse.ArgumentParser(
        prog="bige metrics", description="BIGE's evaluation metrics of motion files, as JSON"))


def _model(path: str | None) -> SkeletonModel:
    if path is None:
        return load_default()
    if Path(path).suffix.lower() == ".osim":
        from edge.skeleton.export import export_osim

        return export_osim(path)
    return SkeletonModel.load(path)


def _activations(path: str, n_frames: int, starts: np.ndarray, length: int) -> np.ndarray:
    """Activations of one file cut into the motion's windows: (B, length) or (B, length, 80)."""
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read activations as .npy ({exc})") from None
    if a.ndim not in (1, 2) or a.shape[0] != n_frames or (a.ndim == 2 and a.shape[1] != bm.N_MUSCLES):
        raise ValueError(f"{path}: activations must be (T,) or (T, {bm.N_MUSCLES}) with T = {n_frames} "
                         f"(the motion's frames at 60 fps), got shape {a.shape}")
    return np.stack([a[s:s + length] for s in starts])


def _clean(value: object) -> object:
    """JSON-safe: NaN -> null, floats rounded to 6 significant digits."""
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def evaluate(files: Sequence[str], reference: Sequence[str] | None = None,
             activations: Sequence[str] | None = None, band: tuple[float, float] = (0.35, 0.45),
             window_frames: int = bm.WINDOW_FRAMES, model: SkeletonModel | None = None) -> dict:
    """The JSON-ready result of ``bige metrics`` (see the module docstring).

    Raises:
        FileNotFoundError, MotFormatError, ValueError: unreadable or malformed input (file named).
    """
    if activations is not None and len(activations) != len(files):
        raise ValueError(f"--activations: {len(activations)} files given for {len(files)} motion files")
    model = load_default() if model is None else model
    per_file, samples = [], []
    for i, path in enumerate(files):
        coords = bm.load_bige(path)  # (T, 33) at 60 fps
        starts, length = bm.window_starts(coords.shape[0], window_frames)
        windows = np.stack([coords[s:s + length] for s in starts])  # (B, L, 33)
        acts = None if activations is None else _activations(activations[i], coords.shape[0], starts, length)
        try:
            result = bm.kinematic_metrics(windows, bm.FPS, model=model, activations=acts, band=band)
            n_reps = len(segment_reps(coords, bm.FPS))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        per_file.append({"file": str(path), "n_frames": int(coords.shape[0]), "n_reps": n_reps,
                         **dataclasses.asdict(result)})
        samples.extend(windows)
    out: dict = {"fps": bm.FPS, "window_frames": window_frames, "files": per_file,
                 "set": {"n_samples": len(samples), "diversity": bm.diversity(samples)}}
    if reference:
        ref = [w for path in reference for w in bm.cut_windows(bm.load_bige(path), window_frames)]
        out["set"]["reference"] = {"files": [str(p) for p in reference], "n_samples": len(ref),
                                   "diversity": bm.diversity(ref),
                                   "fidelity": bm.fidelity(np.concatenate([r.ravel() for r in ref]),
                                                           np.concatenate([s.ravel() for s in samples]))}
    return _clean(out)


def run(args: argparse.Namespace) -> int:
    """Run the command on parsed arguments (for registration as a subcommand); prints JSON.

    Raises:
        FileNotFoundError, MotFormatError, ModelFormatError, ValueError: bad input (file named).
    """
    if args.window_frames < 3:
        raise ValueError(f"--window-frames must be >= 3, got {args.window_frames}")
    result = evaluate(args.files, args.reference, args.activations, tuple(args.band), args.window_frames,
                      _model(args.model))
    print(json.dumps(result, indent=args.indent))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``bige metrics`` entry point; returns the exit status (2 on bad input, message on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (FileNotFoundError, MotFormatError, ModelFormatError, ValueError, ImportError) as exc:
        print(f"bige metrics: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
