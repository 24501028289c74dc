"""Dataset shards: .npz files written byte-for-byte reproducibly, and read back with checks.

Purpose: store the dataset's arrays so that the same content always gives the same bytes (and the same
SHA-256 in the manifest), whatever the time of writing.
Inputs: a dict of named numpy arrays (no object arrays).
Outputs: a standard .npz (``numpy.load`` reads it): one deflate-compressed ``NAME.npy`` member per array,
in sorted name order, each stamped 1980-01-01 00:00 (``numpy.savez`` stamps the current time, so two
writes of the same arrays differ).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` to ``path`` as a reproducible .npz and return its SHA-256 (hex).

    Raises:
        ValueError: an object array or a name that is not a plain identifier (array named).
        OSError: the file cannot be written.
    """
    for name, array in arrays.items():
        if not name.isidentifier():
            raise ValueError(f"write_npz: array name {name!r} is not a plain identifier")
        if np.asarray(array).dtype.hasobject:
            raise ValueError(f"write_npz: array {name!r} has dtype object; not storable without pickle")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
    return sha256_file(path)


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of a .npz file (no pickles).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable .npz (file named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"shard not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable .npz shard ({exc})") from None


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
