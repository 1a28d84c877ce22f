"""Pure geometry over 2-D points in pixels (x right, y down): angles, tilts and scaled distances.

Every function returns a float, and NaN when the answer is undefined (a NaN input, coincident
points, a zero body scale). NaN is the one "cannot measure" value the rulebook checks for; no
function raises on degenerate input or returns a number that looks valid but is not.
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-9


def _vec(p) -> np.ndarray:
    return np.asarray(p, dtype=np.float64)[:2]


def _finite(*points) -> bool:
    return all(np.all(np.isfinite(p)) for p in points)


def _angle_of(u: np.ndarray, v: np.ndarray) -> float:
    """Unsigned angle between two vectors in degrees, [0, 180]; NaN if either is (near) zero."""
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu < EPS or nv < EPS or not (np.isfinite(nu) and np.isfinite(nv)):
        return math.nan
    # atan2 of cross and dot is exact near 0 and 180 degrees, where acos loses precision.
    cross = u[0] * v[1] - u[1] * v[0]
    return math.degrees(math.atan2(abs(cross), float(np.dot(u, v))))


def joint_angle(a, b, c) -> float:
    """The angle at ``b`` between ``b->a`` and ``b->c`` in degrees: 180 is a straight limb."""
    a, b, c = _vec(a), _vec(b), _vec(c)
    if not _finite(a, b, c):
        return math.nan
    return _angle_of(a - b, c - b)


def line_intersection(p1, p2, q1, q2) -> np.ndarray | None:
    """The point where line ``p1 p2`` meets line ``q1 q2``; None for parallel or degenerate lines."""
    p1, p2, q1, q2 = _vec(p1), _vec(p2), _vec(q1), _vec(q2)
    if not _finite(p1, p2, q1, q2):
        return None
    d1, d2 = p2 - p1, q2 - q1
    denom = d1[0] * d2[1] - d1[1] * d2[0]
    scale = np.linalg.norm(d1) * np.linalg.norm(d2)
    if scale < EPS or abs(denom) <= 1e-12 * scale:
        return None
    t = ((q1[0] - p1[0]) * d2[1] - (q1[1] - p1[1]) * d2[0]) / denom
    crossing = p1 + t * d1
    return crossing if np.all(np.isfinite(crossing)) else None


def angle_between(p1, p2, q1, q2) -> float:
    """The angle between segments ``p1->p2`` and ``q1->q2`` in degrees, [0, 180].

    This is the source paper's leg-line method: extend both segments (for the legs, hip to
    ankle) to the point where their lines cross and take the angle there between the rays
    that run towards ``p2`` and ``q2``. Taking the segments' directions makes the sign right
    whichever side of the body the crossing falls on, and gives 0 for parallel legs side by
    side (where the lines never cross) and 180 for a full split.
    """
    p1, p2, q1, q2 = _vec(p1), _vec(p2), _vec(q1), _vec(q2)
    if not _finite(p1, p2, q1, q2):
        return math.nan
    return _angle_of(p2 - p1, q2 - q1)


def tilt(a, b, reference: str = "vertical") -> float:
    """How far the line through ``a`` and ``b`` leans from vertical (or horizontal), [0, 90]."""
    a, b = _vec(a), _vec(b)
    if not _finite(a, b):
        return math.nan
    axis = np.array([0.0, 1.0]) if reference == "vertical" else np.array([1.0, 0.0])
    angle = _angle_of(b - a, axis)
    return angle if math.isnan(angle) else min(angle, 180.0 - angle)


def distance(a, b, scale: float) -> float:
    """Distance from ``a`` to ``b`` in units of ``scale`` (a body length in pixels)."""
    a, b = _vec(a), _vec(b)
    if not _finite(a, b) or not (np.isfinite(scale) and scale > EPS):
        return math.nan
    return float(np.linalg.norm(b - a) / scale)


def height_above(a, b, scale: float) -> float:
    """How far ``b`` is above ``a`` in units of ``scale``; negative when ``b`` is below."""
    a, b = _vec(a), _vec(b)
    if not _finite(a, b) or not (np.isfinite(scale) and scale > EPS):
        return math.nan
    return float((a[1] - b[1]) / scale)


def offset_along(a, b, d1, d2, scale: float) -> float:
    """How far ``b`` lies past ``a`` in the direction ``d1->d2``, in units of ``scale``.

    For example a knee past the toes along the heel-to-toe line of the same foot.
    """
    a, b, d1, d2 = _vec(a), _vec(b), _vec(d1), _vec(d2)
    if not _finite(a, b, d1, d2) or not (np.isfinite(scale) and scale > EPS):
        return math.nan
    d = d2 - d1
    norm = np.linalg.norm(d)
    if norm < EPS:
        return math.nan
    return float(np.dot(b - a, d / norm) / scale)
