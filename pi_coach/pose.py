"""The Pose type: 33 MediaPipe landmarks of one person in one frame, the currency of pi-coach.

A Pose holds a ``(33, 4)`` float32 array of x, y (normalised to the image, y down), z (relative
depth) and visibility, plus the frame size and a timestamp. Left and right are the dancer's own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

LANDMARK_NAMES = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
NUM_LANDMARKS = len(LANDMARK_NAMES)
INDEX = {name: i for i, name in enumerate(LANDMARK_NAMES)}

Landmark = enum.IntEnum("Landmark", [(n.upper(), i) for i, n in enumerate(LANDMARK_NAMES)])
Landmark.__doc__ = "Named landmark indices in MediaPipe order: Landmark.LEFT_HIP == 23."

# Skeleton edges for drawing (MediaPipe's pose connections without the face mesh detail).
CONNECTIONS = (
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("left_ankle", "left_heel"),
    ("left_heel", "left_foot_index"),
    ("left_ankle", "left_foot_index"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("right_ankle", "right_heel"),
    ("right_heel", "right_foot_index"),
    ("right_ankle", "right_foot_index"),
    ("nose", "left_eye"),
    ("nose", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
)

# Index permutation that swaps every left landmark with its right twin.
MIRROR_ORDER = np.array(
    [
        INDEX[n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")]
        for n in LANDMARK_NAMES
    ]
)

DEFAULT_VISIBILITY = 0.5  # MediaPipe's own threshold for drawing a landmark


@dataclass(frozen=True, eq=False)
class Pose:
    """One person's landmarks in one frame.

    ``landmarks`` is ``(33, 4)`` float32: x, y in [0, 1] of the image, z relative depth,
    visibility in [0, 1]. A landmark that is unknown (for example a column absent from a CSV)
    has NaN coordinates and visibility 0.
    """

    landmarks: np.ndarray
    width: int = 1
    height: int = 1
    timestamp: float = 0.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        arr = np.asarray(self.landmarks, dtype=np.float32)
        if arr.shape != (NUM_LANDMARKS, 4):
            raise ValueError(f"a Pose needs a (33, 4) landmark array, got {arr.shape}")
        object.__setattr__(self, "landmarks", arr)

    def visibility(self, name: str) -> float:
        """Visibility of a named landmark, 0 where it is unknown."""
        v = float(self.landmarks[INDEX[name], 3])
        return 0.0 if np.isnan(v) else v

    def is_visible(self, name: str, threshold: float = DEFAULT_VISIBILITY) -> bool:
        """True when the landmark is known and MediaPipe is confident enough that it is in view."""
        x, y = self.landmarks[INDEX[name], :2]
        return bool(np.isfinite(x) and np.isfinite(y) and self.visibility(name) >= threshold)

    @cached_property
    def pixels(self) -> np.ndarray:
        """``(33, 2)`` float64 landmark positions in pixels, computed once per pose."""
        px = self.landmarks[:, :2].astype(np.float64) * (self.width, self.height)
        px.flags.writeable = False
        return px

    def xy(self, name: str) -> np.ndarray:
        """The landmark in pixels (x right, y down) so that angles are true to the image."""
        return self.pixels[INDEX[name]]

    def torso_length(self) -> float:
        """Mid-shoulder to mid-hip distance in pixels; NaN where a shoulder or hip is unknown."""
        shoulders = (self.xy("left_shoulder") + self.xy("right_shoulder")) / 2
        hips = (self.xy("left_hip") + self.xy("right_hip")) / 2
        return float(np.linalg.norm(shoulders - hips))

    def mirrored(self) -> Pose:
        """The pose as seen in a mirror: x flipped and left/right landmarks swapped."""
        arr = self.landmarks[MIRROR_ORDER].copy()
        arr[:, 0] = 1.0 - arr[:, 0]
        return Pose(arr, self.width, self.height, self.timestamp, dict(self.meta))

    def gated(self, threshold: float = DEFAULT_VISIBILITY) -> Pose:
        """A copy with every landmark below the visibility threshold set to NaN."""
        arr = self.landmarks.copy()
        arr[~(arr[:, 3] >= threshold), :3] = np.nan
        return Pose(arr, self.width, self.height, self.timestamp, dict(self.meta))

    def normalized(self) -> np.ndarray:
        """``(33, 3)`` x, y, z centred on the mid-hip and divided by the torso length.

        x and y are taken in pixels first so the result does not depend on the aspect ratio;
        z is scaled by the image width as MediaPipe defines it. NaN where the torso is unknown.
        """
        scale = np.array([self.width, self.height, self.width], dtype=np.float64)
        pts = self.landmarks[:, :3].astype(np.float64) * scale
        hips = (pts[INDEX["left_hip"]] + pts[INDEX["right_hip"]]) / 2
        torso = self.torso_length()
        if not np.isfinite(torso) or torso < 1e-9:
            return np.full((NUM_LANDMARKS, 3), np.nan)
        return ((pts - hips) / torso).astype(np.float32)


def pose_from_array(arr: np.ndarray, width: int = 1, height: int = 1, timestamp: float = 0.0) -> Pose:
    """Build a Pose from a ``(33, 4)`` array (or ``(33, 3)`` with full visibility assumed)."""
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2 and arr.shape == (NUM_LANDMARKS, 3):
        arr = np.concatenate([arr, np.ones((NUM_LANDMARKS, 1), np.float32)], axis=1)
    return Pose(arr, width, height, timestamp)
