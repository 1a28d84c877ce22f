"""The dataset card (DATASET.md) and the contact sheet of a rendered dataset."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from .studio import CLASSES

TILE = (150, 200)  # width, height of one contact-sheet tile


def contact_sheet(out: Path, rows: list[dict], per_class: int = 6) -> Path | None:
    """One row per class of correct stills, each cropped round the dancer and labelled."""
    stills = [r for r in rows if r["kind"] == "still"]
    lines = []
    for move in CLASSES:
        picks = sorted((r for r in stills if r["move"] == move and r["fault"] == "none"), key=lambda r: r["sample"])
        picks = picks[:per_class] or sorted((r for r in stills if r["move"] == move), key=lambda r: r["sample"])[:per_class]
        if not picks:
            continue
        tiles = [_tile(out, r["sample"]) for r in picks]
        tiles += [np.full((TILE[1], TILE[0], 3), 255, np.uint8)] * (per_class - len(tiles))
        label = np.full((TILE[1], 140, 3), 255, np.uint8)
        cv2.putText(label, move, (6, TILE[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        lines.append(np.hstack([label, *tiles]))
    if not lines:
        return None
    path = out / "contact_sheet.png"
    cv2.imwrite(str(path), np.vstack(lines))
    return path


def _tile(out: Path, sample: str) -> np.ndarray:
    image = cv2.imread(str(out / "images" / f"{sample}.jpg"))
    truth = np.load(out / "truth" / f"{sample}.npy")
    h, w = image.shape[:2]
    pts = truth[np.isfinite(truth[:, 0]), :2] * (w, h)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_h = max(y1 - y0, (x1 - x0) * TILE[1] / TILE[0]) * 0.65
    half_w = half_h * TILE[0] / TILE[1]
    crop = image[max(0, int(cy - half_h)): int(cy + half_h), max(0, int(cx - half_w)): int(cx + half_w)]
    return cv2.resize(crop, TILE, interpolation=cv2.INTER_AREA)


def _numbers(values) -> list[float]:
    return [float(v) for v in values if v != "" and not math.isnan(float(v))]


def _rate(values) -> str:
    values = _numbers(values)
    return f"{np.mean(values):.3f}" if values else "n/a"


def _median(values) -> str:
    values = _numbers(values)
    return f"{np.median(values):.3f}" if values else "n/a"


def write_card(out: Path, rows: list[dict], args, command: str, seconds: float) -> None:
    sheet = contact_sheet(out, rows)
    stills = [r for r in rows if r["kind"] == "still"]
    clips = [r for r in rows if r["kind"] == "clip"]
    detected = [r for r in stills if r["detected"] >= 1]
    lines = [
        "# Synthetic ballet dataset",
        "",
        "Rendered by pi-coach's synthetic dancer studio (`tools/synth`): Anny bodies (Apache-2.0 code,",
        "CC0 assets) posed by the move library in `tools/synth/moves.py`, drawn by the studio's own",
        "software renderer, and seen by MediaPipe Pose (full model) exactly as the box would see them.",
        "",
        f"- command: `{command}`",
        f"- seed {args.seed}, {args.subjects} dancers, fault rate {args.fault_rate}, arm variety {args.arm_variety}, "
        f"{len(stills)} stills, "
        f"{len(clips)} clips, {args.workers} worker(s), {seconds:.0f} s",
        f"- MediaPipe found the dancer in {len(detected)} of {len(stills)} stills "
        f"({len(detected) / max(1, len(stills)):.1%}); landmark error, mean {_rate([r['landmark_error'] for r in detected])}, "
        f"median {_median([r['landmark_error'] for r in detected])} torso lengths (2-D, against the true joints "
        "projected into the image; the true hip is the COCO hip, a little lower than MediaPipe's; the mean "
        "carries the stills where MediaPipe swapped left and right)",
        f"- clips: dancer found in {_rate([r['detected'] for r in clips])} of the frames on average",
        "",
        "Split by `subject` (the dancer) or `camera` (the view), never by row.",
        "",
        "## Files",
        "",
        "- `labels.csv`: one row per sample: `sample, move, fault, magnitude, side, arms, subject, camera,",
        "  kind, sequence, frames, width, height, detected, landmark_error`. `fault` is `none` for correct form;",
        "  `magnitude` is in degrees (or percent where the fault says so) as drawn; `side` is the working leg;",
        "  `arms` is the port de bras of the (first) move (`tools/synth/moves.py`: PORT_DE_BRAS);",
        "  `sequence` lists a clip's moves in order (standing before, between holds and after).",
        "- `landmarks/<sample>.npy`: MediaPipe landmarks, (33, 4) for a still, (T, 33, 4) for a clip; NaN",
        "  with visibility 0 where nobody was found.",
        "- `images/<sample>.jpg`: the rendered still (clip frames with `--clip-images`).",
        "- `truth/<sample>.npy`: true joints projected into the image, (33, 3) or (T, 33, 3): x, y, known.",
        "- `truth/<sample>.json`: body shape, clothes, camera, room, the 3-D joints and per-frame moves",
        "  (`transition` for frames between 20% and 80% of the way from one pose to the next).",
        "",
        "## Counts",
        "",
        "| move | stills | clips | faults (stills) |",
        "|---|---|---|---|",
    ]
    for move in CLASSES:
        s = [r for r in stills if r["move"] == move]
        c = [r for r in clips if r["move"] == move]
        if not s and not c:
            continue
        faults = Counter(r["fault"] for r in s)
        lines.append(f"| {move} | {len(s)} | {len(c)} | " + ", ".join(f"{f} {n}" for f, n in sorted(faults.items())) + " |")
    lines += ["", "## Detection by camera view", "", "| view | stills | detected | mean error (torso lengths) |", "|---|---|---|---|"]
    for view in sorted({r["camera"] for r in stills}):
        v = [r for r in stills if r["camera"] == view]
        found = [r for r in v if r["detected"] >= 1]
        lines.append(f"| {view} | {len(v)} | {len(found) / len(v):.1%} | {_rate([r['landmark_error'] for r in found])} |")
    if sheet:
        lines += ["", "## Contact sheet", "", "Correct stills of each class:", "", f"![contact sheet]({sheet.name})"]
    (out / "DATASET.md").write_text("\n".join(lines) + "\n")
