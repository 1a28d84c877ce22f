"""``pi-coach record``: teach the box a move. The dancer is guided through takes on the OLED and
the buzzer (get ready with a countdown, dance, rest) and each take is saved as a landmark clip in
the dataset format (ARCHITECTURE.md), ready for ``python -m tools.train`` on the desktop.
"""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .coach import CoachState
from .feedback.buzzer import BuzzerPlayer
from .feedback.oled import Screen
from .moves import is_move_id
from .pose import NUM_LANDMARKS
from .sources.live import LatestFrame

log = logging.getLogger(__name__)
FIELDS = ["sample", "move", "fault", "side", "subject", "camera", "kind", "frames", "width", "height", "detected", "fps"]


@dataclass(frozen=True)
class TakePlan:
    move: str
    takes: int = 20
    seconds: float = 3.0  # dancing time per take
    countdown: int = 3  # seconds of "get ready"
    rest: float = 3.0
    dancer: str = "dancer1"  # the subject column: split by dancer when training
    camera: str = "box"
    save_frames: bool = False


def _say(screen: Screen | None, title: str, message: str, share: float = 0.0) -> None:
    if screen is not None:
        screen.show(CoachState(0.0, "record", title, share, message), force=True)


def record(plan: TakePlan, frames: LatestFrame, estimator, out: Path, screen: Screen | None = None,
           buzzer: BuzzerPlayer | None = None, progress=print) -> list[dict]:
    """Run the takes; return the labels.csv rows written (appended to ``out/labels.csv``)."""
    if not is_move_id(plan.move):
        raise ValueError(f"{plan.move!r} is not a move id: snake_case, starting with a letter")
    (out / "landmarks").mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    title = plan.move.replace("_", " ").capitalize()
    for take in range(1, plan.takes + 1):
        for left in range(plan.countdown, 0, -1):
            _say(screen, title, f"Take {take} of {plan.takes}: get ready... {left}")
            if buzzer:
                buzzer.play("correction")
            _wait(frames, 1.0)
        if buzzer:
            buzzer.play("well_done")
        name = f"{plan.move}-{plan.dancer}-{stamp}-{take:02d}"
        arrays, size, found, rate = _capture(plan, frames, estimator, out / "images" / name if plan.save_frames else None,
                                       lambda share: _say(screen, title, f"Take {take}: dance!", share))
        if arrays is None:
            raise RuntimeError(f"take {take}: the camera gave no frames")
        np.save(out / "landmarks" / f"{name}.npy", arrays)
        rows.append({"sample": name, "move": plan.move, "fault": "none", "side": "", "subject": plan.dancer,
                     "camera": plan.camera, "kind": "clip", "frames": len(arrays), "width": size[0], "height": size[1],
                     "detected": round(found / len(arrays), 3), "fps": round(rate, 2)})
        _append(out / "labels.csv", rows[-1])
        progress(f"take {take}/{plan.takes}: {len(arrays)} frames, dancer seen in {found}")
        if take < plan.takes:
            _say(screen, title, f"Rest. Next: take {take + 1} of {plan.takes}")
            _wait(frames, plan.rest)
    _say(screen, title, f"Done: {plan.takes} takes saved")
    _write_readme(out, plan)
    return rows


def _wait(frames: LatestFrame, seconds: float) -> None:
    """Let time pass while the grabber keeps the newest frame fresh (files play on)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frames.get(timeout=max(0.01, end - time.monotonic()))


def _capture(plan: TakePlan, frames: LatestFrame, estimator, image_dir: Path | None, show):
    import cv2

    arrays, size, found, stamps = [], (0, 0), 0, []
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < plan.seconds:
        got = frames.get(timeout=1.0)
        if got is None:
            if frames.ended:
                break
            continue
        frame = got[0]
        stamps.append(time.monotonic())
        size = (frame.image.shape[1], frame.image.shape[0])
        pose = estimator.estimate(frame.image, frame.timestamp)
        if pose is None:
            arr = np.full((NUM_LANDMARKS, 4), np.nan, np.float32)
            arr[:, 3] = 0
        else:
            arr, found = pose.landmarks, found + 1
        arrays.append(arr)
        if image_dir is not None:
            image_dir.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(image_dir / f"{len(arrays) - 1:04d}.jpg"), frame.image)
        show(min(1.0, elapsed / plan.seconds))
    # the rate the take was captured at (frames the coach kept per second), for comparing against it
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
    return (np.stack(arrays).astype(np.float32) if arrays else None), size, found, rate


def _append(labels: Path, row: dict) -> None:
    new = not labels.exists()
    fields = FIELDS
    if not new:  # a folder from an older version keeps its columns (no fps)
        with open(labels, newline="") as f:
            fields = next(csv.reader(f), None) or FIELDS
    with open(labels, "a", newline="") as f:
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def _write_readme(out: Path, plan: TakePlan) -> None:
    readme = out / "DATASET.md"
    if not readme.exists():
        readme.write_text("# Recorded takes\n\nMade on the box with `pi-coach record`: each take is a landmark clip "
                          "(`landmarks/<sample>.npy`, MediaPipe order, (T, 33, 4)) of one move, labelled in "
                          "`labels.csv` with the dancer (`subject`) and the camera. Train with "
                          "`python -m tools.train THIS_FOLDER SYNTHETIC_FOLDERS...`.\n")
    with open(readme, "a") as f:
        f.write(f"\n- {time.strftime('%Y-%m-%d %H:%M')}: {plan.takes} takes of `{plan.move}` by {plan.dancer}, "
                f"{plan.seconds:g} s each, camera {plan.camera}\n")
