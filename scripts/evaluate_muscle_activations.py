"""Evaluate the muscle-activation pipeline on the real squat trials (offline; needs ../shared).

For each squat trial in ../shared/data (OpenCap squats, AddBiomechanics asymmetric squats), resampled to
60 fps: activations of the 80 muscles from models.biomech.muscles (MuscleActivationEstimator), compared
with BIGE's released surrogate (../shared/reference/bige_surrogate_v2.pth, evaluated on 196-frame windows
one at a time as released; an external reference only). Prints per-muscle Pearson correlations over all
frames, mean levels, run time per frame and per 1000 reps (each rep run on its own), and saves a plot of
one rep's activations for the eight muscles BIGE reports on (left and right) to --plot.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from edge.motion_io import read_mot, resample, to_bige33
from edge.paths import shared_dir
from models.biomech.muscles.activations import MuscleActivationEstimator
from models.biomech.muscles.geometry import BIGE_MUSCLE_ORDER
from models.biomech.reps import segment_reps

TRIALS = ("opencap_squats1/squats1_mocap.mot", "addbiomechanics/subject2_squatsAsym1.mot",
          "addbiomechanics/subject3_squatsAsym1.mot", "addbiomechanics/subject5_squatsAsym1.mot",
          "addbiomechanics/subject6_squatsAsym1.mot")
REPORTED = ("vaslat", "vasmed", "vasint", "soleus", "glmax1", "glmax2", "glmax3", "recfem", "bflh", "gasmed")
PLOTTED = ("vaslat", "vasmed", "vasint", "soleus", "glmax2", "recfem", "bflh", "gasmed")
WINDOW = 196
FPS = 60.0


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


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, default=Path("/tmp/muscle_activations_rep.png"))
    args = parser.parse_args(argv)
    data = shared_dir() / "data"
    weights = shared_dir() / "reference" / "bige_surrogate_v2.pth"
    trials = [(rel, data / rel) for rel in TRIALS if (data / rel).is_file()]
    if not trials:
        print(f"error: no squat trials under {data}", file=sys.stderr)
        return 2
    have_surrogate = weights.is_file()
    if not have_surrogate:
        print(f"note: {weights} missing: no comparison with the surrogate", file=sys.stderr)
    est = MuscleActivationEstimator()
    names = BIGE_MUSCLE_ORDER
    corr = np.full((len(trials), 80), np.nan)
    levels = []
    n_frames, t_total, rep_times, rep_frames = 0, 0.0, [], []
    plot_data = None
    for k, (rel, path) in enumerate(trials):
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
        print(f"{rel}: {q.shape[0]} frames, {len(reps)} reps, reserves max |.| "
              f"{np.abs(ours.reserves_n_m).max():.1f} N m, pelvis residual RMS "
              f"{np.sqrt(np.mean(ours.inverse_dynamics.pelvis_residuals[:, :3] ** 2)):.1f} N m")
        if have_surrogate:
            ref = surrogate_trial(q, weights)
            corr[k] = [_corr(ours.activations[:, i], ref[:, i]) for i in range(80)]
            levels.append((ours.activations.mean(0), ref.mean(0)))
            if plot_data is None and reps:
                a, b = reps[0]
                plot_data = (rel, q[a:b], ours.activations[a:b], ref[a:b])
    print(f"\nrun time: {1e3 * t_total / n_frames:.2f} ms/frame over whole trials; per rep (own call): "
          f"{1e3 * np.sum(rep_times) / np.sum(rep_frames):.2f} ms/frame, {np.mean(rep_times) * 1e3:.0f} ms per "
          f"rep of {np.mean(rep_frames):.0f} frames -> {1000 * np.sum(rep_times) / np.sum(rep_frames) * 120:.0f} s "
          f"per 1000 reps of 120 frames (one process)")
    if not have_surrogate:
        return 0
    with warnings.catch_warnings():  # a muscle flat in every trial has no correlation (NaN)
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(corr, axis=0)
    ours_mean = np.mean([lv[0] for lv in levels], axis=0)
    ref_mean = np.mean([lv[1] for lv in levels], axis=0)
    print("\ncorrelation with BIGE's surrogate over all frames (median over trials; per trial) "
          "and mean activation (ours / surrogate):")
    for base in REPORTED:
        for side in "lr":
            i = names.index(f"{base}_{side}")
            per = " ".join(f"{c:+.2f}" for c in corr[:, i])
            print(f"  {base + '_' + side:<10} r {med[i]:+.2f}  [{per}]  mean {ours_mean[i]:.2f} / {ref_mean[i]:.2f}")
    print(f"all 80 muscles: median r {np.nanmedian(med):+.2f}; muscles with r > 0.5: {int(np.sum(med > 0.5))}, "
          f"r < 0: {int(np.sum(med < 0))}")
    if plot_data is not None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        rel, q, ours_rep, ref_rep = plot_data
        t = np.arange(q.shape[0]) / FPS
        fig, axes = plt.subplots(3, 3, figsize=(13, 10), sharex=True)
        axes[0, 0].plot(t, q[:, 9], "k", label="knee r")
        axes[0, 0].plot(t, q[:, 16], "k--", label="knee l")
        axes[0, 0].plot(t, q[:, 6], "g", label="hip flexion r")
        axes[0, 0].set_title(f"{rel}: first rep (deg)")
        axes[0, 0].legend(fontsize=7)
        for ax, base in zip(axes.flat[1:], PLOTTED):
            for side, colour in (("r", "tab:red"), ("l", "tab:blue")):
                i = names.index(f"{base}_{side}")
                ax.plot(t, ours_rep[:, i], color=colour, label=f"ours {side}")
                ax.plot(t, ref_rep[:, i], color=colour, ls="--", label=f"BIGE surrogate {side}")
            ax.set_title(base)
            ax.set_ylim(0, 1)
        axes[0, 1].legend(fontsize=7)
        for ax in axes[-1]:
            ax.set_xlabel("time (s)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=80)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
