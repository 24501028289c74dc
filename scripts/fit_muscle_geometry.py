"""Fit the polynomial muscle geometry and export body inertias (offline; needs opensim).

Default: pose2sim's Model_Pose2Sim_muscles_flex.osim (80 Rajagopal lower-limb muscles) ->
models/biomech/assets/pose2sim_muscle_geometry.json, and Model_Pose2Sim_simple.osim's body inertias
(the product's skeleton) -> models/biomech/assets/pose2sim_body_inertias.json. Prints each muscle's
held-out fit errors and a check of the fitted moment arms against OpenSim's computeMomentArm. The fibre
and tendon lengths of the muscles crossing the ankle are rescaled to the pose2sim shank
(models.biomech.muscles.fit.calibrate_ankle_muscles); the factors are printed and kept in the metadata.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge.paths import pose2sim_setup_dir
from models.biomech.muscles import fit
from models.biomech.muscles.geometry import (
    ASSETS_DIR, BIGE_MUSCLE_ORDER, DEFAULT_GEOMETRY_FILE, LEG_COORDINATES, LEG_DOFS, MUSCLE_BASE_NAMES, MuscleGeometry,
)
from models.biomech.muscles.inverse_dynamics import DEFAULT_INERTIA_FILE

NOTE = ("Derived from pose2sim's OpenSim asset {file} (pose2sim {version}, https://github.com/perfanalytics/pose2sim), "
        "BSD-3-Clause licence, Copyright (c) 2022, perfanalytics; muscles from Rajagopal et al. 2016. "
        "Produced by scripts/fit_muscle_geometry.py (models.biomech.muscles.fit).")


def _pose2sim_version() -> str:
    try:
        return importlib.metadata.version("pose2sim")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Fit and write the assets; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--muscle-model", type=Path, help="muscle .osim (default: pose2sim's muscles_flex model)")
    parser.add_argument("--skeleton-model", type=Path, help=".osim whose inertias to export (default: pose2sim simple)")
    parser.add_argument("--out-dir", type=Path, default=ASSETS_DIR)
    parser.add_argument("--n-fit", type=int, default=2500, help="fitting poses per leg")
    parser.add_argument("--n-val", type=int, default=500, help="held-out poses per leg")
    parser.add_argument("--n-check", type=int, default=30, help="poses per leg for the computeMomentArm check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        setup = pose2sim_setup_dir() if args.muscle_model is None or args.skeleton_model is None else None
    except FileNotFoundError as exc:
        print(f"error: {exc}; pass --muscle-model and --skeleton-model", file=sys.stderr)
        return 2
    muscle_osim = args.muscle_model or setup / "Model_Pose2Sim_muscles_flex.osim"
    skeleton_osim = args.skeleton_model or setup / "Model_Pose2Sim_simple.osim"
    try:
        sampler = fit.OpenSimMuscleSampler(muscle_osim)
    except (FileNotFoundError, ImportError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    fitted = {}
    for k, side in enumerate(("r", "l")):
        t0 = time.monotonic()

        def show(done: int, total: int, side: str = side) -> None:
            print(f"\r  leg {side}: sampled {done}/{total} poses", end="", flush=True)

        for muscle, pf in fit.fit_leg(sampler, side, args.n_fit, args.n_val, args.seed + k, progress=show):
            fitted[muscle.name] = (muscle, pf)
        print(f"\r  leg {side}: {args.n_fit + args.n_val} poses sampled and fitted in {time.monotonic() - t0:.0f} s")

    # Independent check of the fitted moment arms against OpenSim's own computeMomentArm (new poses).
    geometry = MuscleGeometry(tuple(fitted[name][0] for name in BIGE_MUSCLE_ORDER), LEG_COORDINATES, {
        "source_osim": muscle_osim.name, "licence": "BSD-3-Clause (pose2sim)",
        "provenance": NOTE.format(file=muscle_osim.name, version=_pose2sim_version()),
        "sampling_ranges_deg": fit.SQUAT_RANGES_DEG, "n_fit_poses_per_leg": args.n_fit,
        "n_validation_poses_per_leg": args.n_val})
    geometry, factors = fit.calibrate_ankle_muscles(geometry)
    geometry = MuscleGeometry(geometry.muscles, geometry.coordinates, {
        **geometry.metadata, "ankle_muscle_length_factors": factors,
        "calibration": "optimal fibre and tendon slack lengths of the muscles crossing the ankle multiplied by "
                       "ankle_muscle_length_factors (fit.calibrate_ankle_muscles)"})
    print("ankle muscles' fibre and tendon lengths x " + ", ".join(f"{n} {k:.3f}" for n, k in factors.items()))
    check_err = {}
    for k, side in enumerate(("r", "l")):
        q_leg = fit.sample_poses(args.n_check, args.seed + 100 + k)
        ref = sampler.opensim_moment_arms(side, q_leg, list(range(40)), list(range(6)))  # (N, 40, 6)
        q = np.zeros((args.n_check, len(LEG_COORDINATES)))
        q[:, [LEG_COORDINATES.index(f"{d}_{side}") for d in LEG_DOFS]] = q_leg
        _, arms = geometry.evaluate(q)
        idx = [geometry.muscle_index(f"{m}_{side}") for m in MUSCLE_BASE_NAMES]
        cols = [LEG_COORDINATES.index(f"{d}_{side}") for d in LEG_DOFS[:6]]
        err = arms[:, idx][:, :, cols] - ref
        for i, m in enumerate(MUSCLE_BASE_NAMES):
            check_err[f"{m}_{side}"] = (float(np.sqrt(np.mean(err[:, i] ** 2))), float(np.abs(err[:, i]).max()))

    print(f"{'muscle':<13}{'coords':>7}{'deg':>5}{'L rms mm':>10}{'r rms mm':>10}{'r max mm':>10}"
          f"{'vs OpenSim rms':>16}{'max':>8}")
    for name in BIGE_MUSCLE_ORDER:
        m, pf = fitted[name]
        f = m.path.fit
        print(f"{name:<13}{len(m.path.coordinates):>7}{f['degree']:>5}{f['rms_length_mm']:>10.3f}"
              f"{f['rms_moment_arm_mm']:>10.3f}{f['max_moment_arm_error_mm']:>10.2f}"
              f"{1e3 * check_err[name][0]:>16.3f}{1e3 * check_err[name][1]:>8.2f}")
    rms_l = np.sqrt(np.mean([fitted[n][1].rms_length_m ** 2 for n in fitted]))
    rms_r = np.sqrt(np.mean([fitted[n][1].rms_moment_arm_m ** 2 for n in fitted]))
    rms_c = np.sqrt(np.mean([v[0] ** 2 for v in check_err.values()]))
    print(f"all muscles: held-out length RMS {1e3 * rms_l:.3f} mm, moment-arm RMS {1e3 * rms_r:.3f} mm; "
          f"vs OpenSim computeMomentArm RMS {1e3 * rms_c:.3f} mm")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    geometry.save(args.out_dir / DEFAULT_GEOMETRY_FILE)
    inertias = {"format_version": 1, "source_osim": skeleton_osim.name,
                "provenance": NOTE.format(file=skeleton_osim.name, version=_pose2sim_version()),
                "bodies": fit.body_inertias(skeleton_osim)}
    (args.out_dir / DEFAULT_INERTIA_FILE).write_text(json.dumps(inertias, indent=1) + "\n", encoding="utf-8")
    for f in (DEFAULT_GEOMETRY_FILE, DEFAULT_INERTIA_FILE):
        print(f"wrote {args.out_dir / f} ({(args.out_dir / f).stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
