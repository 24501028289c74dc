"""Every path the project uses hangs off one resolved root, with environment overrides.

- ``BIGE_SHARED``: the shared data folder (default: ``<project root>/../shared``); tests and
  evaluations read it and skip when it is absent.
- ``BIGE_POSE2SIM_SETUP``: the folder of pose2sim's OpenSim assets (default: found in the installed
  ``Pose2Sim`` package, without importing it).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = Path(__file__).resolve().parent / "assets"


def shared_dir() -> Path:
    """The shared data folder (may not exist on a user's machine)."""
    return Path(os.environ.get("BIGE_SHARED", PROJECT_ROOT.parent / "shared")).resolve()


def pose2sim_setup_dir() -> Path:
    """pose2sim's ``OpenSim_Setup`` folder (models, marker sets, IK/scaling setups).

    Raises:
        FileNotFoundError: pose2sim is not installed and BIGE_POSE2SIM_SETUP is not set.
    """
    override = os.environ.get("BIGE_POSE2SIM_SETUP")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("Pose2Sim")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "pose2sim is not installed: run scripts/setup.sh (pip install --no-deps pose2sim==0.10.49) "
                "or set BIGE_POSE2SIM_SETUP to its OpenSim_Setup folder")
        path = Path(list(spec.submodule_search_locations)[0]) / "OpenSim_Setup"
    if not path.is_dir():
        raise FileNotFoundError(f"pose2sim OpenSim assets not found at {path}")
    return path
