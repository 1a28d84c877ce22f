"""Clips to compare: a dancer's landmarks over time with the frame rate, the frame size and the
soundtrack, read from a video file (MediaPipe, video mode) or a recorded landmark clip.

A landmark clip is a ``(T, 33, 4)`` ``.npy`` or a landmark CSV. A take saved by ``pi-coach record``
(``landmarks/NAME.npy`` beside ``labels.csv``) brings its frame size and frame rate from its row in
``labels.csv``; any other landmark file takes them from the caller (default: square frames at 30 fps).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .audio_sync import Soundtrack, read_soundtrack
from .landmark_files import LandmarkFileError, read_landmarks
from .pose import NUM_LANDMARKS
from .sources import SourceError, kind_of, video_frames, video_info

DEFAULT_FPS = 30.0


@dataclass(frozen=True, eq=False)
class Clip:
    """``landmarks`` ``(T, 33, 4)`` (frames with nobody are NaN with visibility 0), the frame rate,
    the frame size in pixels, the soundtrack (None for landmark files or silent videos) and the
    index of the first frame in the source file (after a range is cut)."""

    landmarks: np.ndarray
    fps: float
    width: int
    height: int
    path: Path
    soundtrack: Soundtrack | None = None
    first_frame: int = 0

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def cut(self, start: int, stop: int) -> Clip:
        """Frames ``start`` to ``stop`` (exclusive) of the source file, soundtrack included."""
        n = len(self.landmarks)
        if not (0 <= start < stop <= n) or stop - start < 3:
            raise ValueError(f"{self.path}: frame range {start}:{stop} is not within its {n} frames (3 at least)")
        sound = self.soundtrack.cut(start / self.fps, stop / self.fps) if self.soundtrack is not None else None
        return replace(self, landmarks=self.landmarks[start:stop], soundtrack=sound, first_frame=self.first_frame + start)

    def at_rate(self, fps: float) -> Clip:
        """The clip resampled to another frame rate (linear interpolation of the landmarks), so two
        clips filmed at different rates can be compared frame by frame."""
        if abs(fps - self.fps) <= 0.01 * fps:
            return self
        t_old = np.arange(len(self.landmarks)) / self.fps
        t_new = np.arange(0.0, t_old[-1] + 1e-9, 1.0 / fps)
        flat = self.landmarks.reshape(len(self.landmarks), -1)
        out = np.stack([np.interp(t_new, t_old, flat[:, k]) for k in range(flat.shape[1])], axis=1)
        return replace(self, landmarks=out.reshape(len(t_new), NUM_LANDMARKS, 4).astype(np.float32), fps=fps,
                       first_frame=round(self.first_frame * fps / self.fps))


def _record_row(path: Path) -> dict | None:
    """The take's row in ``labels.csv`` when ``path`` is ``.../landmarks/NAME.npy`` from pi-coach record."""
    labels = path.parent.parent / "labels.csv"
    if path.parent.name != "landmarks" or not labels.is_file():
        return None
    with labels.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("sample") == path.stem:
                return row
    return None


def load_clip(path: str | Path, frame_size: tuple[int, int] | None = None, fps: float | None = None,
              estimator_factory=None, progress: bool = True) -> Clip:
    """A video (MediaPipe finds the dancer in every frame) or a landmark file, as a Clip."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.suffix.lower() in (".npy", ".csv"):
        try:
            frames = read_landmarks(path).frames
        except LandmarkFileError:
            raise
        if len(frames) < 3:
            raise LandmarkFileError(f"{path}: {len(frames)} frame(s); a clip to compare needs 3 at least")
        row = _record_row(path)
        width, height = frame_size or ((int(row["width"]), int(row["height"])) if row and row.get("width") else (1, 1))
        rate = fps or (float(row["fps"]) if row and row.get("fps") else DEFAULT_FPS)
        return Clip(frames, rate, width, height, path)
    if kind_of(path) != "video":
        raise SourceError(f"{path}: compare takes a video file or a landmark clip (.npy, .csv)")
    return _video_clip(path, estimator_factory, progress)


def _video_clip(path: Path, estimator_factory, progress: bool) -> Clip:
    from tqdm import tqdm

    from .pose_estimator import PoseEstimator

    rate, count = video_info(path)
    arrays, size = [], (1, 1)
    with (estimator_factory or (lambda: PoseEstimator(video=True)))() as estimator:
        for frame in tqdm(video_frames(path), total=count or None, desc=path.name, unit="frame", disable=not progress,
                          leave=False):
            size = frame.image.shape[1], frame.image.shape[0]
            pose = estimator.estimate(frame.image, frame.timestamp)
            if pose is None:
                empty = np.full((NUM_LANDMARKS, 4), np.nan, np.float32)
                empty[:, 3] = 0.0
                arrays.append(empty)
            else:
                arrays.append(pose.landmarks)
    landmarks = np.stack(arrays)
    if not np.isfinite(landmarks[:, :, 0]).any():
        raise SourceError(f"{path}: no dancer found in any of its {len(landmarks)} frames")
    if len(landmarks) < 3:
        raise SourceError(f"{path}: {len(landmarks)} frame(s); a clip to compare needs 3 at least")
    return Clip(landmarks, rate, size[0], size[1], path, read_soundtrack(path))


def compare_clips(reference: Clip, attempt: Clip, tolerance: float = 0.5, use_audio: bool = True,
                  mirror: bool = True, floor: float | None = None):
    """compare.compare on two clips; an attempt filmed at another frame rate is resampled to the
    reference's first (its soundtrack keeps its own clock)."""
    from . import compare

    attempt = attempt.at_rate(reference.fps)
    return compare.compare(reference.landmarks, attempt.landmarks, reference.fps, reference.size, attempt.size,
                           reference.soundtrack, attempt.soundtrack, tolerance, use_audio, mirror,
                           compare.SPREAD_FLOOR if floor is None else floor)
