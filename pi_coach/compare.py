"""Comparing an attempt with a reference dancer, joint by joint: angles, alignment in time, scores.

Everything here is a plain function over arrays. Per frame, ``JOINTS`` gives 15 angles (elbows,
shoulders, hips, thighs, knees, ankles, the opening of the legs, the sideways lean of the torso,
the head on the trunk) and where the weight is over the feet (``weight_over_feet``) and their angular velocities. The attempt is put in time with the reference by the music
when both soundtracks share it (audio_sync), else by the poses (the lag where the two dances
agree best); within a band around that lag (the temporal tolerance) a dynamic time warp lets a
dancer who is a little early or late be compared with the moment she meant.

Scores: per joint and frame, z = |angle error| / the joint's spread, where the spread is the
standard deviation of that joint's angle in the reference, but at least ``SPREAD_FLOOR`` degrees
(a joint that barely moves in the reference would otherwise turn MediaPipe's jitter, 2-3 degrees
on a still joint of the dance video, into faults).
A frame scores ``100 * exp(-z**2 / 2)`` (100 when exact, 61 at one spread, 14 at two); a joint's
score is the mean over the aligned frames, the overall score the mean over the parts of the body
(arms, legs, trunk, weight) of the mean over each part's joints seen (``overall_score``).
The comparison is made against the reference as danced and mirrored; the better one counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .audio_sync import AudioOffset, Soundtrack, find_offset
from .pose import INDEX, MIRROR_ORDER

SPREAD_FLOOR = 5.0  # degrees: the least spread a joint is judged with (twice MediaPipe's wobble on a still joint)
WEIGHT_FLOOR = 5.0  # percent of the base: the least spread of the weight (twice its 1-3 % drift in a dancer standing still)
VELOCITY_FLOOR = 60.0  # degrees per second: the same for angular velocities
VELOCITY_WEIGHT = 0.5  # of a velocity z against an angle z in the alignment cost
MISSING_COST = 3.0  # alignment cost of a frame pair with no joint seen in both
STEP_PENALTY = 0.1  # alignment cost of a frame held or skipped, against the straight step
MIN_SEEN = 0.25  # a joint seen in fewer of the aligned frames than this is not scored
VISIBILITY = 0.5


@dataclass(frozen=True)
class Joint:
    """One angle measured per frame. ``kind``: ``angle`` at the middle of three points, ``tilt`` of
    the line from the first point to the second against vertical, ``between`` the lines of two
    segments, ``lean`` of the line from the first point up to the second from vertical (signed:
    + towards the picture's right), ``over``: where the hip centre is over the feet (see ``weight_over_feet``).
    ``more``/``less`` say in words what a larger/smaller value in the attempt means; ``unit`` is how
    its numbers read and ``floor`` its least spread (None: the angle floor); ``part`` the part of
    the body it belongs to (``PARTS``)."""

    name: str
    kind: str
    points: tuple[str, ...]
    more: str
    less: str
    unit: str = "°"
    floor: float | None = None
    part: str = ""


def _both(name: str, kind: str, points: tuple[str, ...], more: str, less: str, part: str) -> tuple[Joint, Joint]:
    other = {"left": "right", "right": "left"}  # "#": the other side, for angles against the pelvis
    return tuple(Joint(f"{side} {name}", kind, tuple(p.replace("@", side).replace("#", other[side]) for p in points),
                       more, less, part=part) for side in ("left", "right"))


JOINTS: tuple[Joint, ...] = (
    *_both("elbow", "angle", ("@_shoulder", "@_elbow", "@_wrist"), "straighter", "more bent", "arms"),
    *_both("shoulder", "angle", ("@_hip", "@_shoulder", "@_elbow"), "higher", "lower", "arms"),
    *_both("hip", "angle", ("@_shoulder", "@_hip", "@_knee"), "more open", "more folded", "legs"),
    *_both("thigh", "angle", ("#_hip", "@_hip", "@_knee"), "further out", "further in", "legs"),
    *_both("knee", "angle", ("@_hip", "@_knee", "@_ankle"), "straighter", "more bent", "legs"),
    *_both("ankle", "angle", ("@_knee", "@_ankle", "@_foot_index"), "more pointed", "more flexed", "legs"),
    Joint("legs", "between", ("left_hip", "left_ankle", "right_hip", "right_ankle"), "wider apart", "closer together", part="legs"),
    Joint("torso", "lean", ("mid_hip", "mid_shoulder"), "further to the picture's right", "further to the picture's left",
          part="trunk"),
    Joint("weight", "over", ("mid_hip", "mid_ankle", "left_hip", "right_hip", "left_ankle", "right_ankle", "mid_shoulder"),
          "further over the left foot", "further over the right foot", "% of the base", WEIGHT_FLOOR, "weight"),
    Joint("head", "angle", ("mid_hip", "mid_shoulder", "nose"), "more in line", "tilted more", part="trunk"),
)
JOINT_NAMES = tuple(j.name for j in JOINTS)
PARTS = ("arms", "legs", "trunk", "weight")  # each counts the same in the overall score


def overall_score(joint_scores: np.ndarray) -> float:
    """The mean over the parts of the body (``PARTS``) of the mean over each part's scored joints.

    Each part counts the same however many angles measure it: the number of angles is set by the
    landmarks MediaPipe gives (nine on the legs, one for the weight), not by what matters, and a
    plain mean over the joints would let the nine leg angles drown a failed weight transfer."""
    parts = []
    for part in PARTS:
        s = np.array([joint_scores[k] for k, j in enumerate(JOINTS) if j.part == part], np.float64)
        if np.isfinite(s).any():
            parts.append(float(np.nanmean(s)))
    return float(np.mean(parts)) if parts else float("nan")
MIDPOINTS = {"mid_hip": ("left_hip", "right_hip"), "mid_shoulder": ("left_shoulder", "right_shoulder"),
         "mid_ankle": ("left_ankle", "right_ankle")}


# -- angles -------------------------------------------------------------------------------------


def mirror_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """``(T, 33, 4)`` landmarks as seen in a mirror (Pose.mirrored for a whole clip)."""
    out = np.asarray(landmarks, np.float32)[:, MIRROR_ORDER].copy()
    out[..., 0] = 1.0 - out[..., 0]
    return out


def _points(landmarks: np.ndarray, width: int, height: int) -> dict[str, np.ndarray]:
    px = landmarks[..., :2].astype(np.float64) * (width, height)
    seen = np.nan_to_num(landmarks[..., 3], nan=0.0) >= VISIBILITY
    px[~seen] = np.nan
    pts = {name: px[:, i] for name, i in INDEX.items()}
    for mid, (a, b) in MIDPOINTS.items():
        pts[mid] = (pts[a] + pts[b]) / 2
    return pts


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unsigned angle between vectors per row, degrees; NaN for a zero or unknown vector."""
    cross = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
    dot = (u * v).sum(axis=1)
    ok = (np.linalg.norm(u, axis=1) > 1e-9) & (np.linalg.norm(v, axis=1) > 1e-9)
    with np.errstate(invalid="ignore"):
        return np.where(ok, np.degrees(np.arctan2(cross, dot)), np.nan)


def weight_over_feet(p: dict[str, np.ndarray]) -> np.ndarray:
    """Where the body's mass is over the feet, per frame: the sideways offset of the hip centre from
    the middle of the two ankles, in percent of the base, + towards the dancer's own left foot.

    Sideways is the picture's horizontal (a level camera), turned to the dancer's own sides by which
    way her left hip lies, so the number means the same facing the camera or away from it and flips
    in a mirror. The base is the wider of the stance (ankle to ankle) and the hips, and never less
    than a quarter of the torso length: with the feet apart, +-50 is right over one foot; with the
    feet together a weight shift still shows as the pelvis moving by a fraction of its own width;
    measured on the body, the figure does not shrink as the dancer steps away from the camera
    (an angle from the feet up to the hips does: a weight transfer is 2-3 degrees of it)."""
    hips, ankles = p["left_hip"] - p["right_hip"], p["left_ankle"] - p["right_ankle"]
    torso = np.linalg.norm(p["mid_shoulder"] - p["mid_hip"], axis=1)
    base = np.fmax(np.fmax(np.abs(hips[:, 0]), np.abs(ankles[:, 0])), torso / 4)
    side = np.sign(hips[:, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * side * (p["mid_hip"][:, 0] - p["mid_ankle"][:, 0]) / base
    return np.where((base > 1e-9) & (side != 0), out, np.nan)


def joint_floors(floor: float = SPREAD_FLOOR) -> np.ndarray:
    """Each joint's least spread: ``floor`` degrees for the angles, the joint's own for the others."""
    return np.array([floor if j.floor is None else j.floor for j in JOINTS])


def velocity_floors() -> np.ndarray:
    """The least spread of each joint's velocity: ``VELOCITY_FLOOR`` for the angles, the same
    multiple of its own floor for the others."""
    return np.array([VELOCITY_FLOOR if j.floor is None else j.floor * VELOCITY_FLOOR / SPREAD_FLOOR for j in JOINTS])


def joint_angles(landmarks: np.ndarray, width: int = 1, height: int = 1) -> np.ndarray:
    """``(T, len(JOINTS))`` angles in degrees from ``(T, 33, 4)`` landmarks, in pixels of a
    ``width`` x ``height`` image so they are true to the picture; NaN where a point is not seen."""
    landmarks = np.asarray(landmarks, np.float32)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (33, 4):
        raise ValueError(f"expected (T, 33, 4) landmarks, got {landmarks.shape}")
    p = _points(landmarks, width, height)
    out = np.empty((len(landmarks), len(JOINTS)))
    for k, j in enumerate(JOINTS):
        q = [p[n] for n in j.points]
        if j.kind == "angle":
            out[:, k] = _angle(q[0] - q[1], q[2] - q[1])
        elif j.kind == "between":
            out[:, k] = _angle(q[1] - q[0], q[3] - q[2])
        elif j.kind == "over":
            out[:, k] = weight_over_feet(p)
        else:  # lean of the line from the first point up to the second, from vertical, + to the right
            v = q[1] - q[0]
            with np.errstate(invalid="ignore"):
                out[:, k] = np.degrees(np.arctan2(v[:, 0], -v[:, 1]))
    return out


def angular_velocity(angles: np.ndarray, fps: float) -> np.ndarray:
    """Degrees per second per joint: the angles smoothed over 5 frames (MediaPipe's jitter would
    otherwise dominate), then central differences. NaN next to unseen frames."""
    a = np.asarray(angles, np.float64)
    if len(a) < 3:
        return np.zeros_like(a)
    k = min(5, len(a) - (1 - len(a) % 2))
    kernel = np.ones(k) / k
    pad = np.pad(a, ((k // 2, k // 2), (0, 0)), mode="edge")
    smooth = np.stack([np.convolve(pad[:, j], kernel, mode="valid") for j in range(a.shape[1])], axis=1)
    return np.gradient(smooth, axis=0) * fps


def spreads(angles: np.ndarray, floor: float | np.ndarray = SPREAD_FLOOR) -> np.ndarray:
    """Each joint's standard deviation over the clip, at least ``floor`` (one, or one per joint; NaN-aware)."""
    with np.errstate(invalid="ignore"), _quiet():
        s = np.nanstd(angles, axis=0)
    floor = np.broadcast_to(np.asarray(floor, np.float64), s.shape)
    return np.maximum(np.where(np.isnan(s), floor, s), floor)


class _quiet:
    """Silences numpy's "mean of empty slice" for columns that are all NaN (unseen joints)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


# -- alignment ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Features:
    """What the alignment compares: angles and velocities, each divided by the reference's spread."""

    angles: np.ndarray
    velocities: np.ndarray

    @staticmethod
    def of(angles: np.ndarray, fps: float, angle_spread: np.ndarray, velocity_spread: np.ndarray) -> Features:
        return Features(angles / angle_spread, angular_velocity(angles, fps) / velocity_spread)


def frame_costs(attempt: Features, reference: Features, chunk: int = 256) -> np.ndarray:
    """``(Ta, Tr)`` float32: mean over the joints seen in both of |angle z| + w |velocity z|."""
    ta, tr = len(attempt.angles), len(reference.angles)
    out = np.empty((ta, tr), np.float32)
    for i in range(0, ta, chunk):
        a = attempt.angles[i:i + chunk, None, :] - reference.angles[None, :, :]
        v = attempt.velocities[i:i + chunk, None, :] - reference.velocities[None, :, :]
        d = np.abs(a) + VELOCITY_WEIGHT * np.nan_to_num(np.abs(v), nan=0.0)
        d[np.isnan(a)] = np.nan
        with _quiet():
            c = np.nanmean(d, axis=2)
        out[i:i + chunk] = np.nan_to_num(c, nan=MISSING_COST)
    return out


def best_lag(costs: np.ndarray, min_overlap: float = 0.8) -> int:
    """The lag L (reference frame = attempt frame + L) with the least mean cost along its diagonal,
    among lags where the clips share at least ``min_overlap`` of the shorter one."""
    ta, tr = costs.shape
    need = max(1, int(np.ceil(min_overlap * min(ta, tr))))
    best, best_cost = 0, np.inf
    for lag in range(-(ta - need), tr - need + 1):
        c = float(np.diagonal(costs, offset=lag).mean())
        if c < best_cost:
            best, best_cost = lag, c
    return best


def banded_warp(costs: np.ndarray, lag: int, band: int, penalty: float = STEP_PENALTY) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic time warping restricted to ``|r - (j + lag)| <= band``: every attempt frame ``j``
    of the overlap gets one reference frame ``r(j)``, monotone, advancing 0, 1 or 2 frames per
    frame (held or skipped frames cost ``penalty``); free start and end inside the band.
    Returns (attempt frames, reference frames)."""
    ta, tr = costs.shape
    j0, j1 = max(0, -lag), min(ta, tr - lag)
    if j1 <= j0:
        raise ValueError("the clips do not overlap at this lag")
    width = 2 * band + 1
    n = j1 - j0
    total = np.full((n, width), np.inf)
    back = np.zeros((n, width), np.int8)

    def row(j: int) -> np.ndarray:
        r = np.arange(j + lag - band, j + lag + band + 1)
        c = np.full(width, np.inf)
        ok = (r >= 0) & (r < tr)
        c[ok] = costs[j, r[ok]]
        return c

    total[0] = row(j0)
    for i in range(1, n):
        # cell k of row i is reference frame j + lag - band + k; the same reference frame in row
        # i - 1 is cell k + 1 (held), the one before is cell k (straight), two before k - 1 (skip)
        prev = total[i - 1]
        held = np.append(prev[1:], np.inf) + penalty
        straight = prev
        skip = np.insert(prev[:-1], 0, np.inf) + penalty
        choice = np.stack([straight, held, skip])
        back[i] = np.argmin(choice, axis=0)
        total[i] = row(j0 + i) + choice[back[i], np.arange(width)]
    k = int(np.argmin(total[-1]))
    cells = np.empty(n, int)
    for i in range(n - 1, -1, -1):
        cells[i] = k
        k += (0, 1, -1)[back[i, k]]
    attempt = np.arange(j0, j1)
    return attempt, attempt + lag - band + cells


@dataclass(frozen=True)
class Alignment:
    """Which reference frame each compared attempt frame is matched with, and how that was found.

    ``shift``: reference frame = attempt frame + shift (for the music, the exact offset times the
    frame rate; for the poses, the median over the warp). ``method``: ``audio`` or ``poses``."""

    method: str
    attempt_frames: np.ndarray
    reference_frames: np.ndarray
    shift: float
    audio: AudioOffset | None = None
    note: str = ""


def align(att_feat: Features, ref_feat: Features, fps: float, tolerance: float,
          offset: AudioOffset | None = None, min_overlap: float = 0.8) -> Alignment:
    """Put the attempt in time with the reference: by the music when ``offset`` is usable, else
    by the poses; then warp within ``tolerance`` seconds of that lag."""
    costs = frame_costs(att_feat, ref_feat)
    band = max(0, round(tolerance * fps))
    if offset is not None and offset.usable:
        exact = offset.seconds * fps
        lag = round(exact)
        if min(len(att_feat.angles), len(ref_feat.angles) - lag) - max(0, -lag) < 1:
            raise ValueError(f"the soundtracks say the attempt starts {offset.seconds:.2f} s into the reference, "
                             "where the two clips do not overlap")
        att, ref = banded_warp(costs, lag, band)
        return Alignment("audio", att, ref, exact, offset, f"by the music (peak {offset.confidence:.0f}x the next)")
    lag = best_lag(costs, min_overlap)
    att, ref = banded_warp(costs, lag, band)
    why = ("the soundtracks do not match" if offset is not None else "no soundtrack in both")
    return Alignment("poses", att, ref, float(np.median(ref - att)), offset, f"by the poses ({why})")


# -- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """A stretch where the attempt departs most: the attempt and reference frames at its worst,
    the frame's score and the joints furthest off with their signed errors in degrees."""

    attempt_frame: int
    reference_frame: int
    score: float
    joints: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Comparison:
    """The outcome: per-joint scores (NaN: not seen enough), the overall score, whether the
    mirrored reference fitted better, the alignment, and per aligned frame the signed angle
    errors, z-scores and frame scores."""

    score: float
    joint_scores: np.ndarray
    mirrored: bool
    score_as_danced: float
    score_mirrored: float
    alignment: Alignment
    errors: np.ndarray  # (n, J) attempt minus reference, degrees
    z: np.ndarray  # (n, J)
    frame_scores: np.ndarray  # (n,)
    spreads: np.ndarray  # (J,) degrees
    velocity_errors: np.ndarray  # (J,) mean |attempt - reference| angular velocity, degrees per second
    fps: float
    moments: tuple[Moment, ...] = field(default=())

    def worst_joints(self, k: int = 3) -> list[tuple[str, float]]:
        order = [i for i in np.argsort(np.nan_to_num(self.joint_scores, nan=np.inf)) if np.isfinite(self.joint_scores[i])]
        return [(JOINT_NAMES[i], float(self.joint_scores[i])) for i in order[:k]]

    def mean_error(self, joint: int) -> float:
        """Mean signed error of a joint over the aligned frames (degrees)."""
        with _quiet():
            return float(np.nanmean(self.errors[:, joint]))


def score_aligned(att_angles: np.ndarray, ref_angles: np.ndarray, alignment: Alignment,
                  spread: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(signed errors, z, per-frame scores, per-joint scores) over the aligned frames."""
    errors = att_angles[alignment.attempt_frames] - ref_angles[alignment.reference_frames]
    z = np.abs(errors) / spread
    per = 100.0 * np.exp(-0.5 * z ** 2)
    with _quiet():
        frame = np.nanmean(per, axis=1)
        joint = np.nanmean(per, axis=0)
    seen = np.isfinite(per).mean(axis=0)
    joint[seen < MIN_SEEN] = np.nan
    return errors, z, frame, joint


def _moments(comp_errors: np.ndarray, z: np.ndarray, frame_scores: np.ndarray, alignment: Alignment,
             fps: float, k: int = 3) -> tuple[Moment, ...]:
    """Up to ``k`` worst stretches (frame scores smoothed over a third of a second), at least a
    second apart, each with the two joints furthest off."""
    if not len(frame_scores) or not np.isfinite(frame_scores).any():
        return ()
    w = max(1, round(fps / 3))
    padded = np.pad(np.nan_to_num(frame_scores, nan=100.0), (w // 2, w - 1 - w // 2), mode="edge")
    s = np.convolve(padded, np.ones(w) / w, mode="valid")
    taken: list[int] = []
    for i in np.argsort(s):
        if len(taken) == k:
            break
        if s[i] >= 99.5 or frame_scores[i] >= 99.5 or any(abs(int(i) - t) < fps for t in taken):
            continue
        taken.append(int(i))
    out = []
    for i in sorted(taken):
        order = [j for j in np.argsort(-np.nan_to_num(z[i], nan=-1)) if np.isfinite(z[i, j])][:2]
        out.append(Moment(int(alignment.attempt_frames[i]), int(alignment.reference_frames[i]), float(frame_scores[i]),
                          tuple((JOINT_NAMES[j], float(comp_errors[i, j])) for j in order)))
    return tuple(out)


def compare(ref_landmarks: np.ndarray, att_landmarks: np.ndarray, fps: float,
            ref_size: tuple[int, int] = (1, 1), att_size: tuple[int, int] = (1, 1),
            ref_sound: Soundtrack | None = None, att_sound: Soundtrack | None = None,
            tolerance: float = 0.5, use_audio: bool = True, mirror: bool = True,
            floor: float = SPREAD_FLOOR) -> Comparison:
    """Compare an attempt with a reference (both ``(T, 33, 4)`` at the same ``fps``), as danced
    and (with ``mirror``) against the mirrored reference; the better fit is returned."""
    att_angles = joint_angles(att_landmarks, *att_size)
    if not np.isfinite(att_angles).any():
        raise ValueError("the attempt has no joint seen in any frame")
    offset = None
    if use_audio and ref_sound is not None and att_sound is not None:
        offset = find_offset(ref_sound, att_sound)
    results = []
    for mirrored in (False, True) if mirror else (False,):
        ref_lm = mirror_landmarks(ref_landmarks) if mirrored else np.asarray(ref_landmarks, np.float32)
        ref_angles = joint_angles(ref_lm, *ref_size)
        if not np.isfinite(ref_angles).any():
            raise ValueError("the reference has no joint seen in any frame")
        spread = spreads(ref_angles, joint_floors(floor))
        vspread = spreads(angular_velocity(ref_angles, fps), velocity_floors())
        alignment = align(Features.of(att_angles, fps, spread, vspread), Features.of(ref_angles, fps, spread, vspread),
                          fps, tolerance, offset)
        errors, z, frame, joint = score_aligned(att_angles, ref_angles, alignment, spread)
        verr = np.abs(angular_velocity(att_angles, fps)[alignment.attempt_frames]
                      - angular_velocity(ref_angles, fps)[alignment.reference_frames])
        with _quiet():
            verr = np.nanmean(verr, axis=0)
            overall = overall_score(joint)
        results.append((overall, mirrored, alignment, errors, z, frame, joint, spread, verr))
    direct = results[0][0]
    mirrored_score = results[1][0] if len(results) > 1 else float("nan")
    best = max(results, key=lambda r: -np.inf if np.isnan(r[0]) else r[0])
    overall, mirrored, alignment, errors, z, frame, joint, spread, verr = best
    return Comparison(overall, joint, mirrored, direct, mirrored_score, alignment, errors, z, frame, spread, verr, fps,
                      _moments(errors, z, frame, alignment, fps))


# -- words --------------------------------------------------------------------------------------


def _describe(joint: str, error: float) -> str:
    j = JOINTS[JOINT_NAMES.index(joint)]
    return f"{joint} {abs(error):.0f}{j.unit} {j.more if error > 0 else j.less}"


def feedback(comp: Comparison, att_first: int = 0, ref_first: int = 0) -> list[str]:
    """What to tell the dancer: the score, how the clips were aligned, the joints furthest off and
    the moments where the attempt departs most (frame numbers in the source files)."""
    which = "the mirrored reference" if comp.mirrored else "the reference as danced"
    other = "as danced" if comp.mirrored else "mirrored"
    other_score = comp.score_as_danced if comp.mirrored else comp.score_mirrored
    a = comp.alignment
    lines = [f"Score {comp.score:.0f}/100 against {which} ({other}: {other_score:.0f})",
             f"Aligned {a.note}: reference frame = attempt frame {'+' if a.shift >= 0 else '-'} {abs(a.shift):.1f} "
             f"({a.shift / comp.fps:+.2f} s); {len(a.attempt_frames)} frames compared"]
    for name, s in comp.worst_joints(3):
        if s >= 99.5:
            break
        err = comp.mean_error(JOINT_NAMES.index(name))
        lines.append(f"  {name}: {s:.0f}/100, on average {_describe(name, err)} than the reference")
    for m in comp.moments:
        what = ", ".join(_describe(n, e) for n, e in m.joints)
        lines.append(f"  at {(m.attempt_frame + att_first) / comp.fps:.1f} s (attempt frame {m.attempt_frame + att_first}, "
                     f"reference frame {m.reference_frame + ref_first}): {what} (frame score {m.score:.0f})")
    unseen = [JOINT_NAMES[i] for i in range(len(JOINTS)) if not np.isfinite(comp.joint_scores[i])]
    if unseen:
        lines.append(f"  not seen enough to score: {', '.join(unseen)}")
    return lines


def to_json(comp: Comparison, att_first: int = 0, ref_first: int = 0) -> dict:
    """The comparison as plain JSON data (frame numbers in the source files)."""
    def num(x, nd=2):
        return None if x is None or not np.isfinite(x) else round(float(x), nd)

    a = comp.alignment
    return {
        "score": num(comp.score, 1), "mirrored": comp.mirrored,
        "score_as_danced": num(comp.score_as_danced, 1), "score_mirrored": num(comp.score_mirrored, 1),
        "alignment": {"method": a.method, "shift_frames": num(a.shift, 2), "shift_seconds": num(a.shift / comp.fps, 4),
                      "audio_confidence": num(a.audio.confidence, 1) if a.audio else None,
                      "frames_compared": len(a.attempt_frames), "note": a.note},
        "joints": {name: {"score": num(comp.joint_scores[i], 1), "mean_error_deg": num(comp.mean_error(i), 1),
                          "spread_deg": num(comp.spreads[i], 1), "unit": JOINTS[i].unit, "velocity_error_deg_s": num(comp.velocity_errors[i], 1)}
                   for i, name in enumerate(JOINT_NAMES)},
        "moments": [{"attempt_frame": m.attempt_frame + att_first, "reference_frame": m.reference_frame + ref_first,
                     "seconds": round((m.attempt_frame + att_first) / comp.fps, 2), "score": round(m.score, 1),
                     "joints": {n: round(e, 1) for n, e in m.joints}} for m in comp.moments],
        "frames": {"attempt": [int(f) + att_first for f in a.attempt_frames],
                   "reference": [int(f) + ref_first for f in a.reference_frames],
                   "score": [num(s, 1) for s in comp.frame_scores]},
    }
