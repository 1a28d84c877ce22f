"""MoveClassifier: which move is danced, from a quantized TFLite model shipped in models/.

A model file ``NAME.tflite`` comes with ``NAME.json``: its labels and input spec (the kind of
input, the window length, the feature layout), so the runtime needs nothing else. Models run on
``ai_edge_litert``'s interpreter, or ``tflite_runtime``'s where that is all a box has.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .pose import MIRROR_ORDER, NUM_LANDMARKS, Pose

FEATURES = "xyv-hip-torso-v1"  # the feature layout below; a model trained on another is refused
NUM_FEATURES = NUM_LANDMARKS * 3


class ModelError(ValueError):
    """A model file that is missing, corrupt or does not match its spec; names the file."""


@dataclass(frozen=True)
class MoveGuess:
    """The classifier's answer: the best move, its confidence and every class score."""

    move: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


def pose_features(pose: Pose | None) -> np.ndarray:
    """(99,) float32: x, y hip-centred and torso-scaled, and visibility, per landmark.

    Unknown landmarks (and a pose without a visible torso) give zeros with visibility 0, so a
    half-seen dancer is a valid input rather than NaN.
    """
    out = np.zeros((NUM_LANDMARKS, 3), np.float32)
    if pose is None:
        return out.reshape(-1)
    norm = pose.normalized()
    vis = np.nan_to_num(pose.landmarks[:, 3])
    ok = np.isfinite(norm[:, :2]).all(axis=1)
    out[ok, :2] = norm[ok, :2]
    out[ok, 2] = vis[ok]
    return out.reshape(-1)


def mirror_features(features: np.ndarray) -> np.ndarray:
    """Features of the mirrored pose: x negated and left/right landmarks swapped (any leading axes)."""
    f = features.reshape(*features.shape[:-1], NUM_LANDMARKS, 3)[..., MIRROR_ORDER, :].copy()
    f[..., 0] *= -1
    return f.reshape(features.shape)


def load_interpreter(path: Path, threads: int):
    """A TFLite interpreter for the file, tensors allocated; ModelError naming the file if not."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # a box with only the older runtime
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ModelError(f"{path}: no TFLite runtime: pip install ai-edge-litert (or tflite-runtime)") from None
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: not a valid TFLite model ({str(exc).splitlines()[0][:120]})") from None
    return interpreter


class MoveClassifier:
    """Runs a shipped move model on a window of recent poses (or on an image, for image models)."""

    def __init__(self, model_path: str | Path, threads: int = 2):
        self.path = Path(model_path)
        spec_path = self.path.with_suffix(".json")
        for p in (self.path, spec_path):
            if not p.is_file():
                raise ModelError(f"{p}: no such file (a model needs NAME.tflite and NAME.json side by side)")
        try:
            self.spec = json.loads(spec_path.read_text())
            self.labels = list(self.spec["labels"])
            self.kind = self.spec["kind"]
            self.window = int(self.spec.get("window", 1))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{spec_path}: not a valid model spec ({exc})") from None
        if self.kind == "landmarks" and self.spec.get("features") != FEATURES:
            raise ModelError(f"{spec_path}: features {self.spec.get('features')!r}, this pi-coach computes {FEATURES!r}")
        self._interp = load_interpreter(self.path, threads)
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]
        expected = [1, self.window, NUM_FEATURES] if self.kind == "landmarks" else [1, *self.spec["image_size"], 3]
        if list(self._in["shape"]) != expected:
            raise ModelError(f"{self.path}: input shape {list(self._in['shape'])} does not match its spec {expected}")
        if int(self._out["shape"][-1]) != len(self.labels):
            raise ModelError(f"{self.path}: {int(self._out['shape'][-1])} outputs but {len(self.labels)} labels in {spec_path}")
        self._history: deque[np.ndarray] = deque(maxlen=self.window)

    def classify_input(self, x: np.ndarray) -> MoveGuess:
        """Run the model on one input as the spec describes it (float; quantized here)."""
        return self._guess(self._scores(x))

    def _scores(self, x: np.ndarray) -> np.ndarray:
        scale, zero = self._in["quantization"]
        if self._in["dtype"] != np.float32:
            info = np.iinfo(self._in["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        self._interp.set_tensor(self._in["index"], x.astype(self._in["dtype"])[None])
        self._interp.invoke()
        y = self._interp.get_tensor(self._out["index"])[0].astype(np.float32)
        scale, zero = self._out["quantization"]
        if self._out["dtype"] != np.float32:
            y = (y - zero) * scale
        return y

    def _guess(self, y: np.ndarray) -> MoveGuess:
        best = int(np.argmax(y))
        return MoveGuess(self.labels[best], float(y[best]), {lab: float(v) for lab, v in zip(self.labels, y)})

    def classify_window(self, features: np.ndarray) -> MoveGuess:
        """Classify a ``(window, 99)`` array of pose features, averaged with its mirror image: a
        move is the same move on either leg, and the two looks cancel some of each one's errors
        (about +0.01 macro F1 on held-out dancers, for a second 0.005 ms invoke)."""
        x = np.asarray(features, np.float32).reshape(self.window, NUM_FEATURES)
        return self._guess((self._scores(x) + self._scores(mirror_features(x))) / 2)

    def classify_pose(self, pose: Pose | None) -> MoveGuess:
        """Add a pose to the live window and classify the window (a still fills it alone)."""
        f = pose_features(pose)
        if not self._history:
            self._history.extend([f] * self.window)
        self._history.append(f)
        return self.classify_window(np.stack(self._history))

    def classify_still(self, pose: Pose | None) -> MoveGuess:
        """Classify one photo's pose: the window is that pose held."""
        return self.classify_window(np.repeat(pose_features(pose)[None], self.window, axis=0))

    def classify_image(self, bgr: np.ndarray, pose: Pose | None = None) -> MoveGuess:
        """Image models: the dancer's box (from the pose, else the whole frame) letterboxed to
        the model's input size."""
        return self.classify_input(letterbox(person_crop(bgr, pose), tuple(self.spec["image_size"])).astype(np.float32) / 255.0)


def person_crop(bgr: np.ndarray, pose: Pose | None, margin: float = 0.15) -> np.ndarray:
    """The square around the dancer's landmarks with a margin; the whole frame without a pose."""
    if pose is None:
        return bgr
    h, w = bgr.shape[:2]
    pts = pose.landmarks[:, :2] * (w, h)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return bgr
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    half = max(x1 - x0, y1 - y0) * (0.5 + margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    box = [int(max(0, cx - half)), int(max(0, cy - half)), int(min(w, cx + half)), int(min(h, cy + half))]
    return bgr if box[2] - box[0] < 8 or box[3] - box[1] < 8 else bgr[box[1]: box[3], box[0]: box[2]]


def letterbox(bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize keeping the aspect ratio and pad with grey to ``size`` (height, width); RGB out."""
    import cv2

    h, w = bgr.shape[:2]
    th, tw = size
    s = min(th / h, tw / w)
    small = cv2.resize(bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.full((th, tw, 3), 114, np.uint8)
    y, x = (th - small.shape[0]) // 2, (tw - small.shape[1]) // 2
    out[y: y + small.shape[0], x: x + small.shape[1]] = small
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
