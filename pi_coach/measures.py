"""The measures a rule file may name, and how point names (real or side-relative) map to a Pose.

A point is a MediaPipe landmark name (``left_knee``), a side-relative name resolved per pose
(``working_knee``, ``standing_ankle``) or the midpoint of a left/right pair (``mid_hip``,
``mid_shoulder``, ``mid_heel``, ...). Distances are in torso lengths so that one band fits every body and camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import geometry
from .pose import INDEX, Pose

SIDES = ("left", "right")
# Parts that have a left and a right landmark, so ``working_<part>``, ``standing_<part>`` and
# ``mid_<part>`` exist.
PAIRED_PARTS = tuple(sorted({n[len("left_"):] for n in INDEX if n.startswith("left_")}))
ROLES = ("working", "standing", "mid")


@dataclass(frozen=True)
class Measure:
    """One kind of measurement: how many points it takes, its unit and a match tolerance."""

    name: str
    points: int
    unit: str  # "deg" or "torso" (torso lengths)
    tolerance: float  # how far out of band still counts as a near miss in rule-based matching
    doc: str


MEASURES = {
    m.name: m
    for m in (
        Measure("joint_angle", 3, "deg", 20.0, "angle at the middle point, 180 = straight"),
        Measure("angle_between", 4, "deg", 20.0, "angle between segments p1->p2 and q1->q2 (leg-line method)"),
        Measure("tilt", 2, "deg", 15.0, "lean of the segment from vertical (or horizontal with reference)"),
        Measure("distance", 2, "torso", 0.2, "distance between two points in torso lengths"),
        Measure("height_above", 2, "torso", 0.2, "how far the second point is above the first, in torso lengths"),
        Measure("offset_along", 4, "torso", 0.2, "how far p2 lies past p1 along d1->d2, in torso lengths"),
    )
}
REFERENCES = ("vertical", "horizontal")


def point_error(name: str) -> str | None:
    """Why ``name`` is not a point a rule may use, or None when it is fine."""
    if name in INDEX:
        return None
    role, _, part = name.partition("_")
    if role in ROLES:
        return None if part in PAIRED_PARTS else f"unknown landmark {name!r} (no body part {part!r})"
    return f"unknown landmark {name!r}"


def landmarks_of(name: str, side: str | None) -> tuple[str, ...] | None:
    """The real landmark names behind a point; None when it needs a working side that is unknown."""
    if name in INDEX:
        return (name,)
    role, _, part = name.partition("_")
    if role == "mid":
        return (f"left_{part}", f"right_{part}")
    if side is None:
        return None
    own = side if role == "working" else other_side(side)
    return (f"{own}_{part}",)


def other_side(side: str) -> str:
    return "right" if side == "left" else "left"


def side_landmarks(strategy: str) -> tuple[str, ...]:
    """The landmarks a working-side strategy needs in view."""
    if strategy in SIDES:
        return ()
    if strategy == "more_bent_knee":
        return tuple(f"{s}_{p}" for s in SIDES for p in ("hip", "knee", "ankle"))
    if strategy == "further_ankle":
        return ("left_ankle", "right_ankle", "left_hip", "right_hip")
    return ("left_ankle", "right_ankle")


def resolve_side(pose: Pose, strategy: str, min_visibility: float) -> str | None:
    """Which side is the working (moving) one, by the rule file's strategy; None if unseen."""
    if strategy in SIDES:
        return strategy
    if strategy not in SIDE_STRATEGIES:
        raise ValueError(f"unknown working_side strategy {strategy!r}")
    if not all(pose.is_visible(n, min_visibility) for n in side_landmarks(strategy)):
        return None
    if strategy in ("higher_ankle", "lower_ankle"):
        left_higher = pose.xy("left_ankle")[1] < pose.xy("right_ankle")[1]
        return "left" if left_higher == (strategy == "higher_ankle") else "right"
    if strategy == "further_ankle":
        mid = (pose.xy("left_hip") + pose.xy("right_hip")) / 2
        dl = abs(pose.xy("left_ankle")[0] - mid[0])
        dr = abs(pose.xy("right_ankle")[0] - mid[0])
        return "left" if dl > dr else "right"
    angles = {s: geometry.joint_angle(pose.xy(f"{s}_hip"), pose.xy(f"{s}_knee"), pose.xy(f"{s}_ankle")) for s in SIDES}
    return "left" if angles["left"] < angles["right"] else "right"  # more_bent_knee


SIDE_STRATEGIES = ("higher_ankle", "lower_ankle", "further_ankle", "more_bent_knee", "left", "right")

VIEWS = ("front", "oblique", "side")  # front also covers the back: what matters is the 2-D geometry
FRONT_SHOULDER_RATIO = 0.5  # (shoulder width + hip width) / 2 / torso length, seen square on
Z_SCALE = 5.0  # MediaPipe's z runs about five times the x scale across the shoulders


def camera_yaw(pose: Pose, min_visibility: float = 0.5) -> float | None:
    """How far round the dancer the camera stands, 0 (front or back) to 90 degrees (side).

    Two estimates, averaged: the shoulders' and hips' width against the torso length (it
    shrinks with the cosine of the yaw), and the depth difference MediaPipe gives between the
    shoulders. Calibrated on the synthetic studio's renders, where the true yaw is known.
    """
    names = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    if not all(pose.is_visible(n, min_visibility) for n in names):
        return None
    torso = pose.torso_length()
    if not torso > 0:
        return None
    width = (np.linalg.norm(pose.xy("left_shoulder") - pose.xy("right_shoulder"))
             + np.linalg.norm(pose.xy("left_hip") - pose.xy("right_hip"))) / 2
    by_width = math.degrees(math.acos(min(1.0, width / torso / FRONT_SHOULDER_RATIO)))
    lm = pose.landmarks
    dx = abs(lm[INDEX["left_shoulder"], 0] - lm[INDEX["right_shoulder"], 0])
    dz = abs(lm[INDEX["left_shoulder"], 2] - lm[INDEX["right_shoulder"], 2])
    if not np.isfinite(dz):
        return by_width
    by_depth = math.degrees(math.atan2(dz, Z_SCALE * dx))
    return (by_width + by_depth) / 2


def view_of(yaw: float | None) -> str | None:
    """front (within 30 degrees), oblique, or side (beyond 60 degrees)."""
    if yaw is None:
        return None
    return "front" if yaw < 30 else "side" if yaw > 60 else "oblique"


def measure(pose: Pose, kind: str, points: tuple[str, ...], side: str | None, min_visibility: float,
            reference: str = "vertical") -> tuple[float, tuple[str, ...]]:
    """Take one measure on a pose: (value, landmarks that were missing). NaN value if any missing."""
    xy = []
    missing: list[str] = []
    for name in points:
        names = landmarks_of(name, side)
        if names is None:
            missing.append(name)
            continue
        unseen = [n for n in names if not pose.is_visible(n, min_visibility)]
        missing.extend(unseen)
        xy.append(sum(pose.xy(n) for n in names) / len(names) if not unseen else None)
    needs_scale = MEASURES[kind].unit == "torso"
    if needs_scale:
        for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"):
            if not pose.is_visible(n, min_visibility):
                missing.append(n)
    if missing:
        return math.nan, tuple(dict.fromkeys(missing))
    scale = pose.torso_length() if needs_scale else math.nan
    if kind == "joint_angle":
        value = geometry.joint_angle(*xy)
    elif kind == "angle_between":
        value = geometry.angle_between(*xy)
    elif kind == "tilt":
        value = geometry.tilt(*xy, reference=reference)
    elif kind == "distance":
        value = geometry.distance(*xy, scale)
    elif kind == "height_above":
        value = geometry.height_above(*xy, scale)
    else:  # offset_along
        value = geometry.offset_along(*xy, scale)
    return value, ()
