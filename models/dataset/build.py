"""``bige dataset``: build a versioned, reproducible training dataset for the BIGE generator.

Purpose: one command that turns the real squat trials in ``shared/data`` plus synthetic reps into
train/validation shards for the VQ-VAE generator and the activation surrogate.
Inputs: the real trials (``DEFAULT_REAL_TRIALS``, read from ``--data-dir``, default ``shared/data``) and
the settings (:class:`DatasetConfig`: seed, number of synthetic reps, window length, split fraction).
Outputs: a folder ``OUT/bige-squats-v<format>-seed<seed>-syn<N>[-noreal]`` holding
``train-000.npz``, ..., ``validation-000.npz`` (see ``ARRAYS``) and ``manifest.json``: format version,
seed, settings, code commit, software versions, fault/coordinate/muscle names, every subject with its
split, every sample's provenance (source file, its SHA-256 and the rep's frame range; or the synthetic
spec and draw), shard SHA-256s, counts, a metrics summary, and a ``build`` section (time stamp, timings,
worker count), the only part that changes between two builds with the same settings.

Algorithm: one task per real trial and per synthetic pseudo-subject (``reps_per_subject`` reps drawn
from seeds derived from (seed, subject index); see models.dataset.samples) runs in a pool of
``workers`` spawned processes (BLAS/OpenMP threads 1 per worker); results are gathered by task index,
so the content never depends on the worker count or the completion order. Subjects are split by
subject, never by rep: real and synthetic subjects separately, each kind shuffled by the seed, a
``validation_fraction`` share of each (at least one when a kind has two or more subjects) to
validation. The sit-to-stand trial (``opencap_sts``) is excluded: it is not a squat, its seated rest
breaks the fault measures' standing baseline, and the chair's support breaks the both-feet-on-the-
ground inverse dynamics behind the activations. The folder is written under a temporary name and
renamed when complete; an existing dataset folder is never overwritten.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import enum
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge.messages import BIGE_COORDINATES
from edge.motion_io import MotFormatError
from edge.paths import PROJECT_ROOT, shared_dir
from models.biomech import metrics as bm
from models.biomech.muscles.geometry import BIGE_MUSCLE_ORDER
from models.dataset import samples as ds
from models.dataset.shards import read_npz, sha256_file, write_npz

FORMAT_VERSION = 1
"""Version of the folder layout, array names and manifest schema; bump on any incompatible change."""
DATASET_NAME = "bige-squats"
DEFAULT_OUT_DIR = Path("datasets")
MANIFEST = "manifest.json"
ARRAYS: dict[str, str] = {
    "kinematics": "(N, W, 33) float32: BIGE coordinates, degrees / metres, 60 fps",
    "activations": "(N, W, 80) float32 in [0, 1]: muscle activations, BIGE's muscle order",
    "faults": "(N, F) uint8: fault multi-hot, columns in manifest 'faults' order",
    "rep_frames": "(N,) int32: the rep's own length at 60 fps before tiling or cropping",
    "window_start": "(N,) int32: first rep frame of a cropped window (0 when tiled)",
    "index": "(N,) int32: the sample's index in the manifest's 'samples'",
    "sample_id": "(N,) str: '<subject>/rep<j>'",
    "subject": "(N,) str: subject id",
    "kind": "(N,) str: 'real' or 'synthetic'",
    "split": "(N,) str: 'train' or 'validation'",
}


class Split(enum.Enum):
    """Dataset splits, in shard order."""

    TRAIN = "train"
    VALIDATION = "validation"


@dataclass(frozen=True)
class RealTrial:
    """A real squat trial: the subject's id in the dataset and the file relative to the data folder."""

    subject_id: str
    relative_path: str


DEFAULT_REAL_TRIALS: tuple[RealTrial, ...] = (
    RealTrial("opencap_squats1", "opencap_squats1/squats1_mocap.mot"),
    RealTrial("addbio_subject2", "addbiomechanics/subject2_squatsAsym1.mot"),
    RealTrial("addbio_subject3", "addbiomechanics/subject3_squatsAsym1.mot"),
    RealTrial("addbio_subject5", "addbiomechanics/subject5_squatsAsym1.mot"),
    RealTrial("addbio_subject6", "addbiomechanics/subject6_squatsAsym1.mot"),
)
EXCLUDED_SOURCES: tuple[dict[str, str], ...] = (
    {"files": "opencap_sts/*_33dof.mot",
     "reason": "sit-to-stand, not a squat: the seated rest breaks the fault measures' standing baseline and "
               "the chair's support breaks the both-feet-on-the-ground inverse dynamics behind the activations; "
               "the monocular and WHAM files are estimates of the same trial"},
)
WINDOW_POLICY = ("reps shorter than the window are tiled from their first frame (BIGE); longer reps are cropped "
                 "at a seeded random offset that keeps the whole knee movement in the window where it fits, "
                 "else centred on the deepest frame; activations are estimated on the whole trial (real) or rep "
                 "(synthetic) and cut with the same frame indices")
LABEL_POLICY = ("labels of real and synthetic reps alike from models.synth.faults.measure_rep and "
                "labels_from_measures on the whole rep; the synthetic spec's own labels are in the provenance")


class OutputExistsError(FileExistsError, ValueError):
    """The dataset folder exists already; datasets are never overwritten."""


@dataclass(frozen=True)
class DatasetConfig:
    """What goes into a dataset (everything that changes its content).

    Attributes:
        seed: the one seed of every random choice (>= 0).
        n_synthetic: synthetic reps (>= 0).
        reps_per_subject: synthetic reps per pseudo-subject (>= 1); the last subject takes the remainder.
        validation_fraction: share of each kind's subjects in the validation split, in (0, 1).
        window_frames: sample length at 60 fps (BIGE: 196).
        include_real: include the real trials.
        real_trials: which real trials (files relative to the data folder).
        shard_size: samples per shard file (>= 1).
    """

    seed: int = 0
    n_synthetic: int = 200
    reps_per_subject: int = 10
    validation_fraction: float = 0.25
    window_frames: int = bm.WINDOW_FRAMES
    include_real: bool = True
    real_trials: tuple[RealTrial, ...] = DEFAULT_REAL_TRIALS
    shard_size: int = 256

    def __post_init__(self) -> None:
        for name, low in (("seed", 0), ("n_synthetic", 0), ("reps_per_subject", 1), ("window_frames", 8),
                          ("shard_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"DatasetConfig.{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.validation_fraction, (int, float)) and 0 < self.validation_fraction < 1):
            raise ValueError(f"DatasetConfig.validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if not isinstance(self.include_real, bool):
            raise ValueError(f"DatasetConfig.include_real must be a bool, got {self.include_real!r}")
        if not all(isinstance(t, RealTrial) for t in self.real_trials):
            raise ValueError("DatasetConfig.real_trials must hold RealTrial entries")
        ids = [t.subject_id for t in self.real_trials]
        if len(set(ids)) != len(ids):
            raise ValueError(f"DatasetConfig.real_trials: duplicate subject ids {sorted(set(i for i in ids if ids.count(i) > 1))}")
        if self.n_synthetic == 0 and not (self.include_real and self.real_trials):
            raise ValueError("DatasetConfig: no samples to build (n_synthetic is 0 and no real trials are included)")

    @property
    def folder_name(self) -> str:
        """The dataset folder's name: format version, seed, synthetic count, and whether real trials are in."""
        real = "" if self.include_real and self.real_trials else "-noreal"
        return f"{DATASET_NAME}-v{FORMAT_VERSION}-seed{self.seed}-syn{self.n_synthetic}{real}"


@dataclass(frozen=True)
class BuildResult:
    """A finished dataset: its folder, manifest and size on disk."""

    path: Path
    manifest: dict = field(repr=False)
    size_bytes: int


def build_dataset(config: DatasetConfig, out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
                  data_dir: str | os.PathLike[str] | None = None, workers: int = 2,
                  progress: bool = True) -> BuildResult:
    """Build a dataset into ``out_dir / config.folder_name`` (see the module docstring).

    Args:
        config: the content settings.
        out_dir: parent folder (created if missing).
        data_dir: folder of the real trials (default ``shared_dir() / "data"``).
        workers: processes (>= 1; 1 runs in this process). Does not change the content.
        progress: show a progress bar on stderr.

    Returns:
        The BuildResult.

    Raises:
        OutputExistsError: the dataset folder exists.
        FileNotFoundError: a real trial file is missing (path named).
        MotFormatError, ValueError: a real trial that cannot be read or segmented (file named).
        RuntimeError: a pseudo-subject whose synthetic reps stay infeasible.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    t_start = time.perf_counter()
    created = datetime.datetime.now(datetime.timezone.utc)
    out_dir = Path(out_dir)
    target = out_dir / config.folder_name
    if target.exists():
        raise OutputExistsError(f"dataset folder {target} exists already; datasets are never overwritten "
                                f"(delete it or choose another --out, --seed or --synthetic)")
    data_dir = Path(data_dir) if data_dir is not None else shared_dir() / "data"
    tasks = _tasks(config, data_dir)

    results = _run_tasks(tasks, workers, progress)
    t_generated = time.perf_counter()

    splits = assign_splits([r.subject for r in results], config.seed, config.validation_fraction)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / f".{config.folder_name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        shards, sample_entries = _write_shards(staging, results, splits, config.shard_size)
        t_written = time.perf_counter()
        manifest = _manifest(config, results, splits, shards, sample_entries)
        manifest["build"] = {
            "created_utc": created.isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - t_start, 2),
            "stage_s": {"samples": round(t_generated - t_start, 2), "shards": round(t_written - t_generated, 2)},
            "workers": workers,
            "data_dir": str(data_dir.resolve()) if config.include_real and config.real_trials else None,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in target.iterdir())
    return BuildResult(path=target, manifest=manifest, size_bytes=size)


def assign_splits(subjects: Sequence[dict], seed: int, validation_fraction: float) -> dict[str, Split]:
    """Split subjects (not reps) into train and validation, each kind ('real', 'synthetic') separately.

    Per kind, the subject ids (sorted) are shuffled by ``seed`` and the first
    round(fraction x n) go to validation, at least one and at most n - 1 when n >= 2 (a lone subject
    goes to train).

    Args:
        subjects: records with 'id' and 'kind'.
        seed: dataset seed.
        validation_fraction: in (0, 1).

    Returns:
        subject id -> Split.

    Raises:
        ValueError: duplicate subject ids.
    """
    ids = [s["id"] for s in subjects]
    if len(set(ids)) != len(ids):
        raise ValueError(f"assign_splits: duplicate subject ids {sorted({i for i in ids if ids.count(i) > 1})}")
    out: dict[str, Split] = {}
    for code, kind in enumerate(("real", "synthetic")):
        members = sorted(s["id"] for s in subjects if s["kind"] == kind)
        n = len(members)
        n_val = min(max(1, round(validation_fraction * n)), n - 1) if n >= 2 else 0
        order = np.random.default_rng([seed, 5, code]).permutation(n)
        for rank, i in enumerate(order):
            out[members[i]] = Split.VALIDATION if rank < n_val else Split.TRAIN
    return out


def load_manifest(path: str | os.PathLike[str]) -> dict:
    """The manifest of a dataset folder.

    Raises:
        FileNotFoundError: no manifest.json there.
        ValueError: unreadable, or a format version this code does not read.
    """
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {path}: not a dataset folder")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: not valid JSON ({exc})") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{file}: format_version {manifest.get('format_version')!r}; this code reads "
                         f"version {FORMAT_VERSION}")
    return manifest


def load_split(path: str | os.PathLike[str], split: Split | str) -> dict[str, np.ndarray]:
    """Every array of one split (its shards concatenated in order), checked against the manifest's SHA-256s.

    Args:
        path: the dataset folder.
        split: Split or its value ('train', 'validation').

    Returns:
        name -> array (see ``ARRAYS``); empty arrays' shapes follow the manifest's window length.

    Raises:
        FileNotFoundError, ValueError: not a dataset folder, unknown split, or a shard whose SHA-256
            differs from the manifest (file named).
    """
    try:
        split = Split(split) if not isinstance(split, Split) else split
    except ValueError:
        raise ValueError(f"unknown split {split!r}; known: {[s.value for s in Split]}") from None
    manifest = load_manifest(path)
    parts: dict[str, list[np.ndarray]] = {}
    for shard in manifest["shards"]:
        if shard["split"] != split.value:
            continue
        file = Path(path) / shard["file"]
        if sha256_file(file) != shard["sha256"]:
            raise ValueError(f"{file}: SHA-256 differs from the manifest; the shard was modified or damaged")
        for name, array in read_npz(file).items():
            parts.setdefault(name, []).append(array)
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}


# ------------------------------------------------------------------------------------------ internals


def _tasks(config: DatasetConfig, data_dir: Path) -> list[ds.RealTrialTask | ds.SyntheticSubjectTask]:
    tasks: list[ds.RealTrialTask | ds.SyntheticSubjectTask] = []
    if config.include_real:
        for trial in config.real_trials:
            path = data_dir / trial.relative_path
            if not path.is_file():
                raise FileNotFoundError(f"real trial not found: {path} (set --data-dir to the folder holding "
                                        f"{trial.relative_path}, or build without real trials: --no-real)")
            tasks.append(ds.RealTrialTask(trial.subject_id, path, trial.relative_path, config.seed,
                                          config.window_frames))
    n_subjects = -(-config.n_synthetic // config.reps_per_subject)
    for k in range(n_subjects):
        n_reps = min(config.reps_per_subject, config.n_synthetic - k * config.reps_per_subject)
        tasks.append(ds.SyntheticSubjectTask(f"synth_{k:03d}", k, n_reps, config.seed, config.window_frames))
    return tasks


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Processes spawned inside this block start with 1 BLAS/OpenMP thread (they copy the environment)."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    os.environ.update({name: "1" for name in _THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _init_worker() -> None:
    """Worker start: one intra-op thread for torch too, should anything in a task import it."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _run_tasks(tasks: Sequence[ds.RealTrialTask | ds.SyntheticSubjectTask], workers: int,
               progress: bool) -> list[ds.TaskResult]:
    """Every task's result, in task order (independent of the worker count and completion order)."""
    from tqdm import tqdm

    results: dict[int, ds.TaskResult] = {}
    with tqdm(total=len(tasks), desc="bige dataset", unit="subject", disable=not progress) as bar:
        def collect(done: Iterator[tuple[int, ds.TaskResult]]) -> None:
            for i, result in done:
                results[i] = result
                bar.set_postfix(reps=sum(len(r.records) for r in results.values()))
                bar.update()

        if workers == 1 or len(tasks) == 1:
            collect(ds.run_indexed(item) for item in enumerate(tasks))
        else:
            context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited thread pools
            with _single_threaded_children(), context.Pool(min(workers, len(tasks)), _init_worker) as pool:
                collect(pool.imap_unordered(ds.run_indexed, enumerate(tasks)))
    return [results[i] for i in range(len(tasks))]


def _write_shards(folder: Path, results: Sequence[ds.TaskResult], splits: dict[str, Split],
                  shard_size: int) -> tuple[list[dict], list[dict]]:
    """Write the shards (train first, then validation; tasks in order) and list every sample."""
    shards: list[dict] = []
    entries: list[dict] = []
    for split in Split:
        chosen = [r for r in results if splits[r.subject["id"]] is split]
        if not chosen:
            continue
        arrays = {
            "kinematics": np.concatenate([r.kinematics for r in chosen]),
            "activations": np.concatenate([r.activations for r in chosen]),
            "faults": np.concatenate([r.faults for r in chosen]),
            "rep_frames": np.concatenate([r.rep_frames for r in chosen]),
            "window_start": np.concatenate([r.window_start for r in chosen]),
        }
        records = [(r.subject, rec) for r in chosen for rec in r.records]
        first = len(entries)
        arrays["index"] = np.arange(first, first + len(records), dtype=np.int32)
        arrays["sample_id"] = np.array([rec["id"] for _, rec in records])
        arrays["subject"] = np.array([subject["id"] for subject, _ in records])
        arrays["kind"] = np.array([subject["kind"] for subject, _ in records])
        arrays["split"] = np.array([split.value] * len(records))
        for k, lo in enumerate(range(0, len(records), shard_size)):
            name = f"{split.value}-{k:03d}.npz"
            part = {key: value[lo:lo + shard_size] for key, value in arrays.items()}
            digest = write_npz(folder / name, part)
            shards.append({"file": name, "split": split.value, "first_index": first + lo,
                           "n_samples": int(part["index"].shape[0]), "sha256": digest})
            for row, (subject, rec) in enumerate(records[lo:lo + shard_size]):
                entries.append({"index": first + lo + row, "shard": name, "row": row, "split": split.value,
                                "subject": subject["id"], "kind": subject["kind"], **rec})
    return shards, entries


def _manifest(config: DatasetConfig, results: Sequence[ds.TaskResult], splits: dict[str, Split],
              shards: list[dict], entries: list[dict]) -> dict:
    settings = asdict(config)
    settings["real_trials"] = [asdict(t) for t in config.real_trials] if config.include_real else []
    settings.update({"fps": ds.FPS, "window_policy": WINDOW_POLICY, "label_policy": LABEL_POLICY,
                     "split_policy": "by subject, real and synthetic separately (see assign_splits)",
                     "excluded_sources": list(EXCLUDED_SOURCES), "max_draw_rounds": ds.MAX_DRAW_ROUNDS,
                     "stance_jitter_m": ds.STANCE_JITTER_M})
    subjects = [{**r.subject, "split": splits[r.subject["id"]].value, "n_samples": len(r.records)} for r in results]
    return {
        "format_version": FORMAT_VERSION,
        "name": config.folder_name,
        "seed": config.seed,
        "settings": settings,
        "code": _code_version(),
        "software": _software(),
        "arrays": ARRAYS,
        "faults": list(ds.FAULT_NAMES),
        "coordinates": list(BIGE_COORDINATES),
        "muscles": list(BIGE_MUSCLE_ORDER),
        "counts": _counts(entries, subjects),
        "summary": _summary(results, splits),
        "subjects": subjects,
        "shards": shards,
        "samples": entries,
    }


def _counts(entries: list[dict], subjects: list[dict]) -> dict:
    counts: dict = {"samples": len(entries), "subjects": len(subjects)}
    for split in Split:
        in_split = [e for e in entries if e["split"] == split.value]
        counts[split.value] = {
            "samples": len(in_split),
            "subjects": sum(s["split"] == split.value for s in subjects),
            "by_kind": {kind: sum(e["kind"] == kind for e in in_split) for kind in ("real", "synthetic")},
            "faults": {name: sum(name in e["faults"] for e in in_split) for name in ds.FAULT_NAMES},
            "clean": sum(not e["faults"] for e in in_split),
            "tiled": sum(e["window"]["tiles"] > 1 for e in in_split),
        }
    return counts


def _summary(results: Sequence[ds.TaskResult], splits: dict[str, Split]) -> dict:
    """Per kind and split: mean per-rep metrics and window diversity; synthetic-to-real fidelity; label checks."""
    groups: dict[str, dict] = {}
    windows: dict[str, list[np.ndarray]] = {"real": [], "synthetic": []}
    for kind in ("real", "synthetic"):
        windows[kind] = [r.kinematics for r in results if r.subject["kind"] == kind]
        for split in Split:
            chosen = [r for r in results if r.subject["kind"] == kind and splits[r.subject["id"]] is split]
            if not chosen:
                continue
            records = [rec for r in chosen for rec in r.records]
            metrics = {name: ds.round_sig(np.mean([rec["metrics"][name] for rec in records]))
                       for name in records[0]["metrics"]}
            kin = np.concatenate([r.kinematics for r in chosen]).astype(np.float64)
            groups[f"{kind}/{split.value}"] = {"samples": len(records), "mean_rep_metrics": metrics,
                                               "window_diversity": ds.round_sig(bm.diversity(kin)),
                                               "mean_rep_frames": ds.round_sig(np.mean([rec["rep_frames"] for rec in records]))}
    summary: dict = {"groups": groups}
    if windows["real"] and windows["synthetic"]:
        real = np.concatenate(windows["real"]).astype(np.float64).ravel()
        synthetic = np.concatenate(windows["synthetic"]).astype(np.float64).ravel()
        summary["fidelity_synthetic_to_real"] = ds.round_sig(bm.fidelity(real, synthetic))
    synthetic_records = [rec for r in results if r.subject["kind"] == "synthetic" for rec in r.records]
    summary["synthetic_spec_label_mismatches"] = sum(rec["faults"] != rec["source"]["spec_faults"]
                                                      for rec in synthetic_records)
    return summary


def _code_version() -> dict:
    """The project's git commit and whether tracked files differ from it (None where git is unavailable)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def _software() -> dict:
    from importlib import metadata

    import scipy

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "bige_edge": version("bige-edge"), "platform": platform.platform()}


# ---------------------------------------------------------------------------------------------- command


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``dataset`` command's arguments to ``parser`` (for a subcommand parser)."""
    defaults = DatasetConfig()
    parser.add_argument("--out", default=str(DEFAULT_OUT_DIR),
                        help=f"parent folder of the dataset folder (default {DEFAULT_OUT_DIR}/, git-ignored)")
    parser.add_argument("--synthetic", type=_non_negative_int, default=defaults.n_synthetic, metavar="N",
                        help=f"number of synthetic reps (default {defaults.n_synthetic})")
    parser.add_argument("--seed", type=_non_negative_int, default=defaults.seed,
                        help=f"seed of every random choice (default {defaults.seed})")
    parser.add_argument("--workers", type=_positive_int, default=2, help="worker processes (default 2)")
    parser.add_argument("--reps-per-subject", type=_positive_int, default=defaults.reps_per_subject,
                        help=f"synthetic reps per pseudo-subject (default {defaults.reps_per_subject})")
    parser.add_argument("--validation-fraction", type=float, default=defaults.validation_fraction,
                        help=f"share of subjects in validation (default {defaults.validation_fraction})")
    parser.add_argument("--data-dir", help="folder of the real trials (default: shared/data)")
    parser.add_argument("--no-real", action="store_true", help="synthetic reps only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The stand-alone parser (prog ``bige dataset``)."""
    return add_arguments(argparse.ArgumentParser(
        prog="bige dataset", description="build a versioned training dataset for the BIGE generator"))


def run(args: argparse.Namespace) -> int:
    """Run the command on parsed arguments (for registration as a subcommand); prints a one-line summary.

    Raises:
        OutputExistsError, FileNotFoundError, MotFormatError, ValueError, RuntimeError: see build_dataset.
    """
    config = DatasetConfig(seed=args.seed, n_synthetic=args.synthetic, reps_per_subject=args.reps_per_subject,
                           validation_fraction=args.validation_fraction, include_real=not args.no_real)
    result = build_dataset(config, args.out, args.data_dir, workers=args.workers, progress=not args.no_progress)
    counts, build = result.manifest["counts"], result.manifest["build"]
    print(f"{result.path}: {counts['samples']} samples ({counts['train']['samples']} train, "
          f"{counts['validation']['samples']} validation; {counts['subjects']} subjects), "
          f"{result.size_bytes / 1e6:.1f} MB, built in {build['duration_s']:.1f} s with {build['workers']} workers")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m models.dataset.build`` entry point; returns the exit status (2 on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (FileNotFoundError, FileExistsError, MotFormatError, ValueError, RuntimeError) as exc:
        print(f"bige dataset: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
