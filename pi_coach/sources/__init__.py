"""Frame sources: where frames come from (an image, a folder of images, a video file).

Every source yields Frame values; the camera source of the appliance joins them later
behind the same shape. Frames are BGR uint8 arrays, as OpenCV and picamera2's RGB888 give them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v"}


class SourceError(ValueError):
    """A frame source that cannot be opened or read; the message names the path and the reason."""


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame: the image, its index in the source, its time in seconds and where it came from."""

    image: np.ndarray
    index: int
    timestamp: float
    name: str


def kind_of(path: str | Path) -> str:
    """'image', 'folder' or 'video' for a path, or raise SourceError."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise SourceError(f"{path}: no such file or directory")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise SourceError(f"{path}: not an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or video "
                      f"({', '.join(sorted(VIDEO_SUFFIXES))})")


def read_image(path: str | Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{path}: cannot decode this image")
    return image


def image_frames(path: str | Path) -> Iterator[Frame]:
    """A single image, or every image in a folder in name order (timestamps are 0)."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise SourceError(f"{path}: no images in this folder")
    for i, f in enumerate(files):
        yield Frame(read_image(f), i, 0.0, str(f))


def video_info(path: str | Path) -> tuple[float, int]:
    """(fps, frame count) of a video file as its container reports them."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise SourceError(f"{path}: cannot open this video")
        return cap.get(cv2.CAP_PROP_FPS) or 30.0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def video_frames(path: str | Path, step: int = 1) -> Iterator[Frame]:
    """Every ``step``-th frame of a video file with its time in seconds."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SourceError(f"{path}: cannot open this video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    try:
        index = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            if index % step == 0:
                yield Frame(image, index, index / fps, str(path))
            index += 1
    finally:
        cap.release()
    if index == 0:
        raise SourceError(f"{path}: no frames could be decoded")
