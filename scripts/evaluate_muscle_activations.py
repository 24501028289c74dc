"""Evaluate the muscle-activation pipeline on the real squat trials (offline; needs ../shared).

For each squat trial in ../shared/data (OpenCap squats, AddBiomechanics asymmetric squats), resampled to
60 fps: activations of the 80 muscles from models.biomech.muscles (MuscleActivationEstimator), compared
with BIGE's released surrogate (../shared/reference/bige_surrogate_v2.pth, evaluated on 196-frame windows
one at a time as released; an external reference only, reported, not tuned to). Prints per-muscle
Pearson correlations over all frames, mean levels, physics diagnostics (reserve moments, saturated
activations, internal force between the feet) and run time per frame and per 1000 reps (each rep run on
its own, one process).

Writes on request: --plot PNG (one real rep, the eight muscles BIGE's figures show, left and right, ours
beside the surrogate's), --json (all numbers) and --markdown (the correlation table; with --baseline, a
JSON written earlier by this script, e.g. before a change, its numbers are shown beside the new ones).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.motion_io import read_mot, resample, to_bige33
from edge.paths import shared_dir
from models.biomech.muscles.activations import MuscleActivationConfig, MuscleActivationEstimator
from models.biomech.muscles.geometry import BIGE_MUSCLE_ORDER, Muscle, MuscleGeometry, load_default_geometry
from models.biomech.muscles.inverse_dynamics import InverseDynamicsConfig
from models.biomech.reps import segment_reps

TRIALS = ("opencap_squats1/squats1_mocap.mot", "addbiomechanics/subject2_squatsAsym1.mot",
          "addbiomechanics/subject3_squatsAsym1.mot", "addbiomechanics/subject5_squatsAsym1.mot",
          "addbiomechanics/subject6_squatsAsym1.mot")
PLOTTED = ("vaslat", "vasmed", "vasint", "soleus", "glmax2", "recfem", "bflh", "gasmed")
REPORTED = ("vaslat", "vasmed", "vasint", "soleus", "glmax1", "glmax2", "glmax3", "recfem", "bflh", "gasmed")
FULL_NAMES = {"vaslat": "vastus lateralis", "vasmed": "vastus medialis", "vasint": "vastus intermedius",
              "soleus": "soleus", "glmax1": "gluteus maximus 1", "glmax2": "gluteus maximus 2",
              "glmax3": "gluteus maximus 3", "recfem": "rectus femoris", "bflh": "biceps femoris long head",
              "gasmed": "gastrocnemius medialis"}
SATURATED = 0.95
WINDOW = 196
FPS = 60.0
REP_FRAMES = 120


def surrogate_trial(q_bige: np.ndarray, weights: Path) -> np.ndarray:
    """The surrogate's activations over a whole trial (T, 80): consecutive 196-frame windows, the last one
    aligned to the trial's end."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from metrics_table import surrogate_activations  # the project's reference implementation of the loader

    t = q_bige.shape[0]
    if t < WINDOW:
        raise ValueError(f"trial of {t} frames is shorter than the surrogate's {WINDOW}-frame window")
    starts = list(range(0, t - WINDOW + 1, WINDOW))
    if starts[-1] + WINDOW < t:
        starts.append(t - WINDOW)
    acts = surrogate_activations(np.stack([q_bige[s:s + WINDOW] for s in starts]), weights)  # (W, 196, 80)
    out = np.empty((t, 80))
    for s, a in zip(starts, acts):
        out[s:s + WINDOW] = a
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _nanmedian(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    with warnings.catch_warnings():  # a muscle flat in every trial has no correlation (NaN)
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, axis=axis)


def ablation_estimators() -> dict[str, MuscleActivationEstimator]:
    """The pipeline with each of its physics choices undone in turn, then all of them (the earlier pipeline)."""
    calibrated = load_default_geometry()
    factors = calibrated.metadata.get("ankle_muscle_length_factors", {})
    muscles = []
    for m in calibrated.muscles:
        k, p = factors.get(m.name, 1.0), m.parameters
        muscles.append(Muscle(m.name, replace(p, optimal_fibre_length_m=p.optimal_fibre_length_m / k,
                                              tendon_slack_length_m=p.tendon_slack_length_m / k), m.path))
    uncalibrated = MuscleGeometry(tuple(muscles), calibrated.coordinates, calibrated.metadata)
    converging = dict(internal_force=False, inverse_dynamics=InverseDynamicsConfig(forces_converge_at_com=True))
    return {"rigid tendons": MuscleActivationEstimator(config=MuscleActivationConfig(tendon_iterations=0)),
            "feet's forces converging at the centre of mass, no internal force": MuscleActivationEstimator(
                config=MuscleActivationConfig(**converging)),
            "ankle muscles not rescaled": MuscleActivationEstimator(geometry=uncalibrated),
            "all three (the earlier pipeline)": MuscleActivationEstimator(
                geometry=uncalibrated, config=MuscleActivationConfig(tendon_iterations=0, **converging))}


def evaluate(trials: list[tuple[str, Path]], weights: Path | None,
             est: MuscleActivationEstimator | None = None, refs: dict[str, np.ndarray] | None = None,
             quiet: bool = False) -> tuple[dict[str, Any], tuple | None]:
    """Run the estimator (and the surrogate if weights is given) on the trials.

    Args:
        trials: (name, path) of each trial.
        weights: the surrogate's weights, or None for no comparison.
        est: the estimator (default: MuscleActivationEstimator()).
        refs: cache of the surrogate's activations per trial name (filled here).
        quiet: no per-trial lines.

    Returns:
        (results as a JSON-ready dict, plot data (trial, q, ours, surrogate) of the first rep or None).
    """
    est = MuscleActivationEstimator() if est is None else est
    refs = {} if refs is None else refs
    names = BIGE_MUSCLE_ORDER
    per_trial, corr, ours_mean, ref_mean = [], [], [], []
    n_frames, t_total, rep_times, rep_frames = 0, 0.0, [], []
    plot_data = None
    for rel, path in trials:
        q = resample(to_bige33(read_mot(path)), FPS).values
        t0 = time.perf_counter()
        ours = est.from_bige(q, FPS)
        t_total += time.perf_counter() - t0
        n_frames += q.shape[0]
        reps = segment_reps(q, FPS)
        for a, b in reps:  # each rep on its own, as a labelling job would run
            t0 = time.perf_counter()
            est.from_bige(q[a:b], FPS)
            rep_times.append(time.perf_counter() - t0)
            rep_frames.append(b - a)
        internal = getattr(ours, "internal_force_n", np.zeros(q.shape[0]))
        info = {"trial": rel, "frames": int(q.shape[0]), "reps": len(reps),
                "max_reserve_n_m": float(np.abs(ours.reserves_n_m).max()),
                "rms_reserve_n_m": float(np.sqrt(np.mean(ours.reserves_n_m ** 2))),
                "saturated_fraction": float(np.mean(ours.activations > SATURATED)),
                "max_internal_force_n": float(np.abs(internal).max()),
                "pelvis_residual_rms_n_m": float(np.sqrt(np.mean(ours.inverse_dynamics.pelvis_residuals[:, :3] ** 2)))}
        ours_mean.append(ours.activations.mean(0))
        if weights is not None:
            if rel not in refs:
                refs[rel] = surrogate_trial(q, weights)
            ref = refs[rel]
            corr.append([_corr(ours.activations[:, i], ref[:, i]) for i in range(80)])
            ref_mean.append(ref.mean(0))
            if plot_data is None and reps:
                a, b = reps[0]
                plot_data = (rel, q[a:b], ours.activations[a:b], ref[a:b])
        per_trial.append(info)
        if not quiet:
            print(f"{rel}: {q.shape[0]} frames, {len(reps)} reps, reserves max |.| "
                  f"{info['max_reserve_n_m']:.1f} N m, "
                  f"saturated {100 * info['saturated_fraction']:.2f} % of activations, internal force max "
                  f"{info['max_internal_force_n']:.0f} N, pelvis residual RMS "
                  f"{info['pelvis_residual_rms_n_m']:.1f} N m")
    ms_rep = 1e3 * np.sum(rep_times) / np.sum(rep_frames)
    out: dict[str, Any] = {
        "muscles": list(names), "trials": per_trial,
        "timing": {"ms_per_frame_trials": 1e3 * t_total / n_frames, "ms_per_frame_reps": ms_rep,
                   "mean_rep_frames": float(np.mean(rep_frames)),
                   "s_per_1000_reps_of_120_frames_one_process": ms_rep * REP_FRAMES},
        "mean_activation": np.mean(ours_mean, axis=0).tolist()}
    if weights is not None:
        c = np.array(corr)
        out["correlation"] = [[None if np.isnan(v) else v for v in row] for row in c.tolist()]
        med = _nanmedian(c, axis=0)
        out["median_correlation"] = [None if np.isnan(v) else float(v) for v in med]
        out["surrogate_mean_activation"] = np.mean(ref_mean, axis=0).tolist()
        out["summary"] = {"median_r_all_muscles": float(_nanmedian(med)), "muscles_r_above_0.5": int(np.sum(med > 0.5)),
                          "muscles_r_below_0": int(np.sum(med < 0))}
    return out, plot_data


def ablation_row(res: dict[str, Any]) -> dict[str, Any]:
    """The few numbers of one ablation variant: correlation summary, the plotted muscles' median r (left,
    right), reserves, saturation, run time."""
    names = res["muscles"]
    return {**res["summary"],
            "median_r": {b: [res["median_correlation"][names.index(f"{b}_{s}")] for s in "lr"] for b in PLOTTED},
            "max_reserve_n_m": max(t["max_reserve_n_m"] for t in res["trials"]),
            "saturated_fraction": float(np.mean([t["saturated_fraction"] for t in res["trials"]])),
            "ms_per_frame_reps": res["timing"]["ms_per_frame_reps"]}


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:+.2f}"


def print_table(res: dict[str, Any]) -> None:
    tm = res["timing"]
    print(f"\nrun time: {tm['ms_per_frame_trials']:.2f} ms/frame over whole trials; per rep (own call): "
          f"{tm['ms_per_frame_reps']:.2f} ms/frame -> {tm['s_per_1000_reps_of_120_frames_one_process']:.0f} s per "
          f"1000 reps of {REP_FRAMES} frames (one process)")
    if "correlation" not in res:
        return
    names = res["muscles"]
    print("\ncorrelation with BIGE's surrogate over all frames (median over trials; per trial) "
          "and mean activation (ours / surrogate):")
    for base in REPORTED:
        for side in "lr":
            i = names.index(f"{base}_{side}")
            per = " ".join(_fmt(row[i]) for row in res["correlation"])
            print(f"  {base + '_' + side:<10} r {_fmt(res['median_correlation'][i])}  [{per}]  mean "
                  f"{res['mean_activation'][i]:.2f} / {res['surrogate_mean_activation'][i]:.2f}")
    s = res["summary"]
    print(f"all 80 muscles: median r {s['median_r_all_muscles']:+.2f}; muscles with r > 0.5: "
          f"{s['muscles_r_above_0.5']}, r < 0: {s['muscles_r_below_0']}")


def markdown(res: dict[str, Any], baseline: dict[str, Any] | None, baseline_label: str = "") -> str:
    """The correlation table (and diagnostics) as Markdown; baseline numbers beside ours when given."""
    names = res["muscles"]
    trials = [t["trial"] for t in res["trials"]]
    lines = ["# Muscle activations against BIGE's released surrogate", "",
             "Pearson r over all frames of each real squat trial (60 fps) between our activations "
             "(models.biomech.muscles, inverse dynamics + static optimisation) and BIGE's released surrogate "
             "(an external reference, reported, not tuned to). r: median over the trials; mean: mean activation "
             "over all frames, ours / surrogate." + (f" Before: {baseline_label}." if baseline else ""), "",
             "Trials: " + ", ".join(f"T{k + 1} `{t}`" for k, t in enumerate(trials)), ""]
    head = ("| muscle | side | r | " + ("r before | " if baseline else "")
            + " | ".join(f"T{k + 1}" for k in range(len(trials))) + " | mean (ours / surrogate) |"
            + (" mean before |" if baseline else ""))
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for base in REPORTED:
        for side in "lr":
            i = names.index(f"{base}_{side}")
            row = [FULL_NAMES[base] + f" ({base})", side, _fmt(res["median_correlation"][i])]
            if baseline:
                row.append(_fmt(baseline["median_correlation"][i]))
            row += [_fmt(r[i]) for r in res["correlation"]]
            row.append(f"{res['mean_activation'][i]:.2f} / {res['surrogate_mean_activation'][i]:.2f}")
            if baseline:
                row.append(f"{baseline['mean_activation'][i]:.2f}")
            lines.append("| " + " | ".join(row) + " |")
    s, tm = res["summary"], res["timing"]
    lines += ["", "| all 80 muscles | now | " + ("before |" if baseline else ""),
              "|---|---|" + ("---|" if baseline else "")]
    for key, label in (("median_r_all_muscles", "median r"), ("muscles_r_above_0.5", "muscles with r > 0.5"),
                       ("muscles_r_below_0", "muscles with r < 0")):
        fmt = (lambda v: f"{v:+.2f}") if key.startswith("median") else str  # noqa: E731
        lines.append(f"| {label} | {fmt(s[key])} |" + (f" {fmt(baseline['summary'][key])} |" if baseline else ""))
    diag = [("max abs reserve moment (N m)", "max_reserve_n_m", "{:.1f}"),
            ("RMS reserve moment (N m)", "rms_reserve_n_m", "{:.2f}"),
            ("activations above 0.95 (%)", "saturated_fraction", "{:.2%}"),
            ("max internal force between the feet (N)", "max_internal_force_n", "{:.0f}")]
    lines += ["", "Physics diagnostics per trial" + (" (now / before)" if baseline else "") + ":", "",
              "| | " + " | ".join(f"T{k + 1}" for k in range(len(trials))) + " |",
              "|---|" + "---|" * len(trials)]
    for label, key, f in diag:
        cells = []
        for k, t in enumerate(res["trials"]):
            cell = f.format(t[key]).replace("%", " %")
            if baseline:
                cell += " / " + f.format(baseline["trials"][k].get(key, 0.0)).replace("%", " %")
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "ablation" in res:
        lines += ["", "Each change undone in turn (the full pipeline first; median r over trials, left / right):", "",
                  "| variant | median r, 80 muscles | " + " | ".join(PLOTTED)
                  + " | max abs reserve (N m) | activations above 0.95 | ms/frame |",
                  "|---|---|" + "---|" * len(PLOTTED) + "---|---|---|"]
        for name, row in {"full pipeline": ablation_row(res), **res["ablation"]}.items():
            lines.append(f"| {name} | {row['median_r_all_muscles']:+.2f} | "
                         + " | ".join(f"{_fmt(row['median_r'][b][0])} / {_fmt(row['median_r'][b][1])}" for b in PLOTTED)
                         + f" | {row['max_reserve_n_m']:.1f} | {row['saturated_fraction']:.2%} | "
                         f"{row['ms_per_frame_reps']:.2f} |".replace("%", " %"))
    run = (f"Run time: {tm['ms_per_frame_reps']:.2f} ms/frame per rep (each rep its own call, one process), "
           f"{tm['s_per_1000_reps_of_120_frames_one_process']:.0f} s per 1000 reps of {REP_FRAMES} frames on one "
           f"core (about half that with one process per core on 2 cores)")
    if baseline:
        bt = baseline["timing"]
        run += (f"; before: {bt['ms_per_frame_reps']:.2f} ms/frame, "
                f"{bt['s_per_1000_reps_of_120_frames_one_process']:.0f} s")
    lines += ["", run + ".", ""]
    return "\n".join(lines)


def plot(plot_data: tuple, path: Path) -> None:
    """One rep: joint angles and the eight muscles, ours (solid) beside the surrogate (dashed), both sides."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rel, q, ours_rep, ref_rep = plot_data
    names = BIGE_MUSCLE_ORDER
    t = np.arange(q.shape[0]) / FPS
    fig, axes = plt.subplots(3, 3, figsize=(13, 10.5), sharex=True)
    ax = axes[0, 0]
    for col, label, colour, ls in ((9, "knee flexion, right", "tab:red", "-"),
                                   (16, "knee flexion, left", "tab:blue", "-"),
                                   (6, "hip flexion, right", "tab:red", ":"),
                                   (13, "hip flexion, left", "tab:blue", ":")):
        ax.plot(t, q[:, col], color=colour, ls=ls, label=label)
    ax.set_title("joint angles")
    ax.set_ylabel("angle (deg)")
    ax.legend(fontsize=8, loc="lower center")
    for ax, base in zip(axes.flat[1:], PLOTTED):
        for side, colour in (("r", "tab:red"), ("l", "tab:blue")):
            i = names.index(f"{base}_{side}")
            ax.plot(t, ours_rep[:, i], color=colour, lw=2)
            ax.plot(t, ref_rep[:, i], color=colour, ls="--", lw=1.5)
        ax.set_title(f"{FULL_NAMES[base]} ({base})")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    for ax in (axes[0, 1], axes[1, 0], axes[2, 0]):
        ax.set_ylabel("activation (0-1)")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    handles = [Line2D([], [], color="tab:red", lw=2, label="ours, right"),
               Line2D([], [], color="tab:blue", lw=2, label="ours, left"),
               Line2D([], [], color="tab:red", ls="--", label="BIGE surrogate, right"),
               Line2D([], [], color="tab:blue", ls="--", label="BIGE surrogate, left")]
    fig.legend(handles=handles, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 0.955), frameon=False)
    fig.suptitle(f"Muscle activations over one real squat rep ({rel}, first rep, 60 fps)", y=0.985)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, help="write the one-rep activation plot (PNG) here")
    parser.add_argument("--json", type=Path, help="write all numbers (JSON) here")
    parser.add_argument("--markdown", type=Path, help="write the correlation table (Markdown) here")
    parser.add_argument("--baseline", type=Path, help="a JSON written earlier by --json, shown beside the new numbers")
    parser.add_argument("--ablation", action="store_true",
                        help="also run the pipeline with each of its physics choices undone (needs the surrogate)")
    parser.add_argument("--baseline-label", default="an earlier run of this script",
                        help="what the baseline is (e.g. the commit it was made at), for the Markdown")
    args = parser.parse_args(argv)
    data = shared_dir() / "data"
    weights = shared_dir() / "reference" / "bige_surrogate_v2.pth"
    trials = [(rel, data / rel) for rel in TRIALS if (data / rel).is_file()]
    if not trials:
        print(f"error: no squat trials under {data}", file=sys.stderr)
        return 2
    baseline = None
    if args.baseline is not None:
        try:
            baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
            if baseline.get("muscles") != list(BIGE_MUSCLE_ORDER) or "median_correlation" not in baseline:
                raise ValueError("not a JSON written by this script with the surrogate")
        except (OSError, ValueError) as exc:
            print(f"error: baseline {args.baseline}: {exc}", file=sys.stderr)
            return 2
    if not weights.is_file():
        print(f"note: {weights} missing: no comparison with the surrogate", file=sys.stderr)
        if args.plot or args.markdown:
            print("error: --plot and --markdown need the surrogate", file=sys.stderr)
            return 2
    refs: dict[str, np.ndarray] = {}
    res, plot_data = evaluate(trials, weights if weights.is_file() else None, refs=refs)
    print_table(res)
    if args.ablation and weights.is_file():
        res["ablation"] = {}
        for name, est in ablation_estimators().items():
            row = ablation_row(evaluate(trials, weights, est, refs, quiet=True)[0])
            res["ablation"][name] = row
            print(f"undone: {name}: median r (80 muscles) {row['median_r_all_muscles']:+.2f}, max reserve "
                  f"{row['max_reserve_n_m']:.1f} N m, saturated {100 * row['saturated_fraction']:.2f} %, "
                  f"{row['ms_per_frame_reps']:.2f} ms/frame")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
        print(f"json: {args.json}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(res, baseline, args.baseline_label), encoding="utf-8")
        print(f"markdown: {args.markdown}")
    if args.plot and plot_data is not None:
        plot(plot_data, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
