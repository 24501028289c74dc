"""OpenSim motion files (.mot / .sto): read, write, select the 33 BIGE coordinates, resample.

Used by the live pipeline (the session recorder writes ``kinematics.mot``) and by the offline
biomechanics work (reference trials in ``shared/data``). Pure numpy/scipy: no opensim import.

Inputs: OpenSim storage files as OpenSim and OpenCap write them: a header of ``key=value`` lines
(``nRows``, ``nColumns`` counting the time column, ``inDegrees=yes|no``) plus free text, closed by
``endheader``; one line of column labels starting with ``time``; then one row per line, values
separated by tabs and/or spaces (fixed-width padded files parse too), CRLF or LF line ends.
Outputs: a :class:`Motion` (time in seconds, named columns, rotations in degrees or radians as the
file says) and files OpenSim 4.6 opens with ``TimeSeriesTable`` and ``Storage``.

Algorithm: a line-by-line parser that reports the file and 1-based line number of any fault.
Choices, checked against OpenSim 4.6: a ``nRows`` that disagrees with the rows present is a
*warning* (:class:`MotWarning`), not an error, and every row present is returned: OpenSim's
``TimeSeriesTable`` ignores ``nRows`` entirely and the legacy ``Storage`` silently reads
``min(nRows, rows present)``, so such files exist and open in OpenSim. A ``nColumns`` that
disagrees with the labels is an error (a row-width fault would follow). A missing ``inDegrees``
is a warning and means radians, as in OpenSim's ``Storage``. Files are written with the
shortest decimal form that round-trips each float64 exactly, tab-separated, through a temporary
file in the same folder that is fsynced and then renamed over the target, so a reader never
sees a half-written file.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from edge.messages import BIGE_COORDINATES, TRANSLATION_COORDINATES

MOT_VERSION = 1
_UNITS_NOTE = (
    "Units are S.I. units (second, meters, Newtons, ...)\n"
    "If the header above contains a line with 'inDegrees', this indicates whether rotational values "
    "are in degrees (yes) or radians (no).\n"
)


class MotFormatError(ValueError):
    """A motion file that cannot be read; the message names the file and, where known, the line."""


class MotWarning(UserWarning):
    """A motion file that reads, but disagrees with itself (e.g. ``nRows`` vs the rows present)."""


@dataclass(frozen=True)
class Motion:
    """A motion: T samples of C named columns.

    Attributes:
        time_s: (T,) float64 seconds.
        columns: C column names (the ``time`` column excluded).
        values: (T, C) float64; rotations in degrees if ``in_degrees`` else radians, translations in
            metres either way.
        in_degrees: unit of the rotational columns.
        name: the first header line of the file (OpenSim's table name).
        source: where it came from (file path), used in error messages.
    """

    time_s: np.ndarray
    columns: tuple[str, ...]
    values: np.ndarray
    in_degrees: bool
    name: str = "Coordinates"
    source: str = ""

    def __post_init__(self) -> None:
        where = self.source or "motion"
        time_s = np.asarray(self.time_s, dtype=np.float64)
        values = np.asarray(self.values, dtype=np.float64)
        columns = tuple(self.columns)
        if time_s.ndim != 1:
            raise ValueError(f"{where}: time_s must be 1-D, got shape {time_s.shape}")
        if values.shape != (time_s.shape[0], len(columns)):
            raise ValueError(f"{where}: values shape {values.shape} does not match "
                             f"{time_s.shape[0]} times x {len(columns)} columns")
        for column in columns:
            if not isinstance(column, str) or not column or any(ch.isspace() for ch in column):
                raise ValueError(f"{where}: column name {column!r} is empty or contains whitespace")
            if column.lower() == "time":
                raise ValueError(f"{where}: 'time' is implicit; do not list it among the columns")
        if len(set(columns)) != len(columns):
            duplicates = sorted({c for c in columns if columns.count(c) > 1})
            raise ValueError(f"{where}: duplicate column names {duplicates}")
        if "\n" in self.name or "\r" in self.name or not self.name.strip():
            raise ValueError(f"{where}: name must be one non-empty line, got {self.name!r}")
        object.__setattr__(self, "time_s", time_s)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "columns", columns)

    @property
    def n_frames(self) -> int:
        return int(self.time_s.shape[0])

    def column(self, name: str) -> np.ndarray:
        """The (T,) values of one column.

        Raises:
            KeyError: no such column (the message lists the file).
        """
        try:
            return self.values[:, self.columns.index(name)]
        except ValueError:
            raise KeyError(f"{self.source or 'motion'}: no column {name!r}") from None


def read_mot(path: str | os.PathLike[str]) -> Motion:
    """Read an OpenSim .mot/.sto file.

    Args:
        path: the file.

    Returns:
        The motion, in the file's units (see ``Motion.in_degrees``).

    Raises:
        FileNotFoundError: no such file.
        MotFormatError: no ``endheader``, bad header value, no/invalid label line, ``nColumns``
            disagreeing with the labels, a row of the wrong width or with a non-numeric value
            (file and line number named).

    Warns:
        MotWarning: ``nRows`` disagrees with the rows present (all rows are returned), or
            ``inDegrees`` is missing (radians assumed, as OpenSim does).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MotFormatError(f"{path}: not a text file ({exc})") from None
    lines = text.splitlines()

    end = next((i for i, line in enumerate(lines) if line.strip().lower() == "endheader"), None)
    if end is None:
        raise MotFormatError(f"{path}: no 'endheader' line: not an OpenSim .mot/.sto file")
    header = _parse_header(path, lines[:end])

    label_index = next((i for i in range(end + 1, len(lines)) if lines[i].strip()), None)
    if label_index is None:
        raise MotFormatError(f"{path}: no column-label line after 'endheader' (line {end + 1})")
    labels = lines[label_index].split()
    if not labels or labels[0].lower() != "time":
        raise MotFormatError(f"{path}:{label_index + 1}: first column label must be 'time', "
                             f"got {labels[:1]}")
    if header.n_columns is not None and header.n_columns != len(labels):
        raise MotFormatError(f"{path}: header says nColumns={header.n_columns} but line "
                             f"{label_index + 1} has {len(labels)} labels (time included)")

    rows: list[list[str]] = []
    row_lines: list[int] = []
    for i in range(label_index + 1, len(lines)):
        parts = lines[i].split()
        if not parts:
            continue
        if len(parts) != len(labels):
            raise MotFormatError(f"{path}:{i + 1}: expected {len(labels)} values (time + "
                                 f"{len(labels) - 1} columns), found {len(parts)}")
        rows.append(parts)
        row_lines.append(i + 1)
    data = _to_float(path, rows, row_lines, labels)

    if header.n_rows is not None and header.n_rows != len(rows):
        warnings.warn(MotWarning(f"{path}: header says nRows={header.n_rows} but the file has "
                                 f"{len(rows)} rows; all {len(rows)} are used"), stacklevel=2)
    if header.in_degrees is None:
        warnings.warn(MotWarning(f"{path}: no inDegrees line; assuming radians as OpenSim does"),
                      stacklevel=2)
    try:
        return Motion(time_s=data[:, 0], columns=tuple(labels[1:]), values=data[:, 1:],
                      in_degrees=bool(header.in_degrees), name=header.name, source=str(path))
    except ValueError as exc:
        raise MotFormatError(f"{path}:{label_index + 1}: {exc}") from None


@dataclass(frozen=True)
class _Header:
    name: str
    n_rows: int | None
    n_columns: int | None
    in_degrees: bool | None


def _parse_header(path: Path, lines: list[str]) -> _Header:
    name = lines[0].strip() if lines and "=" not in lines[0] and lines[0].strip() else "Coordinates"
    values: dict[str, tuple[int, str]] = {}
    for i, line in enumerate(lines):
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = (i + 1, value.strip())

    def integer(key: str) -> int | None:
        if key.lower() not in values:
            return None
        line_no, value = values[key.lower()]
        try:
            number = int(value)
        except ValueError:
            raise MotFormatError(f"{path}:{line_no}: {key} must be an integer, got {value!r}") from None
        if number < 0:
            raise MotFormatError(f"{path}:{line_no}: {key} must be >= 0, got {number}")
        return number

    in_degrees: bool | None = None
    if "indegrees" in values:
        line_no, value = values["indegrees"]
        if value.lower() not in ("yes", "no"):
            raise MotFormatError(f"{path}:{line_no}: inDegrees must be 'yes' or 'no', got {value!r}")
        in_degrees = value.lower() == "yes"
    return _Header(name=name, n_rows=integer("nRows"), n_columns=integer("nColumns"),
                   in_degrees=in_degrees)


def _to_float(path: Path, rows: list[list[str]], row_lines: list[int], labels: list[str]) -> np.ndarray:
    if not rows:
        return np.zeros((0, len(labels)), dtype=np.float64)
    try:
        return np.array(rows, dtype=np.float64)  # (T, 1 + C)
    except ValueError as exc:
        for parts, line_no in zip(rows, row_lines):
            for label, part in zip(labels, parts):
                try:
                    float(part)
                except ValueError:
                    raise MotFormatError(f"{path}:{line_no}: column '{label}': non-numeric value "
                                         f"{part!r}") from None
        raise MotFormatError(f"{path}: rows are not numeric ({exc})") from None


def format_mot_header(name: str, n_rows: int, columns: tuple[str, ...], in_degrees: bool) -> str:
    """The header and label line of a .mot file (``columns`` without ``time``)."""
    return (f"{name}\nversion={MOT_VERSION}\nnRows={n_rows}\nnColumns={len(columns) + 1}\n"
            f"inDegrees={'yes' if in_degrees else 'no'}\n\n{_UNITS_NOTE}\nendheader\n"
            + "\t".join(("time",) + tuple(columns)) + "\n")


def format_mot_rows(time_s: np.ndarray, values: np.ndarray) -> str:
    """Data rows of a .mot file: tab-separated, shortest exact decimal form, one line per sample."""
    table = np.column_stack([time_s, values]).tolist()  # (T, 1 + C) Python floats
    return "".join("\t".join(map(repr, row)) + "\n" for row in table)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never a mix.

    Writes a temporary file in the same folder, fsyncs it, renames it over ``path`` and fsyncs the
    folder, so the new content also survives a power loss once this returns.

    Raises:
        OSError: the folder is not writable (the temporary file is removed).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make renames and new entries in ``folder`` durable (POSIX; a no-op where unsupported)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_mot(path: str | os.PathLike[str], motion: Motion) -> None:
    """Write ``motion`` as an OpenSim .mot file (atomically, see :func:`atomic_write_text`).

    Args:
        path: target file; replaced if it exists.
        motion: the motion; written in its own units with its ``in_degrees`` flag.

    Raises:
        OSError: the file cannot be written.
    """
    atomic_write_text(path, format_mot_header(motion.name, motion.n_frames, motion.columns,
                                              motion.in_degrees)
                      + format_mot_rows(motion.time_s, motion.values))


def to_bige33(motion: Motion) -> Motion:
    """The 33 BIGE coordinates of ``motion``, in BIGE order, rotations in degrees.

    Extra columns (e.g. ``knee_angle_r_beta``) are dropped; radians are converted to degrees for
    rotational columns only (``pelvis_tx/ty/tz`` stay in metres).

    Raises:
        ValueError: BIGE columns are missing (the message names them and the source file).
    """
    missing = [c for c in BIGE_COORDINATES if c not in motion.columns]
    if missing:
        raise ValueError(f"{motion.source or 'motion'}: missing {len(missing)} of the 33 BIGE "
                         f"coordinate columns: {', '.join(missing)}")
    index = [motion.columns.index(c) for c in BIGE_COORDINATES]
    values = motion.values[:, index].copy()  # (T, 33)
    if not motion.in_degrees:
        rotational = [i for i, c in enumerate(BIGE_COORDINATES) if c not in TRANSLATION_COORDINATES]
        values[:, rotational] = np.rad2deg(values[:, rotational])
    return Motion(time_s=motion.time_s.copy(), columns=BIGE_COORDINATES, values=values,
                  in_degrees=True, name=motion.name, source=motion.source)


def resample(motion: Motion, fps: float = 60.0) -> Motion:
    """Resample ``motion`` onto a uniform grid ``t0 + k / fps`` covering its time span.

    Cubic-spline interpolation (scipy ``CubicSpline``, not-a-knot) per column; original samples
    that fall on the new grid keep their values.

    Args:
        motion: at least 2 samples, strictly increasing time, finite values.
        fps: target rate in frames per second (> 0).

    Returns:
        The resampled motion (same columns and units).

    Raises:
        ValueError: fps not positive, fewer than 2 samples, time not strictly increasing (first
            offending sample named) or non-finite values (column named).
    """
    where = motion.source or "motion"
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"{where}: fps must be a positive number, got {fps}")
    if motion.n_frames < 2:
        raise ValueError(f"{where}: need at least 2 samples to resample, got {motion.n_frames}")
    t = motion.time_s
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{where}: time has non-finite values")
    steps = np.diff(t)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0)) + 1
        raise ValueError(f"{where}: time is not strictly increasing at sample {i}: "
                         f"t[{i - 1}]={t[i - 1]!r} s, t[{i}]={t[i]!r} s")
    bad = ~np.isfinite(motion.values).all(axis=0)
    if np.any(bad):
        names = [c for c, b in zip(motion.columns, bad) if b]
        raise ValueError(f"{where}: non-finite values in columns {names}; fill or drop them before "
                         f"resampling")
    n_out = int(np.floor((t[-1] - t[0]) * fps + 1e-6)) + 1
    t_out = t[0] + np.arange(n_out) / fps  # (T_out,)
    t_out[-1] = min(t_out[-1], t[-1])  # guard against rounding past the end
    values = CubicSpline(t, motion.values, axis=0)(t_out)  # (T_out, C)
    return Motion(time_s=t_out, columns=motion.columns, values=values, in_degrees=motion.in_degrees,
                  name=motion.name, source=motion.source)
