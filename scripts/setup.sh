#!/usr/bin/env bash
# One-command set-up on a fresh machine: a virtual environment in .venv with everything the project,
# its tests and its benchmarks need, including the OpenSim model assets (pose2sim, from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version}"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPIP=".venv/bin/python -m pip"
$VPIP install -q --upgrade pip
# CPU build of torch, pinned: an unpinned torch pulls a multi-GB CUDA build.
if [ "$(uname -m)" = "x86_64" ]; then
  $VPIP install -q torch==2.13.0
  $VPIP install -q -e '.[opensim,torch,dev]'
else
  $VPIP install -q -e '.[dev]'
fi
# pose2sim ships the validated OpenSim model and BlazePose marker assets; its dependencies are not needed.
$VPIP install -q --no-deps pose2sim==0.10.49
echo "set-up done: activate with 'source .venv/bin/activate', then run 'bige demo'"
