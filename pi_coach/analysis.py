"""From Poses to what to say: pick the move (given, or the best rule-based match), apply its rules,
and for a video group frames into segments with the corrections that persist in each.

The move comes from ``--move``, else from the shipped classifier, else from the rule files'
``[[match]]`` signatures; the JSON says which (``move_from``), so no guess passes for another's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .classify import MoveGuess
from .moves import NONE
from .pose import Pose
from .rulebook import SEVERITIES, CheckResult, Rulebook, Verdict, evaluate

MATCH_THRESHOLD = 0.8  # a rule-based match below this is reported as "none"
SMOOTH_SECONDS = 0.4  # majority vote window for the move in a video
MIN_SEGMENT_SECONDS = 0.3  # shorter runs are merged into the run before them
PERSISTENT = 0.5  # a correction is reported for a segment when it fails in this share of its frames


@dataclass(frozen=True)
class Analysis:
    """What pi-coach makes of one pose (or of a frame where nobody was found)."""

    name: str
    index: int
    timestamp: float
    pose: Pose | None
    move: str
    confidence: float
    move_from: str  # "given", "model", "rules" or "nobody"
    alternatives: tuple[tuple[str, float], ...] = ()
    verdict: Verdict | None = None

    def to_json(self) -> dict:
        out = {"source": self.name, "index": self.index, "time": round(self.timestamp, 3),
               "pose_found": self.pose is not None, "move": self.move,
               "confidence": round(self.confidence, 3), "move_from": self.move_from,
               "alternatives": [{"move": m, "confidence": round(s, 3)} for m, s in self.alternatives],
               "side": self.verdict.side if self.verdict else None,
               "view": self.verdict.view if self.verdict else None,
               "corrections": [_correction_json(r) for r in self.verdict.corrections] if self.verdict else [],
               "unmeasured": [r.to_json() for r in self.verdict.unmeasured] if self.verdict else [],
               "checks": [r.to_json() for r in self.verdict.results] if self.verdict else []}
        return out


def _correction_json(r: CheckResult) -> dict:
    out = r.to_json()
    out.pop("status")
    return out


def analyze_pose(pose: Pose | None, rulebook: Rulebook, move: str | None = None, *, guess: MoveGuess | None = None,
                 name: str = "", index: int = 0, timestamp: float = 0.0) -> Analysis:
    """Decide the move for one pose (given, else the classifier's guess, else the best rule
    match) and apply its rules; a move without rules is recognised but not checked."""
    if pose is None:
        return Analysis(name, index, timestamp, None, NONE, 0.0, "nobody")
    if move is not None:
        verdict = evaluate(rulebook[move], pose) if move in rulebook else None
        return Analysis(name, index, timestamp, pose, move, 1.0, "given", (), verdict)
    if guess is not None:
        ranked = sorted(guess.scores.items(), key=lambda kv: -kv[1])
        verdict = evaluate(rulebook[guess.move], pose) if guess.move in rulebook else None
        return Analysis(name, index, timestamp, pose, guess.move, guess.confidence, "model", tuple(ranked[1:4]), verdict)
    ranked = rulebook.best_matches(pose)
    best, score = ranked[0] if ranked else (NONE, 0.0)
    alternatives = tuple(ranked[1:4])
    if score < MATCH_THRESHOLD:
        return Analysis(name, index, timestamp, pose, NONE, score, "rules", tuple(ranked[:3]))
    return Analysis(name, index, timestamp, pose, best, score, "rules", alternatives, evaluate(rulebook[best], pose))


@dataclass(frozen=True)
class Segment:
    """A run of video frames showing one move, with the corrections that persist through it."""

    move: str
    start: int
    end: int  # inclusive
    start_time: float
    end_time: float
    confidence: float
    corrections: tuple[dict, ...]

    def to_json(self) -> dict:
        return {"move": self.move, "start_frame": self.start, "end_frame": self.end,
                "start_time": round(self.start_time, 3), "end_time": round(self.end_time, 3),
                "confidence": round(self.confidence, 3), "corrections": list(self.corrections)}


def smooth_moves(moves: list[str], window: int) -> list[str]:
    """Majority vote of the move over a centred window, so one odd frame does not split a segment."""
    half = window // 2
    out = []
    for i in range(len(moves)):
        votes = Counter(moves[max(0, i - half): i + half + 1])
        out.append(max(votes.items(), key=lambda kv: (kv[1], kv[0] == moves[i]))[0])
    return out


def segment(analyses: list[Analysis], rulebook: Rulebook, move: str | None = None,
            rate: float = 30.0) -> list[Segment]:
    """Group per-frame analyses (``rate`` of them a second) into move segments and summarise
    each segment's corrections.

    With a given move every frame is that move (frames without a dancer aside). Otherwise the
    rule-based move is smoothed, short runs are merged into the run before them, and each
    segment's frames are re-checked against the segment's move.
    """
    if not analyses:
        return []
    moves = [a.move if a.pose is not None else NONE for a in analyses]
    if move is None:
        moves = smooth_moves(moves, max(1, round(SMOOTH_SECONDS * rate)))
    min_frames = max(1, round(MIN_SEGMENT_SECONDS * rate))
    runs: list[list[int]] = []  # [start, end] of each run of one move
    labels: list[str] = []  # the move of each run
    for i, m in enumerate(moves):
        if runs and labels[-1] == m:
            runs[-1][1] = i
        else:
            labels.append(m)
            runs.append([i, i])
    merged_labels, merged = [], []
    for m, run in zip(labels, runs):
        short = run[1] - run[0] + 1 < min_frames
        if merged and (short or merged_labels[-1] == m):
            merged[-1][1] = run[1]
        else:
            merged_labels.append(m)
            merged.append(run)
    return [_summarise(analyses[s: e + 1], m, rulebook) for m, (s, e) in zip(merged_labels, merged)]


def _summarise(frames: list[Analysis], move: str, rulebook: Rulebook) -> Segment:
    poses = [a.pose for a in frames if a.pose is not None]
    corrections: list[dict] = []
    confidence = 0.0
    if move != NONE and move in rulebook and poses:
        verdicts = [evaluate(rulebook[move], p) for p in poses]
        confidence = float(np.mean([a.confidence for a in frames if a.move == move] or [0.0]))
        for i, check in enumerate(rulebook[move].checks):
            results = [v.results[i] for v in verdicts]
            measured = [r for r in results if r.status != "unmeasured"]
            failed = [r for r in measured if r.status != "ok"]
            if measured and len(failed) / len(measured) >= PERSISTENT:
                worst = Counter(r.status for r in failed).most_common(1)[0][0]
                example = next(r for r in failed if r.status == worst)
                corrections.append({"check": check.id, "message": example.message, "severity": check.severity,
                                    "direction": worst, "unit": example.unit, "band": list(example.band),
                                    "value": round(float(np.median([r.value for r in failed])), 2),
                                    "share": round(len(failed) / len(measured), 2)})
        corrections.sort(key=lambda c: (-SEVERITIES.index(c["severity"]), -c["share"]))
    elif move == NONE:
        confidence = float(np.mean([a.confidence for a in frames]))
    first, last = frames[0], frames[-1]
    return Segment(move, first.index, last.index, first.timestamp, last.timestamp, confidence, tuple(corrections))
