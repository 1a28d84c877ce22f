"""Pictures of a comparison: side-by-side skeleton playback (.mp4 or .gif) and a report (.png, or
.html with the picture and the feedback inside) with per-joint score bars and an error timeline.

The skeletons are drawn hip-centred and scaled by the torso, so two dancers filmed from different
distances stand the same size; the attempt's panel shows the reference's skeleton in grey behind
it, and the worst joints are ringed, redder the further off they are in that frame.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .compare import JOINT_NAMES, JOINTS, MIDPOINTS, Comparison, mirror_landmarks
from .draw import VideoWriter, font
from .pose import CONNECTIONS, INDEX

PANEL = (360, 420)  # width, height of each skeleton panel
HEADER = 56


def _normalised(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(T, 33, 2)`` pixels hip-centred, divided by the clip's median torso length; NaN unseen."""
    px = landmarks[..., :2].astype(np.float64) * size
    px[~(np.nan_to_num(landmarks[..., 3]) >= 0.5)] = np.nan
    hips = (px[:, INDEX["left_hip"]] + px[:, INDEX["right_hip"]]) / 2
    shoulders = (px[:, INDEX["left_shoulder"]] + px[:, INDEX["right_shoulder"]]) / 2
    torso = np.nanmedian(np.linalg.norm(shoulders - hips, axis=1))
    if not np.isfinite(torso) or torso <= 0:
        torso = 1.0
    return (px - hips[:, None, :]) / torso


def _skeleton(draw: ImageDraw.ImageDraw, pts: np.ndarray, origin: tuple[float, float], scale: float, colour, width: int):
    def at(name):
        p = pts[INDEX[name]] if name in INDEX else np.mean([pts[INDEX[n]] for n in MIDPOINTS[name]], axis=0)
        return None if not np.all(np.isfinite(p)) else (origin[0] + p[0] * scale, origin[1] + p[1] * scale)

    for a, b in CONNECTIONS:
        pa, pb = at(a), at(b)
        if pa and pb:
            draw.line((pa, pb), fill=colour, width=width)
    return at


def _vertex(joint_index: int) -> str:
    j = JOINTS[joint_index]
    return {"angle": j.points[1], "between": j.points[1], "lean": j.points[1], "over": j.points[0]}[j.kind]


def playback(path: str | Path, reference: np.ndarray, attempt: np.ndarray, comp: Comparison,
             ref_size: tuple[int, int], att_size: tuple[int, int], ref_first: int = 0, att_first: int = 0,
             highlight: int = 3, progress: bool = True) -> Path:
    """Write the aligned skeletons side by side, one picture per compared attempt frame."""
    from tqdm import tqdm

    path = Path(path)
    ref = _normalised(mirror_landmarks(reference) if comp.mirrored else np.asarray(reference), ref_size)
    att = _normalised(np.asarray(attempt), att_size)
    worst = [JOINT_NAMES.index(n) for n, s in comp.worst_joints(highlight) if s < 99.5]
    scale = PANEL[1] / 4.0  # in torso lengths the body spans about 3.3 from head to feet
    origin = (PANEL[0] / 2, HEADER + PANEL[1] * 0.38)
    writer = VideoWriter(path, comp.fps, gif_width=2 * PANEL[0])
    title, small = font(18, bold=True), font(15)
    a = comp.alignment
    for i in tqdm(range(len(a.attempt_frames)), desc="playback", unit="frame", disable=not progress, leave=False):
        fa, fr = int(a.attempt_frames[i]), int(a.reference_frames[i])
        img = Image.new("RGB", (2 * PANEL[0], HEADER + PANEL[1]), (18, 18, 22))
        d = ImageDraw.Draw(img)
        d.line((PANEL[0], HEADER, PANEL[0], HEADER + PANEL[1]), fill=(70, 70, 80), width=2)
        _skeleton(d, ref[fr], origin, scale, (235, 235, 235), 4)
        right = (origin[0] + PANEL[0], origin[1])
        _skeleton(d, ref[fr], right, scale, (90, 90, 100), 3)
        at = _skeleton(d, att[fa], right, scale, (120, 200, 255), 4)
        for j in worst:
            z = comp.z[i, j]
            p = at(_vertex(j))
            if p is None or not np.isfinite(z):
                continue
            red = int(min(1.0, z / 2.0) * 255)
            r = 7 + min(12.0, 4 * z)
            d.ellipse((p[0] - r, p[1] - r, p[0] + r, p[1] + r), outline=(255, 255 - red, 60), width=3)
            d.text((p[0] + r + 2, p[1] - 8), f"{comp.errors[i, j]:+.0f}{JOINTS[j].unit[:1]}", font=small, fill=(255, 255 - red, 60))
        d.text((10, 6), f"reference  frame {fr + ref_first}{'  (mirrored)' if comp.mirrored else ''}", font=title,
               fill=(235, 235, 235))
        d.text((PANEL[0] + 10, 6), f"attempt  frame {fa + att_first}", font=title, fill=(120, 200, 255))
        score = comp.frame_scores[i]
        d.text((10, 30), f"attempt at {(fa + att_first) / comp.fps:.2f} s", font=small, fill=(180, 180, 180))
        d.text((PANEL[0] + 10, 30), f"frame score {score:.0f}" if np.isfinite(score) else "not seen", font=small,
               fill=(180, 180, 180))
        if worst:
            d.text((10, HEADER + PANEL[1] - 22), "ringed: " + ", ".join(JOINT_NAMES[j] for j in worst), font=small,
                   fill=(255, 200, 60))
        writer.write(np.asarray(img)[:, :, ::-1].copy())
    writer.close()
    return path


def report_figure(comp: Comparison, title: str, att_first: int = 0):
    """A matplotlib figure: per-joint score bars (left) and the error timeline (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, line) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1, 1.6]})
    scores = np.nan_to_num(comp.joint_scores, nan=0.0)
    colours = ["#2e9e44" if s >= 85 else "#e0a020" if s >= 60 else "#d03030" for s in scores]
    y = np.arange(len(JOINT_NAMES))[::-1]
    bars.barh(y, scores, color=colours)
    bars.set_yticks(y, [n + ("" if np.isfinite(s) else " (unseen)") for n, s in zip(JOINT_NAMES, comp.joint_scores)])
    for yy, s in zip(y, comp.joint_scores):
        if np.isfinite(s):
            bars.text(min(s, 88) + 1, yy, f"{s:.0f}", va="center", fontsize=9)
    bars.set_xlim(0, 100)
    bars.set_xlabel("score (100 = as the reference)")
    bars.set_title(f"Per joint: overall {comp.score:.0f}{' (mirrored reference)' if comp.mirrored else ''}")
    t = (comp.alignment.attempt_frames + att_first) / comp.fps
    line.plot(t, comp.frame_scores, color="#333", lw=1.5, label="frame score (all joints)")
    for name, _ in comp.worst_joints(3):
        j = JOINT_NAMES.index(name)
        line.plot(t, 100 * np.exp(-0.5 * comp.z[:, j] ** 2), lw=1, alpha=0.8, label=name)
    for m in comp.moments:
        line.axvline((m.attempt_frame + att_first) / comp.fps, color="#d03030", ls=":", lw=1)
    line.set_ylim(-2, 102)
    line.set_xlabel("seconds into the attempt")
    line.set_ylabel("score")
    line.set_title("Error timeline (red: the moments furthest off)")
    line.legend(loc="lower left", fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def report(path: str | Path, comp: Comparison, lines: list[str], title: str, att_first: int = 0) -> Path:
    """Write the report: ``.png`` (the figure) or ``.html`` (the figure and the feedback)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".html"):
        raise ValueError(f"{path}: the report is written as .png or .html")
    fig = report_figure(comp, title, att_first)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    if path.suffix.lower() == ".png":
        path.write_bytes(buf.getvalue())
        return path
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    body = "\n".join(f"<li>{html.escape(x.strip())}</li>" for x in lines)
    path.write_text("<!doctype html><html><head><meta charset='utf-8'><title>pi-coach compare</title><style>"
                    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}img{max-width:100%}"
                    f"</style></head><body><h1>{html.escape(title)}</h1><ul>{body}</ul>"
                    f"<img alt='per-joint scores and error timeline' src='{uri}'></body></html>", encoding="utf-8")
    return path
