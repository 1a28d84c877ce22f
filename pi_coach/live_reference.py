"""Coaching live against a reference clip (``pi-coach run --reference FILE``).

Each live pose is placed in the reference by its last half second: the stretch of the reference
whose joint angles best match the live window (every reference frame at first, or after the dancer
got lost; afterwards only within the temporal tolerance of where she should be by now). The live
frame is then scored joint by joint as ``pi-coach compare`` does (z = error / the joint's spread,
100 * exp(-z**2 / 2)), smoothed over about a second, and the screen shows the score and the joint
furthest off.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from .clips import Clip
from .coach import CoachState
from .compare import JOINT_NAMES, JOINTS, SPREAD_FLOOR, joint_angles, joint_floors, spreads
from .pose import Pose

LOST = 2.5  # mean z over the window above which the dancer is taken to be lost in the reference


@dataclass(frozen=True)
class ReferenceState:
    """Where the dancer is in the reference (``phase``, a reference frame), the smoothed score
    0-100, the joint furthest off with its smoothed signed error in degrees, and the words for it."""

    phase: float
    score: float
    worst: str
    error: float
    message: str


class ReferenceFollower:
    """Follows a dancer through a reference clip, frame by frame."""

    def __init__(self, clip: Clip, window: float = 0.5, tolerance: float = 0.5, memory: float = 1.0,
                 floor: float = SPREAD_FLOOR):
        self.clip = clip
        self.angles = joint_angles(clip.landmarks, *clip.size)
        if not np.isfinite(self.angles).any():
            raise ValueError(f"{clip.path}: no joint seen in any frame of the reference")
        self.spread = spreads(self.angles, joint_floors(floor))
        self.fps, self.window, self.tolerance, self.memory = clip.fps, window, tolerance, memory
        self._recent: deque[tuple[float, np.ndarray]] = deque()
        self._phase: float | None = None
        self._time = 0.0
        self._scores = np.full(len(JOINTS), np.nan)
        self._errors = np.zeros(len(JOINTS))
        self._scored_at: float | None = None  # when the scores were last updated
        self.last: ReferenceState | None = None

    def update(self, time: float, pose: Pose | None) -> ReferenceState | None:
        """One live frame (None: nobody seen, which keeps the last state but forgets the window)."""
        if pose is None:
            self._recent.clear()
            self._phase = None
            return self.last
        angles = joint_angles(pose.landmarks[None], pose.width, pose.height)[0]
        self._recent.append((time, angles))
        while self._recent and time - self._recent[0][0] > self.window:
            self._recent.popleft()
        phase = self._place(time)
        if phase is None:
            return self.last
        self._phase, self._time = phase, time
        err = angles - self.angles[int(round(phase))]
        frame_scores = 100.0 * np.exp(-0.5 * (err / self.spread) ** 2)
        dt = 0.0 if self._scored_at is None else time - self._scored_at
        self._scored_at = time
        a = 1.0 - np.exp(-max(dt, 1e-3) / self.memory)  # exponential smoothing over ``memory`` seconds
        seen = np.isfinite(frame_scores)
        fresh = seen & ~np.isfinite(self._scores)
        self._scores[fresh], self._errors[fresh] = frame_scores[fresh], err[fresh]
        keep = seen & ~fresh
        self._scores[keep] += a * (frame_scores[keep] - self._scores[keep])
        self._errors[keep] += a * (err[keep] - self._errors[keep])
        if not np.isfinite(self._scores).any():
            return self.last
        worst = int(np.nanargmin(self._scores))
        joint = JOINTS[worst]
        e = float(self._errors[worst])
        message = (f"{joint.name.capitalize()}: {abs(e):.0f}{joint.unit} {joint.more if e > 0 else joint.less}"
                   if self._scores[worst] < 90 else "Like the reference")
        self.last = ReferenceState(phase, float(np.nanmean(self._scores)), JOINT_NAMES[worst], e, message)
        return self.last

    def _place(self, time: float) -> float | None:
        """The reference frame matching the newest live frame, by the whole window."""
        n = len(self.angles)
        if self._phase is not None:
            expected = self._phase + (time - self._time) * self.fps
            band = self.tolerance * self.fps
            candidates = np.arange(max(0, int(expected - band)), min(n, int(np.ceil(expected + band)) + 1))
            if not len(candidates):  # past the end of the reference: start looking from the top
                candidates = np.arange(n)
        else:
            candidates = np.arange(n)
        times = np.array([t for t, _ in self._recent])
        live = np.stack([a for _, a in self._recent])  # (k, J)
        idx = np.rint(candidates[:, None] - (time - times)[None, :] * self.fps).astype(int)  # (C, k)
        valid = idx >= 0
        ref = self.angles[np.clip(idx, 0, n - 1)]  # (C, k, J)
        z = np.abs(ref - live[None]) / self.spread
        z[~valid] = np.nan
        with np.errstate(invalid="ignore"):
            count = np.isfinite(z).sum(axis=(1, 2))
            cost = np.where(count > 0, np.nansum(z, axis=(1, 2)) / np.maximum(count, 1), np.inf)
        best = int(np.argmin(cost))
        if not np.isfinite(cost[best]) or cost[best] > LOST:
            self._phase = None
            return None
        return float(candidates[best])

    def show(self, state: CoachState, pose: Pose | None) -> CoachState:
        """The Coach's state with the screen given to the reference: the score as the title and the
        bar, the joint furthest off as the message. Hints (nobody in view) keep the screen."""
        ref = self.update(state.time, pose)
        if ref is None or state.kind == "hint":
            return state
        return replace(state, title=f"Score {ref.score:.0f}", confidence=ref.score / 100.0, message=ref.message,
                       kind="reference", hold=0.0)
