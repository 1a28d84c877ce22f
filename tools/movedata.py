"""Datasets for the move classifiers: windows of pose features, splits by subject and camera,
and augmentation. Reads any dataset directory in the documented format (ARCHITECTURE.md).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pi_coach.classify import NUM_FEATURES, mirror_features, pose_features
from pi_coach.moves import BALLET_MOVES, NONE
from pi_coach.pose import INDEX, NUM_LANDMARKS, Pose

from .synth.moves import MOVES

CLASSES = BALLET_MOVES + (NONE,)
# (move, fault) pairs whose body is another move by definition, e.g. a grand plié no deeper than a
# demi-plié: left out of training and of the headline scores, reported apart (see Fault.looks_like).
SAME_LOOK = {(name, f.name): f.looks_like for name, m in MOVES.items() for f in m.faults if f.looks_like}


@dataclass
class Windows:
    """N windows of T frames of pose features, with what each is and where it came from."""

    x: np.ndarray  # (N, T, 99) float32
    y: np.ndarray  # (N,) int class index into labels
    subject: np.ndarray  # (N,) str
    camera: np.ndarray  # (N,) str
    sample: np.ndarray  # (N,) str
    kind: np.ndarray  # (N,) "still" or "clip"
    labels: tuple[str, ...]
    same_look: np.ndarray  # (N,) bool: a fault made the body another move (SAME_LOOK)
    arms: np.ndarray  # (N,) str: a still's port de bras where labels.csv has it, else ""

    def take(self, mask: np.ndarray) -> Windows:
        return Windows(self.x[mask], self.y[mask], self.subject[mask], self.camera[mask], self.sample[mask],
                       self.kind[mask], self.labels, self.same_look[mask], self.arms[mask])


def dataset_moves(dirs: list[Path]) -> tuple[str, ...]:
    """The classes to learn: the ballet moves and none, then any other move the datasets hold
    (a move an instructor taught the box with ``pi-coach record``)."""
    extra = set()
    for d in dirs:
        with open(d / "labels.csv") as f:
            extra |= {row["move"] for row in csv.DictReader(f)}
    return CLASSES + tuple(sorted(extra - set(CLASSES)))


def load_windows(dirs: list[Path], window: int, labels: tuple[str, ...] | None = None, clip_stride: int = 4,
                 landmarks: str = "mediapipe") -> Windows:
    """Stills become a held pose (the window is the still repeated; augmentation adds motion);
    clips are cut into windows labelled with the move of their last frame. ``labels`` defaults
    to every move in the datasets (``dataset_moves``). ``landmarks="truth"``: the true joints
    instead of MediaPipe's (``sample_landmarks``)."""
    labels = labels or dataset_moves(dirs)
    xs, ys, subj, cams, names, kinds, same, arms = [], [], [], [], [], [], [], []
    for d in dirs:
        for row in csv.DictReader(open(d / "labels.csv")):
            if row["move"] not in labels:
                continue
            arr = sample_landmarks(d, row["sample"], landmarks)
            w, h = int(row.get("width") or 1), int(row.get("height") or 1)
            feats = np.stack([pose_features(Pose(a, w, h) if np.isfinite(a[:, 0]).any() else None) for a in arr])
            if len(arr) == 1:
                windows, moves = [np.repeat(feats, window, axis=0)], [row["move"]]
            else:
                frame_moves = _frame_moves(d, row, len(arr))
                starts = range(0, max(1, len(arr) - window + 1), clip_stride)
                windows = [feats[s: s + window] for s in starts if s + window <= len(arr)]
                moves = [frame_moves[s + window - 1] for s in starts if s + window <= len(arr)]
            for win, move in zip(windows, moves):
                if move not in labels:
                    continue
                xs.append(win)
                ys.append(labels.index(move))
                subj.append(row.get("subject", ""))
                cams.append(row.get("camera", ""))
                names.append(f"{d.name}/{row['sample']}")
                kinds.append("still" if len(arr) == 1 else "clip")
                same.append(move == row["move"] and (move, row.get("fault", "")) in SAME_LOOK)
                arms.append(row.get("arms", "") if len(arr) == 1 else "")
    if not xs:
        raise SystemExit(f"no samples with labels {labels} in {', '.join(map(str, dirs))}")
    return Windows(np.stack(xs).astype(np.float32), np.array(ys), np.array(subj), np.array(cams), np.array(names),
                   np.array(kinds), labels, np.array(same, bool), np.array(arms))


def sample_landmarks(d: Path, sample: str, source: str = "mediapipe") -> np.ndarray:
    """A sample's ``(T, 33, 4)`` landmarks: MediaPipe's, or (``truth``) the synthetic studio's true
    joints projected into the image where the body model has them, seen, and MediaPipe's elsewhere
    (the face). Training on the truth measures what a perfect 2-D pose estimator would allow."""
    arr = np.load(d / "landmarks" / f"{sample}.npy").reshape(-1, NUM_LANDMARKS, 4)
    if source == "mediapipe":
        return arr
    path = d / "truth" / f"{sample}.npy"
    if not path.is_file():
        raise SystemExit(f"{path}: no true joints (only the synthetic studio's datasets have them)")
    truth = np.load(path).reshape(-1, NUM_LANDMARKS, 3)
    known = np.isfinite(truth[..., 0])
    arr[..., :2] = np.where(known[..., None], truth[..., :2], arr[..., :2])
    arr[..., 3] = np.where(known, 1.0, arr[..., 3])
    return arr


def _frame_moves(d: Path, row: dict, n: int) -> list[str]:
    truth = d / "truth" / f"{row['sample']}.json"
    if truth.is_file():
        moves = json.loads(truth.read_text()).get("frame_moves")
        if moves and len(moves) == n:
            return moves
    return [row["move"]] * n


def split(data: Windows, seed: int, test_subjects: float = 0.2,
          test_views: tuple[str, ...] = ("front-right", "back-left")) -> tuple[np.ndarray, np.ndarray]:
    """Train and test masks: test holds whole subjects and whole camera views, train neither."""
    rng = np.random.default_rng(seed)
    subjects = np.unique(data.subject)
    held = rng.choice(subjects, max(1, round(len(subjects) * test_subjects)), replace=False)
    test = np.isin(data.subject, held) | np.isin(data.camera, test_views)
    return ~test, test


def subject_folds(data: Windows, k: int, seed: int) -> list[np.ndarray]:
    """k masks over the data, each holding out a different set of whole subjects."""
    rng = np.random.default_rng(seed)
    subjects = rng.permutation(np.unique(data.subject))
    return [np.isin(data.subject, part) for part in np.array_split(subjects, k)]


ARMS = {side: (INDEX[f"{side}_shoulder"], [INDEX[f"{side}_{p}"] for p in ("elbow", "wrist", "pinky", "index", "thumb")])
        for side in ("left", "right")}


def swap_arms(f: np.ndarray, moving: np.ndarray, rng: np.random.Generator, share: float = 0.5) -> None:
    """In place on (N, T, 33, 3) features: ``share`` of the move windows (``moving``) take the arms
    of another move window, each arm hung from their own shoulder. A dancer may hold any port de
    bras in any move, so the arms must not decide the move (the studio's early data had one per move)."""
    movers = np.flatnonzero(moving)
    if len(movers) < 2:
        return
    take = movers[rng.uniform(size=len(movers)) < share]
    donor = rng.choice(movers, len(take))
    for shoulder, points in ARMS.values():
        own, other = f[take], f[donor]
        ok = (own[:, :, shoulder, 2] > 0) & (other[:, :, shoulder, 2] > 0)  # both shoulders seen
        arms = other[:, :, points].copy()
        arms[..., :2] += own[:, :, shoulder, None, :2] - other[:, :, shoulder, None, :2]
        arms[..., :2] *= arms[..., 2:3] > 0  # unknown landmarks stay at zero
        own[:, :, points] = np.where(ok[:, :, None, None], arms, own[:, :, points])
        f[take] = own


def augment(x: np.ndarray, y: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Mirror (moves are the same on either side), the arms of another move (with labels ``y``), a
    narrower width (the camera a little further round the dancer: +0.013 macro F1 on held-out
    views), in-plane rotation, scale, jitter, dropped frames."""
    x = x.copy()
    n, t, _ = x.shape
    flip = rng.uniform(size=n) < 0.5
    x[flip] = mirror_features(x[flip])
    f = x.reshape(n, t, NUM_LANDMARKS, 3)
    if y is not None:
        swap_arms(f, y != CLASSES.index(NONE), rng)
    seen = f[..., 2:3] > 0
    f[..., 0] *= rng.uniform(0.7, 1.0, n)[:, None, None]
    angle = np.radians(rng.uniform(-12, 12, n))
    scale = rng.uniform(0.9, 1.1, n)
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    px, py = f[..., 0].copy(), f[..., 1].copy()
    f[..., 0] = c[:, None, None] * px - s[:, None, None] * py
    f[..., 1] = s[:, None, None] * px + c[:, None, None] * py
    f[..., :2] += rng.normal(0, 0.02, f[..., :2].shape).astype(np.float32)
    f[..., :2] *= seen  # unknown landmarks stay at zero
    drop = rng.uniform(size=(n, t)) < 0.2  # a dropped frame repeats the one before
    for i in range(1, t):
        f[drop[:, i], i] = f[drop[:, i], i - 1]
    return f.reshape(n, t, NUM_FEATURES)
