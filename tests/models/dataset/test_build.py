"""Tests of models.dataset: a tiny build (6 synthetic reps + one real trial when ../shared is present)."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import numpy as np
import pytest

from edge.paths import shared_dir
from models.biomech import metrics as bm
from models.dataset import build as db
from models.dataset.samples import FAULT_NAMES, fit_window
from models.dataset.shards import read_npz, write_npz

DATA = shared_dir() / "data"
REAL = db.DEFAULT_REAL_TRIALS[1]  # addbio_subject2: 5 reps
HAS_REAL = (DATA / REAL.relative_path).is_file()
needs_real = pytest.mark.skipif(not HAS_REAL, reason=f"shared data missing: {DATA / REAL.relative_path}")


def _config(**changes) -> db.DatasetConfig:
    base = db.DatasetConfig(seed=7, n_synthetic=6, reps_per_subject=2, real_trials=(REAL,), include_real=HAS_REAL)
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> db.BuildResult:
    return db.build_dataset(_config(), tmp_path_factory.mktemp("a"), DATA, workers=1, progress=False)


@pytest.fixture(scope="module")
def tiny_two_workers(tmp_path_factory) -> db.BuildResult:
    return db.build_dataset(_config(), tmp_path_factory.mktemp("b"), DATA, workers=2, progress=False)


def _all(result: db.BuildResult) -> dict[str, dict[str, np.ndarray]]:
    return {split.value: db.load_split(result.path, split) for split in db.Split}


def test_same_seed_gives_identical_dataset_whatever_the_worker_count(tiny, tiny_two_workers):
    assert tiny.path.name == tiny_two_workers.path.name == "bige-squats-v1-seed7-syn6" + ("" if HAS_REAL else "-noreal")
    a, b = _all(tiny), _all(tiny_two_workers)
    for split in a:
        assert a[split].keys() == b[split].keys()
        for name in a[split]:
            np.testing.assert_array_equal(a[split][name], b[split][name], err_msg=f"{split}/{name}")
    assert [s["sha256"] for s in tiny.manifest["shards"]] == [s["sha256"] for s in tiny_two_workers.manifest["shards"]]
    strip = lambda m: {k: v for k, v in m.items() if k not in ("build", "code")}  # noqa: E731
    assert strip(tiny.manifest) == strip(tiny_two_workers.manifest)
    assert tiny.manifest["build"]["workers"] == 1 and tiny_two_workers.manifest["build"]["workers"] == 2


def test_shapes_dtypes_and_values(tiny):
    data = _all(tiny)
    n_total = 0
    for split, arrays in data.items():
        n = arrays["kinematics"].shape[0]
        n_total += n
        assert arrays["kinematics"].shape == (n, 196, 33) and arrays["kinematics"].dtype == np.float32
        assert arrays["activations"].shape == (n, 196, 80) and arrays["activations"].dtype == np.float32
        assert arrays["faults"].shape == (n, len(FAULT_NAMES)) and arrays["faults"].dtype == np.uint8
        assert np.all(np.isfinite(arrays["kinematics"]))
        assert arrays["activations"].min() >= 0.0 and arrays["activations"].max() <= 1.0
        assert set(arrays["split"]) == {split}
        knees = arrays["kinematics"][:, :, [9, 16]]  # knee_angle_r, knee_angle_l
        assert np.all(knees.max(axis=(1, 2)) > 40.0), "every window holds a squat's knee flexion"
    assert n_total == tiny.manifest["counts"]["samples"] == len(tiny.manifest["samples"])
    assert n_total == 6 + (5 if HAS_REAL else 0)


def test_split_is_by_subject(tiny):
    data = _all(tiny)
    train, validation = set(data["train"]["subject"]), set(data["validation"]["subject"])
    assert train and validation and not train & validation
    splits = {s["id"]: s["split"] for s in tiny.manifest["subjects"]}
    for entry in tiny.manifest["samples"]:
        assert entry["split"] == splits[entry["subject"]]
    synthetic = [s for s in tiny.manifest["subjects"] if s["kind"] == "synthetic"]
    assert len(synthetic) == 3 and sum(s["split"] == "validation" for s in synthetic) == 1


def test_manifest_describes_every_sample(tiny):
    m = tiny.manifest
    assert m["format_version"] == db.FORMAT_VERSION and m["seed"] == 7
    assert m["settings"]["n_synthetic"] == 6 and m["settings"]["window_frames"] == 196
    assert m["faults"] == list(FAULT_NAMES) and len(m["coordinates"]) == 33 and len(m["muscles"]) == 80
    assert set(m["software"]) >= {"python", "numpy", "scipy"} and "git_commit" in m["code"]
    assert m["build"]["duration_s"] > 0 and m["build"]["created_utc"]
    for shard in m["shards"]:
        assert hashlib.sha256((tiny.path / shard["file"]).read_bytes()).hexdigest() == shard["sha256"]
    data = _all(tiny)
    for split, arrays in data.items():
        for row, index in enumerate(arrays["index"]):
            entry = m["samples"][index]
            assert entry["id"] == arrays["sample_id"][row] and entry["split"] == split
            assert [FAULT_NAMES[i] for i in np.flatnonzero(arrays["faults"][row])] == \
                [f for f in FAULT_NAMES if f in entry["faults"]]
            assert arrays["rep_frames"][row] == entry["rep_frames"]
            if entry["kind"] == "synthetic":
                assert set(entry["source"]["spec"]) >= {"depth_deg", "variation_seed"}
                assert "draw_seed" in entry["source"]
            else:
                assert entry["source"]["file"] == REAL.relative_path
    assert m["counts"]["train"]["samples"] + m["counts"]["validation"]["samples"] == m["counts"]["samples"]


@needs_real
def test_real_samples_are_the_trial_frames_they_name(tiny):
    trial = bm.load_bige(DATA / REAL.relative_path)  # (T, 33) at 60 fps
    entries = [e for e in tiny.manifest["samples"] if e["kind"] == "real"]
    assert len(entries) == 5
    assert entries[0]["source"]["sha256"] == hashlib.sha256((DATA / REAL.relative_path).read_bytes()).hexdigest()
    arrays = db.load_split(tiny.path, entries[0]["split"])
    for entry in entries:
        start, end = entry["source"]["frames_60fps"]
        rep = trial[start:end]
        assert entry["rep_frames"] == end - start < 196 and entry["window"]["tiles"] >= 2
        row = int(np.flatnonzero(arrays["index"] == entry["index"])[0])
        expected = rep[np.arange(196) % len(rep)].astype(np.float32)  # tiled from the rep's first frame
        np.testing.assert_array_equal(arrays["kinematics"][row], expected)


def test_fit_window_tiles_short_reps_and_keeps_the_movement_when_cropping():
    rng = np.random.default_rng(0)
    short = np.linspace(0, 90, 50)
    idx, start, tiles = fit_window(short, 196, rng)
    assert start == 0 and tiles == 4 and np.array_equal(idx, np.arange(196) % 50)
    long = np.zeros(300)
    long[120:220] = 90 * np.sin(np.linspace(0, np.pi, 100))  # movement in frames 120-219
    starts = set()
    for seed in range(20):
        idx, start, tiles = fit_window(long, 196, np.random.default_rng(seed))
        assert tiles == 1 and idx[0] <= 121 and idx[-1] >= 218 and np.array_equal(idx, start + np.arange(196))
        starts.add(start)
    assert len(starts) > 1, "the crop offset is random within the allowed range"
    very_long = 90 * np.sin(np.linspace(0, np.pi, 400))  # movement longer than the window
    idx, start, _ = fit_window(very_long, 196, rng)
    assert start <= 200 < start + 196
    with pytest.raises(ValueError, match="non-empty"):
        fit_window(np.zeros(0), 196, rng)


def test_assign_splits_by_subject_deterministic_and_stratified():
    subjects = [{"id": f"s{i}", "kind": "synthetic"} for i in range(20)] + \
               [{"id": f"r{i}", "kind": "real"} for i in range(5)] + [{"id": "lone", "kind": "other"}]
    a = db.assign_splits(subjects, 3, 0.25)
    assert a == db.assign_splits(subjects, 3, 0.25)
    assert a != db.assign_splits(subjects, 4, 0.25)
    validation = {k for k, v in a.items() if v is db.Split.VALIDATION}
    assert sum(k.startswith("s") for k in validation) == 5 and sum(k.startswith("r") for k in validation) == 1
    assert db.assign_splits([{"id": "x", "kind": "real"}], 0, 0.25) == {"x": db.Split.TRAIN}
    with pytest.raises(ValueError, match="duplicate"):
        db.assign_splits([{"id": "x", "kind": "real"}] * 2, 0, 0.25)


def test_existing_dataset_folder_is_not_overwritten(tmp_path, capsys):
    target = tmp_path / db.DatasetConfig(seed=1, n_synthetic=2).folder_name
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    status = db.main(["--out", str(tmp_path), "--seed", "1", "--synthetic", "2", "--no-progress"])
    assert status == 2
    assert str(target) in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    assert (target / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("value", ["-3", "many", "1.5"])
def test_bad_synthetic_count_is_rejected(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        db.main(["--synthetic", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--synthetic" in err and repr(value) in err


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="validation_fraction"):
        db.DatasetConfig(validation_fraction=1.0)
    with pytest.raises(ValueError, match="n_synthetic"):
        db.DatasetConfig(n_synthetic=-1)
    with pytest.raises(ValueError, match="seed"):
        db.DatasetConfig(seed=-2)
    with pytest.raises(ValueError, match="no samples"):
        db.DatasetConfig(n_synthetic=0, include_real=False)
    with pytest.raises(ValueError, match="duplicate subject ids"):
        db.DatasetConfig(real_trials=(REAL, REAL))


def test_missing_real_trial_is_named_and_nothing_is_written(tmp_path):
    with pytest.raises(FileNotFoundError, match="subject2_squatsAsym1.mot"):
        db.build_dataset(_config(include_real=True), tmp_path / "out", tmp_path / "no-data", progress=False)
    assert not (tmp_path / "out").exists()


def test_load_split_detects_a_modified_shard(tiny, tmp_path):
    copy = shutil.copytree(tiny.path, tmp_path / tiny.path.name)
    shard = copy / tiny.manifest["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="SHA-256 differs"):
        db.load_split(copy, tiny.manifest["shards"][0]["split"])
    with pytest.raises(ValueError, match="unknown split"):
        db.load_split(tiny.path, "test")
    with pytest.raises(FileNotFoundError, match="not a dataset folder"):
        db.load_manifest(tmp_path)


def test_npz_shards_are_byte_reproducible(tmp_path):
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "name": np.array(["a", "bc"])}
    first, second = write_npz(tmp_path / "a.npz", arrays), write_npz(tmp_path / "b.npz", arrays)
    assert first == second
    back = read_npz(tmp_path / "a.npz")
    assert back.keys() == arrays.keys()
    for name in arrays:
        np.testing.assert_array_equal(back[name], arrays[name])
    with pytest.raises(ValueError, match="dtype object"):
        write_npz(tmp_path / "c.npz", {"bad": np.array([{}], dtype=object)})
