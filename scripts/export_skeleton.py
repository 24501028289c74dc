"""Export an OpenSim model (+ marker set) to the project's skeleton JSON (edge.skeleton.model).

Default: pose2sim's Model_Pose2Sim_simple.osim with Markers_BlazePose.xml -> the product's model,
edge/assets/pose2sim_simple_blazepose.json. Needs opensim (x86-64). Models from pose2sim get a
provenance and licence note in the JSON metadata.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from dataclasses import replace
from pathlib import Path

from edge.paths import ASSETS_DIR, pose2sim_setup_dir
from edge.skeleton.export import export_osim
from edge.skeleton.model import DEFAULT_MODEL_FILE

POSE2SIM_NOTE = (
    "Derived from pose2sim's OpenSim assets ({files}; pose2sim {version}, https://github.com/perfanalytics/pose2sim), "
    "BSD-3-Clause licence, Copyright (c) 2022, perfanalytics. The model is adapted by pose2sim from Rajagopal et al. 2016. "
    "Converted to this JSON by scripts/export_skeleton.py (edge.skeleton.export)."
)


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Export a model; returns the process exit status."""
    try:
        setup = pose2sim_setup_dir()
    except FileNotFoundError:
        setup = None
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--osim", type=Path, default=setup / "Model_Pose2Sim_simple.osim" if setup else None,
                        required=setup is None, help="OpenSim model (default: pose2sim's Model_Pose2Sim_simple.osim)")
    parser.add_argument("--markers", type=Path, default=setup / "Markers_BlazePose.xml" if setup else None,
                        help="MarkerSet .xml (default: pose2sim's Markers_BlazePose.xml; 'none' for no extra markers)")
    parser.add_argument("--out", type=Path, default=ASSETS_DIR / DEFAULT_MODEL_FILE, help="output JSON")
    args = parser.parse_args(argv)
    markers = None if args.markers is None or str(args.markers).lower() == "none" else args.markers
    model = export_osim(args.osim, markers)
    if setup is not None and _is_within(args.osim, setup):
        files = ", ".join(p.name for p in (args.osim, markers) if p is not None)
        note = POSE2SIM_NOTE.format(files=files, version=importlib.metadata.version("pose2sim"))
        model = replace(model, metadata={**model.metadata, "provenance": note, "licence": "BSD-3-Clause (pose2sim)"})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"wrote {args.out}: {len(model.bodies)} bodies, {model.n_coordinates} coordinates "
          f"({len(model.dependent_coordinates)} dependent), {len(model.markers)} markers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
