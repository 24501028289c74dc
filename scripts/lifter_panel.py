"""Score lifter settings on a panel of recorded sessions: real mocap motions performed by the synthetic
subject from many viewpoints (exact truth), plus optionally a real video session against its mocap.

    python scripts/lifter_panel.py SESSIONS_DIR OUT [--render] [--real SESSION REF.mot]
        [--variant NAME=KEY=VALUE[;KEY=VALUE...] ...]

``--render`` films the panel first (``bige demo --motion M --azimuth A`` into SESSIONS_DIR/NAME, each
in real time; about 10 minutes on 2 cores; sessions already there are kept). Each variant replays every
session's recorded poses through the lifter, its current defaults changed by the variant's settings
(``scripts/replay_lifter.py``); the variant ``default`` (no change) is always scored. Writes OUT.json
(every RMSE) and OUT.md (the mean of hip, knee and ankle flexion of both sides, per session and
variant). The motions are ``../shared``'s mocap trials.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_lifter import replay, score  # noqa: E402  (the sibling script)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SQUATS1 = "opencap_squats1/squats1_mocap.mot"
STS = "opencap_sts/mocap_33dof.mot"
ASYM = "addbiomechanics/subject{}_squatsAsym1.mot"
PANEL: tuple[tuple[str, str, float], ...] = (
    ("sq1_0", SQUATS1, 0.0), ("sq1_45", SQUATS1, 45.0), ("sq1_90", SQUATS1, 90.0), ("sq1_m30", SQUATS1, -30.0),
    ("s2_30", ASYM.format(2), 30.0), ("s2_m45", ASYM.format(2), -45.0), ("s2_75", ASYM.format(2), 75.0),
    ("s3_0", ASYM.format(3), 0.0), ("s3_60", ASYM.format(3), 60.0), ("s3_m30", ASYM.format(3), -30.0),
    ("s5_0", ASYM.format(5), 0.0), ("s5_45", ASYM.format(5), 45.0), ("s5_m60", ASYM.format(5), -60.0),
    ("s6_45", ASYM.format(6), 45.0), ("s6_m75", ASYM.format(6), -75.0),
    ("sts_0", STS, 0.0), ("sts_m40", STS, -40.0), ("sts_70", STS, 70.0),
)
"""(session name, motion under ../shared/data, camera azimuth in deg): 5 subjects, squats and a sit-to-stand."""


def render(sessions: Path) -> None:
    """Film each panel motion into sessions/NAME with ``bige demo`` (kept if already there)."""
    for name, motion, azimuth in PANEL:
        out = sessions / name
        if out.exists():
            continue
        print(f"rendering {name} ...", flush=True)
        cmd = [sys.executable, "-m", "edge.cli", "demo", "--motion", str(SHARED / motion), "--azimuth", str(azimuth),
               "--out", str(out)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def score_session(session: Path, overrides: list[str], reference: Path | None) -> dict[str, float]:
    """RMSE table of one session replayed by today's lifter with the overrides, against the reference or
    the exact truth (``scripts/replay_lifter.py``)."""
    return score(session, *replay(session, overrides, current_lifter=True), reference)[0]


def parse_variant(text: str) -> tuple[str, list[str]]:
    """'NAME=KEY=VALUE;KEY=VALUE' -> (NAME, [KEY=VALUE, ...]); 'NAME=' has no overrides."""
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--variant {text!r}: expected NAME=KEY=VALUE[;KEY=VALUE...]")
    return name, [s for s in rest.split(";") if s]


def markdown(results: dict[str, dict[str, dict[str, float]]], real: str | None) -> str:
    """The mean-flexion table: one row per session, one column per variant, then the means."""
    variants = list(results)
    sessions = list(results[variants[0]])
    lines = ["| session | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for s in sessions:
        lines.append(f"| {s} | " + " | ".join(f"{results[v][s]['mean_sagittal_lower']:.2f}" for v in variants) + " |")
    rendered = [s for s in sessions if s != real]
    lines.append("| **mean, rendered** | " + " | ".join(
        f"**{np.mean([results[v][s]['mean_sagittal_lower'] for s in rendered]):.2f}**" for v in variants) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sessions", type=Path, help="folder of the panel's sessions (one sub-folder each)")
    parser.add_argument("out", type=Path, help="output path without suffix (writes OUT.json and OUT.md)")
    parser.add_argument("--render", action="store_true", help="film the missing panel sessions first")
    parser.add_argument("--real", nargs=2, metavar=("SESSION", "REF"), type=Path,
                        help="a real video session (bige run) and its reference .mot")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE[;KEY=VALUE...]",
                        help="settings to score besides the defaults; repeatable")
    args = parser.parse_args(argv)
    try:
        variants = dict([("default", [])] + [parse_variant(v) for v in args.variant])
        if args.render:
            render(args.sessions)
        panel = [(name, args.sessions / name, None) for name, _, _ in PANEL if (args.sessions / name).is_dir()]
        if args.real:
            panel.insert(0, (args.real[0].name, args.real[0], args.real[1]))
        if not panel:
            raise ValueError(f"{args.sessions}: no panel session there (run with --render)")
        results: dict[str, dict[str, dict[str, float]]] = {}
        for variant, overrides in variants.items():
            results[variant] = {}
            for name, folder, reference in panel:
                results[variant][name] = score_session(folder, overrides, reference)
                print(f"{variant:12s} {name:12s} {results[variant][name]['mean_sagittal_lower']:6.2f}", flush=True)
    except (ValueError, FileNotFoundError, subprocess.CalledProcessError) as e:
        print(f"lifter_panel: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"variants": variants, "real_session": str(args.real[0]) if args.real else None, "rmse_deg": results}
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(results, args.real[0].name if args.real else None))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
