"""Tests for edge.motion_io: OpenSim .mot read/write, BIGE column selection, resampling."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from edge.messages import BIGE_COORDINATES, TRANSLATION_COORDINATES
from edge.motion_io import (Motion, MotFormatError, MotWarning, read_mot, resample, to_bige33,
                            write_mot)
from edge.paths import shared_dir

DATA = shared_dir() / "data"
BETA = ("knee_angle_r_beta", "knee_angle_l_beta")


def _columns(n: int) -> tuple[str, ...]:
    """33 BIGE columns, plus the two knee _beta columns (35) and one extra (36), LaiUhlrich order."""
    columns = list(BIGE_COORDINATES)
    if n >= 35:
        columns.insert(columns.index("knee_angle_r") + 1, BETA[0])
        columns.insert(columns.index("knee_angle_l") + 1, BETA[1])
    if n >= 36:
        columns.append("extra_coordinate")
    return tuple(columns)


def _motion(n_columns: int, in_degrees: bool, n_frames: int = 50, seed: int = 0) -> Motion:
    rng = np.random.default_rng(seed)
    scale = 60.0 if in_degrees else 1.0
    return Motion(time_s=np.arange(n_frames) / 100.0, columns=_columns(n_columns),
                  values=rng.normal(size=(n_frames, n_columns)) * scale, in_degrees=in_degrees)


def _shared(path: str) -> Path:
    full = DATA / path
    if not full.exists():
        pytest.skip(f"shared data missing: {full}")
    return full


@pytest.mark.parametrize("n_columns", [33, 35, 36])
@pytest.mark.parametrize("in_degrees", [True, False])
def test_round_trip_is_exact(tmp_path: Path, n_columns: int, in_degrees: bool) -> None:
    motion = _motion(n_columns, in_degrees)
    path = tmp_path / "m.mot"
    write_mot(path, motion)
    back = read_mot(path)
    assert back.columns == motion.columns
    assert back.in_degrees is in_degrees
    np.testing.assert_array_equal(back.time_s, motion.time_s)
    np.testing.assert_array_equal(back.values, motion.values)
    header = path.read_text().split("endheader")[0]
    assert f"nColumns={n_columns + 1}" in header and "nRows=50" in header
    assert f"inDegrees={'yes' if in_degrees else 'no'}" in header


def test_round_trip_keeps_nan_and_name(tmp_path: Path) -> None:
    motion = _motion(33, True)
    values = motion.values.copy()
    values[3, 4] = np.nan
    motion = Motion(motion.time_s, motion.columns, values, True, name="ik_result")
    write_mot(tmp_path / "m.sto", motion)
    back = read_mot(tmp_path / "m.sto")
    assert back.name == "ik_result"
    assert np.isnan(back.values[3, 4])
    np.testing.assert_array_equal(np.isnan(back.values), np.isnan(values))


@pytest.mark.parametrize("name, n_columns, in_degrees", [
    ("opencap_sts/mocap_33dof.mot", 33, True),
    ("opencap_sts/wham_33dof.mot", 33, True),
    ("addbiomechanics/subject2_squatsAsym1.mot", 33, False),
    ("opencap_squats1/squats1_mocap.mot", 35, True),
])
def test_real_files_read_and_round_trip(tmp_path: Path, name: str, n_columns: int, in_degrees: bool) -> None:
    path = _shared(name)
    motion = read_mot(path)
    assert len(motion.columns) == n_columns
    assert motion.in_degrees is in_degrees
    assert np.all(np.diff(motion.time_s) > 0)
    assert np.all(np.isfinite(motion.values))
    write_mot(tmp_path / "copy.mot", motion)
    back = read_mot(tmp_path / "copy.mot")
    assert back.columns == motion.columns
    np.testing.assert_array_equal(back.values, motion.values)
    np.testing.assert_array_equal(back.time_s, motion.time_s)


def test_real_crlf_fixed_width_file_drops_beta_columns() -> None:
    motion = read_mot(_shared("opencap_squats1/squats1_mocap.mot"))
    assert motion.n_frames == 801
    assert set(BETA) <= set(motion.columns)
    bige = to_bige33(motion)
    assert bige.columns == BIGE_COORDINATES
    np.testing.assert_array_equal(bige.column("knee_angle_l"), motion.column("knee_angle_l"))
    assert 60 < bige.column("knee_angle_r").max() < 150  # deep squats, degrees


def test_real_radians_file_converts_rotations_only() -> None:
    motion = read_mot(_shared("addbiomechanics/subject2_squatsAsym1.mot"))
    bige = to_bige33(motion)
    assert bige.in_degrees
    for name in BIGE_COORDINATES:
        expected = motion.column(name) if name in TRANSLATION_COORDINATES else np.rad2deg(motion.column(name))
        np.testing.assert_allclose(bige.column(name), expected, rtol=0, atol=1e-12, err_msg=name)
    assert 60 < bige.column("knee_angle_r").max() < 150


def test_parses_space_separated_crlf_file(tmp_path: Path) -> None:
    path = tmp_path / "fixed.mot"
    path.write_bytes(b"Coordinates\r\nversion=1\r\nnRows=2\r\nnColumns=3\r\ninDegrees=yes\r\nendheader\r\n"
                     b"time    a    b\r\n   0.00000   1.50000  -2.00000\r\n   0.01000 \t 1.60000\t-2.10000\r\n")
    motion = read_mot(path)
    assert motion.columns == ("a", "b")
    np.testing.assert_array_equal(motion.values, [[1.5, -2.0], [1.6, -2.1]])


def test_to_bige33_selects_reorders_and_converts() -> None:
    motion = _motion(36, in_degrees=False)
    order = np.random.default_rng(1).permutation(36)
    shuffled = Motion(motion.time_s, tuple(motion.columns[i] for i in order), motion.values[:, order], False)
    bige = to_bige33(shuffled)
    assert bige.columns == BIGE_COORDINATES and bige.values.shape == (50, 33) and bige.in_degrees
    np.testing.assert_allclose(bige.column("hip_flexion_r"), np.rad2deg(motion.column("hip_flexion_r")))
    np.testing.assert_array_equal(bige.column("pelvis_ty"), motion.column("pelvis_ty"))
    degrees = to_bige33(_motion(33, in_degrees=True))
    np.testing.assert_array_equal(degrees.values, _motion(33, in_degrees=True).values)


def test_to_bige33_names_missing_columns_and_file(tmp_path: Path) -> None:
    motion = _motion(33, True)
    keep = [i for i, c in enumerate(motion.columns) if c not in ("mtp_angle_r", "pro_sup_l")]
    path = tmp_path / "partial.mot"
    write_mot(path, Motion(motion.time_s, tuple(motion.columns[i] for i in keep), motion.values[:, keep], True))
    with pytest.raises(ValueError, match=r"partial\.mot.*mtp_angle_r, pro_sup_l"):
        to_bige33(read_mot(path))


GOOD_HEADER = "Coordinates\nversion=1\nnRows=2\nnColumns=3\ninDegrees=yes\nendheader\ntime\ta\tb\n"


@pytest.mark.parametrize("text, message", [
    ("Coordinates\nnRows=1\ntime\ta\n0\t1\n", r"bad\.mot: no 'endheader'"),
    (GOOD_HEADER + "0\t1\t2\n0.01\t1\n", r"bad\.mot:9: expected 3 values .* found 2"),
    (GOOD_HEADER + "0\t1\t2\n0.01\t1\tabc\n", r"bad\.mot:9: column 'b': non-numeric value 'abc'"),
    (GOOD_HEADER.replace("nColumns=3", "nColumns=4") + "0\t1\t2\n", r"nColumns=4 .* 3 labels"),
    (GOOD_HEADER.replace("inDegrees=yes", "inDegrees=maybe"), r"bad\.mot:5: inDegrees must be"),
    (GOOD_HEADER.replace("nRows=2", "nRows=two"), r"bad\.mot:3: nRows must be an integer"),
    (GOOD_HEADER.replace("time\ta\tb", "t\ta\tb"), r"bad\.mot:7: first column label must be 'time'"),
    (GOOD_HEADER.replace("time\ta\tb", "time\ta\ta") + "0\t1\t2\n0.01\t1\t2\n",
     r"bad\.mot:7: .*duplicate column names \['a'\]"),
    ("Coordinates\nendheader\n\n", r"no column-label line"),
])
def test_bad_files_give_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.mot"
    path.write_text(text)
    with pytest.raises(MotFormatError, match=message):
        read_mot(path)


def test_nrows_mismatch_warns_and_keeps_all_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.mot"
    path.write_text(GOOD_HEADER + "0\t1\t2\n0.01\t3\t4\n0.02\t5\t6\n")
    with pytest.warns(MotWarning, match=r"rows\.mot: header says nRows=2 but the file has 3 rows"):
        motion = read_mot(path)
    assert motion.n_frames == 3


def test_missing_in_degrees_warns_and_means_radians(tmp_path: Path) -> None:
    path = tmp_path / "noflag.sto"
    path.write_text(GOOD_HEADER.replace("inDegrees=yes\n", "") + "0\t1\t2\n0.01\t3\t4\n")
    with pytest.warns(MotWarning, match="assuming radians"):
        motion = read_mot(path)
    assert motion.in_degrees is False


def test_clean_file_reads_without_warnings(tmp_path: Path) -> None:
    write_mot(tmp_path / "m.mot", _motion(33, True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_mot(tmp_path / "m.mot")


def test_motion_validates_shapes_and_names() -> None:
    with pytest.raises(ValueError, match="does not match"):
        Motion(np.arange(3.0), ("a",), np.zeros((3, 2)), True)
    with pytest.raises(ValueError, match="whitespace"):
        Motion(np.arange(3.0), ("a b",), np.zeros((3, 1)), True)
    with pytest.raises(ValueError, match="'time' is implicit"):
        Motion(np.arange(3.0), ("time",), np.zeros((3, 1)), True)
    with pytest.raises(KeyError, match="no column 'zz'"):
        _motion(33, True).column("zz")


def test_resample_keeps_values_at_shared_times() -> None:
    t = np.arange(0, 2.001, 0.01)  # 100 Hz, 2 s
    values = np.column_stack([np.sin(2 * np.pi * 0.7 * t), 0.3 * t ** 2])
    motion = Motion(t, ("a", "b"), values, True)
    out = resample(motion, fps=60.0)
    assert out.n_frames == 121
    np.testing.assert_allclose(np.diff(out.time_s), 1 / 60, atol=1e-9)
    assert out.time_s[0] == 0.0 and abs(out.time_s[-1] - 2.0) < 1e-9
    shared = np.arange(0, 121, 3)  # every 3rd 60 Hz sample is a 100 Hz sample (0.05 s apart)
    np.testing.assert_allclose(out.values[shared], values[np.round(out.time_s[shared] * 100).astype(int)],
                               atol=1e-9)
    np.testing.assert_allclose(out.values[:, 0], np.sin(2 * np.pi * 0.7 * out.time_s), atol=1e-5)


def test_resample_real_file_to_60fps() -> None:
    motion = to_bige33(read_mot(_shared("opencap_sts/mocap_33dof.mot")))
    out = resample(motion)
    assert out.columns == BIGE_COORDINATES
    assert out.n_frames == int(np.floor(motion.time_s[-1] * 60 + 1e-6)) + 1
    index = np.round(out.time_s[::3] * 100).astype(int)  # 0.05 s steps exist in the 100 Hz file
    np.testing.assert_allclose(out.values[::3], motion.values[index], atol=1e-6)


def test_resample_rejects_bad_input() -> None:
    motion = Motion(np.array([0.0, 0.1, 0.1, 0.2]), ("a",), np.zeros((4, 1)), True, source="x.mot")
    with pytest.raises(ValueError, match=r"x\.mot: time is not strictly increasing at sample 2"):
        resample(motion)
    nan = Motion(np.arange(4.0), ("a", "b"), np.array([[0, 1], [0, np.nan], [0, 1], [0, 1.0]]), True)
    with pytest.raises(ValueError, match=r"non-finite values in columns \['b'\]"):
        resample(nan)
    with pytest.raises(ValueError, match="fps must be a positive"):
        resample(_motion(33, True), fps=0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        resample(Motion(np.zeros(1), ("a",), np.zeros((1, 1)), True))


@pytest.mark.opensim
def test_written_file_opens_in_opensim(tmp_path: Path) -> None:
    opensim = pytest.importorskip("opensim", reason="opensim not installed (x86-64 only)")
    motion = _motion(35, in_degrees=False, n_frames=20)
    path = tmp_path / "for_opensim.mot"
    write_mot(path, motion)
    table = opensim.TimeSeriesTable(str(path))
    assert table.getNumRows() == 20 and table.getNumColumns() == 35
    assert list(table.getColumnLabels()) == list(motion.columns)
    np.testing.assert_allclose(np.asarray(table.getIndependentColumn()), motion.time_s)
    np.testing.assert_allclose(table.getDependentColumn("knee_angle_r_beta").to_numpy(),
                               motion.column("knee_angle_r_beta"))
    assert table.getTableMetaDataAsString("inDegrees") == "no"
    storage = opensim.Storage(str(path))
    assert storage.getSize() == 20 and storage.isInDegrees() is False
    column = opensim.ArrayDouble()
    storage.getDataColumn("hip_flexion_l", column)
    np.testing.assert_allclose([column.get(i) for i in range(20)], motion.column("hip_flexion_l"))
