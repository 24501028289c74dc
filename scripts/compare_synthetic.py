"""Compare synthetic squat reps with the real squat trials: joint-angle ranges, timing, faults, floor.

Inputs: the real trials in ``shared/data`` (opencap_squats1/squats1_mocap.mot, 35 columns with the knee
``_beta`` columns; addbiomechanics/*_squatsAsym1.mot, radians), read with ``edge.motion_io`` and
resampled to 60 fps; ``--n`` synthetic reps from ``models.synth.generator`` (seed ``--seed``).
Outputs (stdout): a JSON object and a Markdown table: per group (real, synthetic clean, synthetic
faulty) the mean [min, max] over reps of the per-rep minimum, maximum and peak-range of hip, knee and
ankle flexion, pelvis tilt, lumbar extension and the arm coordinates; rep duration, the active part of
the rep (5 % of the knee excursion down to 5 % up), the hold at the bottom (above 95 %) and the
descent/ascent split; the fault labels the same measures (``models.synth.faults``) give the real reps;
BIGE's fidelity of the synthetic reps to the real trials and the diversity of each (196-frame samples,
``models.biomech.metrics``: a real trial is cut into windows, a synthetic rep is one or two); and the floor metrics of the
synthetic reps (joint centres from ``edge.skeleton.fk.joint_centres``, as in docs/bige.md: ground =
median of the per-frame minima of the lowest joint centre, penetration / floating under 1 cm ignored,
sliding = mean speed of the lowest joint centre on contact frames) with the generation rate.

Real reps are segmented at the minima of mean knee flexion between its peaks (peaks: prominence 30 deg,
at least 1 s apart); a rep runs from the minimum before a peak to the minimum after it.

Usage: .venv/bin/python scripts/compare_synthetic.py [--n 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

from edge.messages import BIGE_COORDINATES
from edge.motion_io import MotWarning, read_mot, resample, to_bige33
from edge.paths import shared_dir
from edge.skeleton import bige_map, fk
from edge.skeleton.model import SkeletonModel, load_default
from models.biomech.metrics import cut_windows, diversity, fidelity
from models.synth import faults
from models.synth.generator import generate_reps, sample_rep_specs

FPS = 60.0
BILATERAL = ("hip_flexion", "knee_angle", "ankle_angle", "arm_flex", "arm_add", "arm_rot", "elbow_flex", "pro_sup")
ANGLES = ("hip_flexion", "knee_angle", "ankle_angle", "pelvis_tilt", "lumbar_extension", "arm_flex", "arm_add",
          "arm_rot", "elbow_flex", "pro_sup")
_IDX = {name: i for i, name in enumerate(BIGE_COORDINATES)}


def real_trials(data: Path) -> dict[str, np.ndarray]:
    """Real squat trials as (T, 33) BIGE coordinates at 60 fps, by file name.

    Raises:
        FileNotFoundError: a trial is missing (names the path).
    """
    paths = [data / "opencap_squats1" / "squats1_mocap.mot"] + sorted((data / "addbiomechanics").glob("*.mot"))
    trials = {}
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"real squat trial not found: {path}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MotWarning)
            trials[path.name] = resample(to_bige33(read_mot(path)), FPS).values
    return trials


def segment_reps(coords: np.ndarray) -> list[np.ndarray]:
    """Cut a trial into reps at the knee-flexion minima around each knee-flexion peak."""
    knee = (coords[:, _IDX["knee_angle_r"]] + coords[:, _IDX["knee_angle_l"]]) / 2
    peaks, _ = find_peaks(knee, prominence=30.0, distance=int(FPS))
    bounds = [int(np.argmin(knee[:peaks[0]]))]
    for a, b in zip(peaks[:-1], peaks[1:]):
        bounds.append(a + int(np.argmin(knee[a:b])))
    bounds.append(peaks[-1] + int(np.argmin(knee[peaks[-1]:])))
    return [coords[a:b + 1] for a, b in zip(bounds[:-1], bounds[1:])]


def rep_stats(rep: np.ndarray, model: SkeletonModel) -> dict[str, float]:
    """Per-rep angle extremes (both sides averaged for hip/knee/ankle), timing and fault measures."""
    out: dict[str, float] = {}
    for name in ANGLES:
        cols = [f"{name}_r", f"{name}_l"] if name in BILATERAL else [name]
        values = rep[:, [_IDX[c] for c in cols]].mean(axis=1)
        out[f"{name}_min"] = float(values.min())
        out[f"{name}_max"] = float(values.max())
        out[f"{name}_range"] = float(np.ptp(values))
    measures = faults.measure_rep(rep, FPS, model)
    knee = (rep[:, _IDX["knee_angle_r"]] + rep[:, _IDX["knee_angle_l"]]) / 2
    bottom = int(np.argmax(knee))
    out["duration_s"] = (len(rep) - 1) / FPS
    excursion = knee[bottom] - min(knee[0], knee[-1])
    active = np.flatnonzero(knee >= min(knee[0], knee[-1]) + 0.05 * excursion)
    out["active_s"] = (active[-1] - active[0]) / FPS
    out["hold_s"] = float(np.sum(knee >= min(knee[0], knee[-1]) + 0.95 * excursion) / FPS)
    out["descent_share"] = bottom / (len(rep) - 1)
    out.update({f"m_{k}": v for k, v in measures.as_dict().items()})
    out["labels"] = sorted(faults.labels_from_measures(measures))  # type: ignore[assignment]
    return out


def floor_metrics(reps: list[np.ndarray], model: SkeletonModel) -> dict[str, float]:
    """BIGE floor metrics over reps: mean penetration / floating (cm), mean and worst sliding (m/s)."""
    penetration, floating, sliding = [], [], []
    for rep in reps:
        centres = fk.joint_centres(model, bige_map.from_bige(model, rep))  # (T, n_bodies, 3)
        lowest = np.argmin(centres[..., 1], axis=1)  # (T,)
        height = centres[np.arange(len(rep)), lowest, 1]
        ground = np.median(height)
        below, above = np.maximum(ground - height, 0.0), np.maximum(height - ground, 0.0)
        penetration.append(float(np.mean(np.where(below >= 0.01, below, 0.0)) * 100))
        floating.append(float(np.mean(np.where(above >= 0.01, above, 0.0)) * 100))
        contact = np.flatnonzero(height[:-1] - ground < 0.01)
        step = centres[contact + 1, lowest[contact]] - centres[contact, lowest[contact]]
        sliding.append(float(np.mean(np.linalg.norm(step, axis=-1)) * FPS))
    return {"penetration_cm": float(np.mean(penetration)), "floating_cm": float(np.mean(floating)),
            "sliding_m_s": float(np.mean(sliding)), "sliding_worst_rep_m_s": float(np.max(sliding)),
            "penetration_worst_rep_cm": float(np.max(penetration)), "floating_worst_rep_cm": float(np.max(floating))}


def summarise(stats: list[dict]) -> dict[str, list[float]]:
    """mean, min, max over reps of every numeric field."""
    keys = [k for k, v in stats[0].items() if isinstance(v, float)]
    return {k: [float(np.mean([s[k] for s in stats])), float(np.min([s[k] for s in stats])),
                float(np.max([s[k] for s in stats]))] for k in keys}


def markdown(groups: dict[str, dict[str, list[float]]], counts: dict[str, int]) -> str:
    """One row per quantity, one column per group: mean [min, max]."""
    names = list(groups)
    lines = ["| quantity | " + " | ".join(f"{g} (n={counts[g]})" for g in names) + " |",
             "|---|" + "---|" * len(names)]
    for key in groups[names[0]]:
        cells = [f"{groups[g][key][0]:.3g} [{groups[g][key][1]:.3g}, {groups[g][key][2]:.3g}]" for g in names]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="synthetic reps to generate")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    args = parser.parse_args(argv)
    data = shared_dir() / "data"
    try:
        trials = real_trials(data)
    except FileNotFoundError as exc:
        print(f"compare_synthetic: {exc}", file=sys.stderr)
        return 2
    model = load_default()
    real_reps = [rep for coords in trials.values() for rep in segment_reps(coords)]
    real = [rep_stats(rep, model) for rep in real_reps]

    specs = sample_rep_specs(args.n, args.seed)
    t0 = time.perf_counter()
    results = generate_reps(specs, FPS, skip_infeasible=True)
    elapsed_s = time.perf_counter() - t0
    generated = [r for r in results if r is not None]
    clean = [c for c, labels, _ in generated if not labels]
    faulty = [c for c, labels, _ in generated if labels]
    label_agreement = float(np.mean([labels == info["measured_labels"] for _, labels, info in generated]))
    groups = {"real": summarise(real), "synthetic clean": summarise([rep_stats(c, model) for c in clean])}
    counts = {"real": len(real), "synthetic clean": len(clean)}
    if faulty:
        groups["synthetic faulty"] = summarise([rep_stats(c, model) for c in faulty])
        counts["synthetic faulty"] = len(faulty)
    fault_counts = {name: sum(name in labels for _, labels, _ in generated) for name in faults.FAULT_NAMES}
    result = {
        "groups": groups, "counts": counts,
        "real_rep_labels": [s["labels"] for s in real],
        "synthetic_fault_counts": fault_counts,
        "label_agreement_spec_vs_measured": label_agreement,
        "floor_synthetic": floor_metrics([c for c, _, _ in generated], model),
        "floor_real": floor_metrics(real_reps, model),
        "worst_contact_miss_mm": max(info["contact_miss_mm"] for _, _, info in generated),
        "lowest_contact_point_mm": min(info["lowest_point_mm"] for _, _, info in generated),
        "least_com_margin_m": min(info["com_margin_m"] for _, _, info in generated),
        "generation": {"specs": len(specs), "reps": len(generated), "infeasible_skipped": len(specs) - len(generated),
                       "seconds": elapsed_s, "reps_per_s": len(generated) / elapsed_s},
    }
    real_windows = [w for coords in trials.values() for w in cut_windows(coords)]
    synthetic_windows = [w for c, _, _ in generated for w in cut_windows(c)]
    result["bige_table2"] = {
        "fidelity_synthetic_vs_real": fidelity(np.concatenate([w.ravel() for w in real_windows]),
                                               np.concatenate([w.ravel() for w in synthetic_windows])),
        "diversity_real": diversity(real_windows), "diversity_synthetic": diversity(synthetic_windows),
        "windows_real": len(real_windows), "windows_synthetic": len(synthetic_windows)}
    print(json.dumps(result, indent=1))
    print()
    print(markdown(groups, counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
