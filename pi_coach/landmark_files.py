"""Reading and writing landmark files: ``.npy`` arrays and landmark CSVs (ARCHITECTURE.md formats).

A CSV has one row per frame, columns ``<landmark>_x, _y, _z, _v`` with MediaPipe names and an
optional ``label`` column. It may carry only some landmarks; the missing ones are NaN with
visibility 0, so the rules report them as not visible instead of measuring nonsense.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .pose import INDEX, LANDMARK_NAMES, NUM_LANDMARKS

AXES = ("x", "y", "z", "v")


class LandmarkFileError(ValueError):
    """A landmark file that cannot be read; the message names the file and the reason."""


@dataclass(frozen=True, eq=False)
class LandmarkClip:
    """Frames of landmarks from one file: ``(T, 33, 4)`` float32 and optional per-frame labels."""

    frames: np.ndarray
    labels: list[str] | None
    path: Path


def read_landmarks(path: str | Path) -> LandmarkClip:
    """Read a ``.npy`` (``(33, 4)`` or ``(T, 33, 4)``) or a landmark ``.csv`` file."""
    path = Path(path)
    if not path.is_file():
        raise LandmarkFileError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        return _read_npy(path)
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    raise LandmarkFileError(f"{path}: landmark files are .npy or .csv, not {path.suffix or 'no suffix'}")


def _read_npy(path: Path) -> LandmarkClip:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise LandmarkFileError(f"{path}: not a readable .npy array ({exc})") from None
    if arr.shape[-2:] == (NUM_LANDMARKS, 4) and arr.ndim in (2, 3):
        frames = arr.reshape(-1, NUM_LANDMARKS, 4).astype(np.float32)
        return LandmarkClip(frames, None, path)
    raise LandmarkFileError(f"{path}: expected shape (33, 4) or (T, 33, 4), got {arr.shape}")


def _read_csv(path: Path) -> LandmarkClip:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LandmarkFileError(f"{path}: not a readable CSV ({exc})") from None
    if not header:
        raise LandmarkFileError(f"{path}: empty file")
    columns = {}  # column index -> (landmark index, axis index)
    label_col = None
    for col, name in enumerate(h.strip().lower() for h in header):
        if name == "label":
            label_col = col
            continue
        base, _, axis = name.rpartition("_")
        if base in INDEX and axis in AXES:
            columns[col] = (INDEX[base], AXES.index(axis))
    if not columns:
        raise LandmarkFileError(f"{path}: no landmark columns (expected e.g. left_hip_x, left_hip_y, ...)")
    frames = np.full((len(rows), NUM_LANDMARKS, 4), np.nan, dtype=np.float32)
    frames[:, :, 3] = 0.0
    labels = [] if label_col is not None else None
    for r, row in enumerate(rows):
        if len(row) != len(header):
            raise LandmarkFileError(f"{path}:{r + 2}: {len(row)} fields, the header has {len(header)}")
        for col, (lm, ax) in columns.items():
            try:
                frames[r, lm, ax] = float(row[col])
            except ValueError:
                raise LandmarkFileError(f"{path}:{r + 2}: {header[col]} is not a number: {row[col]!r}") from None
        if labels is not None:
            labels.append(row[label_col])
    # A CSV without visibility columns is taken as fully visible where coordinates exist.
    has_v = {lm for lm, ax in columns.values() if ax == 3}
    for lm in {lm for lm, _ in columns.values()} - has_v:
        frames[:, lm, 3] = np.where(np.isfinite(frames[:, lm, 0]), 1.0, 0.0)
    return LandmarkClip(frames, labels, path)


def write_landmarks_csv(path: str | Path, frames: np.ndarray, labels: list[str] | None = None) -> None:
    """Write ``(T, 33, 4)`` landmarks as a landmark CSV, with a label column when labels are given."""
    frames = np.asarray(frames, dtype=np.float32).reshape(-1, NUM_LANDMARKS, 4)
    header = (["label"] if labels is not None else []) + [f"{n}_{a}" for n in LANDMARK_NAMES for a in AXES]
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for t, frame in enumerate(frames):
            values = [f"{v:.6g}" for v in frame.reshape(-1)]
            writer.writerow(([labels[t]] if labels is not None else []) + values)
