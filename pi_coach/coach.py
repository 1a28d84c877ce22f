"""The Coach: what to say, frame after frame, so the screen is calm and right.

Per-frame move scores are smoothed, a move is announced only when its smoothed score passes the
threshold (0.8, as in the published sequence work) for a few frames in a row and dropped only
when it falls below a lower one (hysteresis). A correction must persist before it is shown; one is
shown at a time, most severe first, and it stays until it is fixed. A move held correctly long
enough earns a "well done". Nobody in the frame, or no feet, gets its own hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .moves import NONE
from .pose import Landmark, Pose
from .rulebook import CheckResult, Rulebook, Verdict, evaluate

FEET = (Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE, Landmark.LEFT_HEEL, Landmark.RIGHT_HEEL)
STEP_IN = "Step into the frame"
NO_FEET = "Can't see your feet: step back"


@dataclass(frozen=True)
class CoachSettings:
    """The ``[coach]`` section of the config."""

    move_threshold: float = 0.8
    move_release: float = 0.6
    move_frames: int = 5
    smoothing: float = 0.4
    correction_seconds: float = 0.8
    hold_seconds: float = 3.0
    missing_seconds: float = 1.0


@dataclass(frozen=True)
class Event:
    """Something that happened, for the buzzer and the session log.

    kinds: ``move_start``, ``move_end`` (with duration and confidences), ``correction`` (a new one
    is shown), ``well_done``, ``hint`` (step into the frame / feet unseen)."""

    kind: str
    time: float
    move: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CoachState:
    """What the feedback shows now: the move, its smoothed confidence, one message and the hold."""

    time: float
    move: str  # NONE when no move is announced
    title: str
    confidence: float
    message: str = ""
    kind: str = ""  # "correction", "well_done", "hint" or ""
    severity: str = ""
    hold: float = 0.0  # seconds the move has been held correctly
    hold_target: float = 0.0
    verdict: Verdict | None = None
    events: tuple[Event, ...] = ()


class Coach:
    """Turns per-frame poses and move scores into CoachStates; ``rulebook`` may be swapped live."""

    def __init__(self, rulebook: Rulebook, settings: CoachSettings = CoachSettings()):
        self.rulebook, self.settings = rulebook, settings
        self._scores: dict[str, float] = {}
        self._streak: tuple[str, int] = (NONE, 0)
        self.move = NONE
        self._move_since = 0.0
        self._confidences: list[float] = []
        self._failing_since: dict[str, float] = {}  # check id -> when it started failing
        self._shown: CheckResult | None = None
        self._correct_since: float | None = None
        self._praised = False
        self._absent_since: float | None = None
        self._feetless_since: float | None = None
        self._hint = ""

    def update(self, time: float, pose: Pose | None, scores: dict[str, float]) -> CoachState:
        """One frame: its time in seconds, the pose (None when nobody was found) and the move
        scores (the classifier's, or the rule match's)."""
        events: list[Event] = []
        self._smooth(scores if pose is not None else {NONE: 1.0})
        self._track_move(time, events)
        hint = self._missing(time, pose, events)
        verdict = None
        if self.move != NONE and pose is not None and self.move in self.rulebook:
            verdict = evaluate(self.rulebook[self.move], pose)
            self._track_corrections(time, verdict, events)
        elif self.move == NONE:
            self._reset_corrections()
        title = self.rulebook[self.move].title if self.move in self.rulebook else self.move.replace("_", " ").capitalize()
        hold = time - self._correct_since if self._correct_since is not None else 0.0
        state = CoachState(time, self.move, title if self.move != NONE else "", self._scores.get(self.move, 0.0),
                           hold=hold, hold_target=self.settings.hold_seconds, verdict=verdict, events=tuple(events))
        if hint:
            return replace(state, message=hint, kind="hint")
        if self._shown is not None:
            return replace(state, message=self._shown.message or "", kind="correction", severity=self._shown.severity)
        if self._praised:
            return replace(state, message=f"Well done! {title} held", kind="well_done")
        return state

    def finish(self, time: float) -> list[Event]:
        """Events that close the session (the move in progress ends)."""
        events: list[Event] = []
        if self.move != NONE:
            self._end_move(time, events)
        return events

    def _smooth(self, scores: dict[str, float]) -> None:
        a = self.settings.smoothing
        for label in set(self._scores) | set(scores):
            self._scores[label] = a * scores.get(label, 0.0) + (1 - a) * self._scores.get(label, 0.0)

    def _track_move(self, time: float, events: list[Event]) -> None:
        s = self.settings
        best = max(self._scores, key=self._scores.get) if self._scores else NONE
        streak = self._streak[1] + 1 if self._streak[0] == best else 1
        self._streak = (best, streak)
        if self.move != NONE and self._scores.get(self.move, 0.0) < s.move_release:
            self._end_move(time, events)
        if (best not in (NONE, self.move) and self._scores[best] >= s.move_threshold and streak >= s.move_frames):
            if self.move != NONE:
                self._end_move(time, events)
            self.move, self._move_since, self._confidences = best, time, []
            events.append(Event("move_start", time, best, {"confidence": round(self._scores[best], 3)}))
        if self.move != NONE:
            self._confidences.append(self._scores.get(self.move, 0.0))

    def _end_move(self, time: float, events: list[Event]) -> None:
        c = self._confidences or [0.0]
        events.append(Event("move_end", time, self.move, {
            "start": self._move_since, "duration": round(time - self._move_since, 3),
            "peak_confidence": round(float(max(c)), 3), "mean_confidence": round(float(np.mean(c)), 3),
            "held": round(time - self._correct_since, 3) if self._correct_since is not None else 0.0}))
        self.move = NONE
        self._reset_corrections()

    def _reset_corrections(self) -> None:
        self._failing_since.clear()
        self._shown, self._correct_since, self._praised = None, None, False

    def _track_corrections(self, time: float, verdict: Verdict, events: list[Event]) -> None:
        failing = {r.check: r for r in verdict.corrections}
        self._failing_since = {c: self._failing_since.get(c, time) for c in failing}
        persistent = [r for r in verdict.corrections if time - self._failing_since[r.check] >= self.settings.correction_seconds]
        if self._shown is not None and self._shown.check in failing:
            self._shown = failing[self._shown.check]  # keep showing it, with the newest value
        elif persistent:
            self._shown = persistent[0]
            events.append(Event("correction", time, self.move, {
                "check": self._shown.check, "message": self._shown.message, "severity": self._shown.severity,
                "value": self._shown.value, "band": list(self._shown.band)}))
        else:
            self._shown = None
        if failing:
            self._correct_since, self._praised = None, False
        elif self._correct_since is None:
            self._correct_since = time
        elif not self._praised and time - self._correct_since >= self.settings.hold_seconds:
            self._praised = True
            events.append(Event("well_done", time, self.move, {"held": round(time - self._correct_since, 3)}))

    def _missing(self, time: float, pose: Pose | None, events: list[Event]) -> str:
        """"Step into the frame" or "can't see your feet" once the problem has lasted a while."""
        wait = self.settings.missing_seconds
        self._absent_since = (time if self._absent_since is None else self._absent_since) if pose is None else None
        feet_seen = pose is not None and all(np.nan_to_num(pose.landmarks[int(p), 3]) >= 0.5 for p in FEET)
        feetless = pose is not None and not feet_seen
        self._feetless_since = (time if self._feetless_since is None else self._feetless_since) if feetless else None
        hint = ""
        if self._absent_since is not None and time - self._absent_since >= wait:
            hint = STEP_IN
        elif self._feetless_since is not None and time - self._feetless_since >= wait:
            hint = NO_FEET
        if hint and hint != self._hint:
            events.append(Event("hint", time, self.move, {"message": hint}))
        self._hint = hint
        return hint
