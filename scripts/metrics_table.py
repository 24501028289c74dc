"""Sanity table of BIGE's metrics on every real trial in ../shared/data and on synthetic reps, as JSON and Markdown.

Usage: ``python scripts/metrics_table.py OUT [--synthetic N] [--seed S]`` writes ``OUT.json`` and
``OUT.md`` (a ``.json`` or ``.md`` suffix on OUT is replaced). Exits 0 with a message when
../shared/data is absent.

Per trial: reps found (this project's excursion method, and BIGE's valley method) against the true
count of 5, and the kinematic metrics of BIGE's Tables 2 and 3 on 196-frame samples at 60 fps
(models.biomech.metrics). The two video estimates of the sit-to-stand trial also get their fidelity
to its mocap. Pelvis tilt at peak vastus-medialis activation and the constraint metric need
activations: where ../shared/reference/bige_surrogate_v2.pth exists (and torch to read it), they come
from BIGE's released surrogate, evaluated one window at a time as released (each frame then attends
only to itself, see docs/bige.md); otherwise those columns are empty. The paper's rows are added to
the Markdown for comparison.

Synthetic row (``--synthetic N`` reps, default 100; 0 leaves it out): specs drawn by
``models.synth.generator.sample_rep_specs`` from ``--seed`` (default fault rates), generated at 60 fps;
a spec that fails the generator's physical checks is skipped and more are drawn from
``[seed, round]`` seeds until N reps stand, so the set is deterministic for a seed. Each rep, which
starts and ends standing still, is padded to 196 frames by holding its first and last poses (a rep
longer than 196 frames is cut into windows like a trial), so every sample has BIGE's window length.
Its fidelity is to the real squat trials (squats1 and the four asymmetric trials, pooled windows).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from edge.paths import shared_dir
from edge.skeleton.model import load_default
from models.biomech import metrics as bm
from models.biomech.reps import RepConfig, RepMethod, segment_reps
from models.synth.faults import FAULT_NAMES
from models.synth.generator import generate_reps, sample_rep_specs

TRUE_REPS = 5
TRIALS = (
    ("sts mocap", "opencap_sts/mocap_33dof.mot"),
    ("sts OpenCap Monocular", "opencap_sts/opencap_monocular_33dof.mot"),
    ("sts WHAM", "opencap_sts/wham_33dof.mot"),
    ("squats1 mocap", "opencap_squats1/squats1_mocap.mot"),
    ("asym squats subject2", "addbiomechanics/subject2_squatsAsym1.mot"),
    ("asym squats subject3", "addbiomechanics/subject3_squatsAsym1.mot"),
    ("asym squats subject5", "addbiomechanics/subject5_squatsAsym1.mot"),
    ("asym squats subject6", "addbiomechanics/subject6_squatsAsym1.mot"),
)
FIDELITY_REFERENCE = {"sts OpenCap Monocular": "sts mocap", "sts WHAM": "sts mocap"}
REAL_SQUATS = ("squats1 mocap", "asym squats subject2", "asym squats subject3", "asym squats subject5",
               "asym squats subject6")
"""The real squat trials the synthetic reps are compared with (fidelity)."""
MAX_DRAW_ROUNDS = 10
PAPER_ROWS = (  # docs/bige.md, Tables 2 and 3
    ("paper: reference (simulation)", "1.736", "0.003", "0.000", "0.035", "-23.40", "2.42", "90.04", "0.54",
     "2.65", "0.08"),
    ("paper: mocap", "1.773", "0.501", "0.759", "0.209", "", "", "", "", "", ""),
    ("paper: BIGE", "1.76", "2.327", "2.379", "0.291", "-23.09", "2.09", "56.95", "0.51", "27.32", "0.06"),
)
COLUMNS = ("trial", "reps (excursion)", "reps (BIGE valleys)", "fidelity", "diversity",
           "penetration cm", "floating cm", "sliding m/s", "pelvis tilt deg", "asymmetry deg",
           "omega deg/s", "COM vel m/s", "COM acc m/s^2", "constraint")


def surrogate_activations(windows: np.ndarray, weights: Path) -> np.ndarray:
    """BIGE's released surrogate on (B, 196, 33) windows, one window at a time: (B, 196, 80).

    With batch 1 the released network's attention sees each frame as its own length-1 sequence, so
    attention reduces to out_proj(v_proj(x)); the layers are post-norm with a ReLU feed-forward.

    Raises:
        ImportError: torch is missing (needed to read the .pth).
        ValueError: windows are not 196 frames long.
    """
    import torch

    state = {k: v.double().numpy() for k, v in torch.load(weights, map_location="cpu").items()}
    pos = state["positional_encoding"][0]  # (196, 33)
    if windows.shape[1] != pos.shape[0]:
        raise ValueError(f"surrogate needs {pos.shape[0]}-frame windows, got {windows.shape[1]}")

    def norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * w + b

    x = windows + pos  # (B, 196, 33)
    for i in range(3):
        p = f"transformer_layers.{i}."
        dim = x.shape[-1]
        w_v = state[p + "multihead_attention.in_proj_weight"][2 * dim:]
        b_v = state[p + "multihead_attention.in_proj_bias"][2 * dim:]
        attn = (x @ w_v.T + b_v) @ state[p + "multihead_attention.out_proj.weight"].T \
            + state[p + "multihead_attention.out_proj.bias"]
        x = norm(x + attn, state[p + "norm1.weight"], state[p + "norm1.bias"])
        hidden = np.maximum(0.0, x @ state[p + "feedforward.0.weight"].T + state[p + "feedforward.0.bias"])
        ff = hidden @ state[p + "feedforward.2.weight"].T + state[p + "feedforward.2.bias"]
        x = norm(x + ff, state[p + "norm2.weight"], state[p + "norm2.bias"])
    logits = x @ state["fc.weight"].T + state["fc.bias"]  # (B, 196, 80)
    return 1.0 / (1.0 + np.exp(-logits))


def compute(data_dir: Path, weights: Path | None) -> list[dict]:
    """One row per trial present under data_dir (see the module docstring)."""
    model = load_default()
    coords = {name: bm.load_bige(data_dir / rel) for name, rel in TRIALS if (data_dir / rel).is_file()}
    rows = []
    for name, rel in TRIALS:
        if name not in coords:
            print(f"metrics_table: skipping {name}: {data_dir / rel} not found", file=sys.stderr)
            continue
        x = coords[name]
        windows = bm.cut_windows(x)
        acts = surrogate_activations(windows, weights) if weights is not None else None
        k = bm.kinematic_metrics(windows, bm.FPS, model=model, activations=acts)
        ref = FIDELITY_REFERENCE.get(name)
        rows.append({
            "trial": name, "file": rel, "n_frames_60fps": int(x.shape[0]), "true_reps": TRUE_REPS,
            "reps_excursion": len(segment_reps(x, bm.FPS)),
            "reps_bige_valleys": len(segment_reps(x, bm.FPS, RepConfig(method=RepMethod.VALLEYS))),
            "fidelity_vs": ref,
            "fidelity": bm.fidelity(bm.cut_windows(coords[ref]), windows) if ref in coords else None,
            **dataclasses.asdict(k)})
    return rows


def synthetic_reps(n: int, seed: int) -> tuple[list[np.ndarray], list[frozenset[str]], int]:
    """``n`` physically checked synthetic reps, deterministic for ``seed`` (see the module docstring).

    Returns:
        (coords (T_i, 33) per rep, fault labels per rep, specs skipped as infeasible).

    Raises:
        RuntimeError: fewer than n reps after MAX_DRAW_ROUNDS rounds of draws.
    """
    reps: list[np.ndarray] = []
    labels: list[frozenset[str]] = []
    skipped = 0
    for round_ in range(MAX_DRAW_ROUNDS):
        missing = n - len(reps)
        if missing == 0:
            break
        draw_seed = seed if round_ == 0 else int(np.random.SeedSequence([seed, round_]).generate_state(1)[0])
        for result in generate_reps(sample_rep_specs(missing, draw_seed), bm.FPS, skip_infeasible=True):
            if result is None:
                skipped += 1
                continue
            reps.append(result[0])
            labels.append(result[1])
    if len(reps) < n:
        raise RuntimeError(f"metrics_table: only {len(reps)} of {n} synthetic reps passed the generator's checks "
                           f"after {MAX_DRAW_ROUNDS} rounds")
    return reps, labels, skipped


def standing_windows(rep: np.ndarray, n_frames: int = bm.WINDOW_FRAMES) -> np.ndarray:
    """(B, n_frames, 33) samples of one rep that starts and ends standing still.

    A shorter rep is padded by holding its first and last frames (half the padding each side); a longer
    one is cut by ``cut_windows``.
    """
    missing = n_frames - rep.shape[0]
    if missing <= 0:
        return bm.cut_windows(rep, n_frames)
    before = missing // 2
    return np.pad(rep, ((before, missing - before), (0, 0)), mode="edge")[None]  # (1, n_frames, 33)


def synthetic_row(n: int, seed: int, real: np.ndarray, weights: Path | None) -> dict:
    """The table row of ``n`` synthetic reps; ``real`` are the real squat windows (B, 196, 33) for fidelity."""
    model = load_default()
    reps, labels, skipped = synthetic_reps(n, seed)
    windows = np.concatenate([standing_windows(r) for r in reps])  # (B, 196, 33)
    acts = surrogate_activations(windows, weights) if weights is not None else None
    k = bm.kinematic_metrics(windows, bm.FPS, model=model, activations=acts)
    return {
        "trial": f"synthetic, {n} reps (seed {seed})", "file": None, "kind": "synthetic", "seed": seed,
        "n_frames_60fps": int(sum(r.shape[0] for r in reps)), "true_reps": n,
        "reps_excursion": sum(len(segment_reps(r, bm.FPS)) for r in reps),
        "reps_bige_valleys": sum(len(segment_reps(r, bm.FPS, RepConfig(method=RepMethod.VALLEYS))) for r in reps),
        "fidelity_vs": "real squat trials", "fidelity": bm.fidelity(real, windows),
        "clean_reps": sum(not lab for lab in labels),
        "fault_counts": {name: sum(name in lab for lab in labels) for name in FAULT_NAMES},
        "infeasible_skipped": skipped,
        **dataclasses.asdict(k)}


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown(rows: list[dict], activations_from: str) -> str:
    """The table as Markdown, the paper's rows appended."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = (r["trial"], f"{r['reps_excursion']}/{r['true_reps']}", f"{r['reps_bige_valleys']}/{r['true_reps']}",
                 _fmt(r["fidelity"]), _fmt(r["diversity"]), _fmt(r["penetration_cm"]), _fmt(r["floating_cm"]),
                 _fmt(r["sliding_m_s"]), _fmt(r["pelvis_tilt_at_peak_activation_deg"], 2),
                 _fmt(r["asymmetry_deg"], 2), _fmt(r["omega_deg_s"], 1), _fmt(r["com_velocity_m_s"], 2),
                 _fmt(r["com_acceleration_m_s2"], 2), _fmt(r["constraint"], 2))
        lines.append("| " + " | ".join(cells) + " |")
    for paper in PAPER_ROWS:
        lines.append("| " + " | ".join((paper[0], "", "", "") + paper[1:]) + " |")
    notes = [f"196-frame samples at 60 fps; floor metrics on the product model's joint centres; activations: "
             f"{activations_from}; constraint band [0.35, 0.45]. Fidelity: the two video estimates of the "
             f"sit-to-stand trial against its mocap."]
    for r in rows:
        if r.get("kind") == "synthetic":
            faults = ", ".join(f"{name} {count}" for name, count in r["fault_counts"].items())
            notes.append(f"{r['trial']}: models.synth.generator, default fault rates ({r['clean_reps']} clean; "
                         f"{faults}; {r['infeasible_skipped']} drawn specs skipped by the generator's physical "
                         f"checks), each rep padded to 196 frames by standing still; {r['n_samples']} samples; "
                         f"fidelity against the pooled windows of the five real squat trials.")
    return "\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write OUT.json and OUT.md; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output path stem: writes OUT.json and OUT.md")
    parser.add_argument("--synthetic", type=int, default=100, help="synthetic reps for the synthetic row (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic reps")
    args = parser.parse_args(argv)
    if args.synthetic < 0:
        parser.error(f"--synthetic must be >= 0, got {args.synthetic}")
    data_dir = shared_dir() / "data"
    if not data_dir.is_dir():
        print(f"metrics_table: {data_dir} not found; nothing to do", file=sys.stderr)
        return 0
    weights = shared_dir() / "reference" / "bige_surrogate_v2.pth"
    try:
        import torch  # noqa: F401  (only to read the surrogate's weights)
    except ImportError:
        weights = None
    if weights is not None and not weights.is_file():
        weights = None
    activations_from = "BIGE's released surrogate (bige_surrogate_v2.pth)" if weights else "none (columns empty)"
    rows = compute(data_dir, weights)
    if args.synthetic:
        real = [bm.cut_windows(bm.load_bige(data_dir / rel)) for name, rel in TRIALS
                if name in REAL_SQUATS and (data_dir / rel).is_file()]
        if not real:
            print(f"metrics_table: no real squat trial under {data_dir}; synthetic row left out", file=sys.stderr)
        else:
            rows.append(synthetic_row(args.synthetic, args.seed, np.concatenate(real), weights))
    out = Path(args.out)
    stem = out.with_suffix("") if out.suffix in (".json", ".md") else out
    stem.parent.mkdir(parents=True, exist_ok=True)
    clean = [{k: None if isinstance(v, float) and np.isnan(v) else v for k, v in r.items()} for r in rows]
    Path(f"{stem}.json").write_text(json.dumps({"activations": activations_from, "rows": clean}, indent=2) + "\n")
    Path(f"{stem}.md").write_text(markdown(rows, activations_from))
    print(f"wrote {stem}.json and {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
