"""Annotated pictures: the skeleton, each measured value at its joint, and what to correct.

Lines are drawn with OpenCV; text with Pillow so that move names such as "Passé" and the degree
sign come out right. Colours: green in band, red out of band, grey not measurable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import geometry, measures
from .analysis import Analysis
from .pose import CONNECTIONS, Pose
from .rulebook import Rulebook

GREEN, RED, GREY, WHITE = (60, 200, 60), (60, 60, 230), (150, 150, 150), (255, 255, 255)  # BGR
STATUS_COLOUR = {"ok": GREEN, "low": RED, "high": RED, "unmeasured": GREY}


@lru_cache(maxsize=32)
def font(size: int, bold: bool = False) -> ImageFont.ImageFont:
    """DejaVu Sans from matplotlib's data (installed with mediapipe) covers accents such as é;
    Pillow's built-in font is the fallback."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _anchor(pose: Pose, cond, side) -> np.ndarray | None:
    """Where to write a check's value: the vertex of an angle, the crossing of two leg lines, or
    the second point of a distance."""
    pts = []
    for name in cond.points:
        names = measures.landmarks_of(name, side)
        if names is None:
            return None
        pts.append(np.mean([pose.xy(n) for n in names], axis=0))
    if cond.measure == "joint_angle":
        return pts[1]
    if cond.measure == "angle_between":
        crossing = geometry.line_intersection(*pts)
        inside = crossing is not None and all(0 <= crossing[i] < (pose.width, pose.height)[i] for i in range(2))
        return crossing if inside else pts[0]
    return pts[1] if len(pts) > 1 else pts[0]


def annotate(image: np.ndarray, analysis: Analysis, rulebook: Rulebook) -> np.ndarray:
    """A copy of a BGR frame with the pose, the measured values and the corrections drawn on it."""
    import cv2

    out = image.copy()
    h, w = out.shape[:2]
    thick = max(2, round(min(h, w) / 250))
    pose = analysis.pose
    labels = []  # (xy, text, colour) drawn after the lines
    if pose is not None:
        for a, b in CONNECTIONS:
            if pose.is_visible(a) and pose.is_visible(b):
                cv2.line(out, _pt(pose.xy(a)), _pt(pose.xy(b)), WHITE, thick, cv2.LINE_AA)
        for name in {n for pair in CONNECTIONS for n in pair}:
            if pose.is_visible(name):
                cv2.circle(out, _pt(pose.xy(name)), thick + 2, (0, 200, 255), -1, cv2.LINE_AA)
        verdict = analysis.verdict
        if verdict is not None and analysis.move in rulebook:
            for check, result in zip(rulebook[analysis.move].checks, verdict.results):
                if result.status == "unmeasured":
                    continue
                at = _anchor(pose, check.condition, verdict.side)
                if at is None or not np.all(np.isfinite(at)):
                    continue
                colour = STATUS_COLOUR[result.status]
                cv2.circle(out, _pt(at), thick + 5, colour, thick, cv2.LINE_AA)
                text = f"{result.value:.0f}°" if result.unit == "deg" else f"{result.value:.2f}"
                labels.append((at, text, colour))
    return _draw_text(out, analysis, labels, rulebook)


def _pt(xy) -> tuple[int, int]:
    return int(round(float(xy[0]))), int(round(float(xy[1])))


def _draw_text(bgr: np.ndarray, analysis: Analysis, labels, rulebook: Rulebook) -> np.ndarray:
    h, w = bgr.shape[:2]
    size = max(12, round(h / 28))
    import cv2

    img = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))  # cvtColor: 10x faster than [..., ::-1]
    draw = ImageDraw.Draw(img, "RGBA")
    small = font(max(10, round(size * 0.8)))
    stacked: dict[tuple[int, int], int] = {}  # labels at one joint are stacked, not overprinted
    for at, text, colour in labels:
        key = _pt(at)
        row = stacked[key] = stacked.get(key, -1) + 1
        x, y = at[0] + size * 0.6, at[1] - size * 0.6 + row * size
        draw.text((x, y), text, font=small, fill=colour[::-1], stroke_width=2, stroke_fill=(0, 0, 0))

    if analysis.pose is None:
        title = "Step into the frame"
    else:
        name = rulebook[analysis.move].title if analysis.move in rulebook else analysis.move.replace("_", " ")
        how = {"given": "given", "rules": "rule match", "model": "model"}.get(analysis.move_from, analysis.move_from)
        title = f"{name}  ({how} {analysis.confidence:.2f})"
    lines = [(title, WHITE)]
    if analysis.verdict is not None:
        corrections = analysis.verdict.corrections
        lines += [(c.message, RED) for c in corrections[:4]]
        if not corrections:
            lines.append(("Good: every check in band", GREEN))
    face = font(size)
    pad = size // 3
    box_h = pad + len(lines) * (size + pad)
    draw.rectangle((0, 0, w, box_h), fill=(0, 0, 0, 160))
    for i, (text, colour) in enumerate(lines):
        draw.text((pad * 2, pad + i * (size + pad)), text, font=face, fill=colour[::-1])
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


class VideoWriter:
    """Writes annotated frames to an .mp4 (OpenCV) or an animated .gif (Pillow, downscaled)."""

    def __init__(self, path: str | Path, fps: float, gif_width: int = 480):
        self.path = Path(path)
        self.fps = fps
        self.gif_width = gif_width
        self._gif_frames: list[Image.Image] = []
        self._mp4 = None
        if self.path.suffix.lower() not in (".mp4", ".gif"):
            raise ValueError(f"{self.path}: annotated video is written as .mp4 or .gif")

    def write(self, bgr: np.ndarray) -> None:
        import cv2

        if self.path.suffix.lower() == ".gif":
            h, w = bgr.shape[:2]
            small = cv2.resize(bgr, (self.gif_width, round(h * self.gif_width / w)), interpolation=cv2.INTER_AREA)
            self._gif_frames.append(Image.fromarray(small[:, :, ::-1]))
            return
        if self._mp4 is None:
            h, w = bgr.shape[:2]
            self._mp4 = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._mp4.isOpened():
                raise OSError(f"{self.path}: cannot open an mp4 writer")
        self._mp4.write(bgr)

    def close(self) -> None:
        if self._mp4 is not None:
            self._mp4.release()
        if self._gif_frames:
            first, *rest = self._gif_frames
            first.save(self.path, save_all=True, append_images=rest, duration=round(1000 / self.fps), loop=0)
