"""Streaming segmentation of recognised moves: per-frame class scores in, move segments out.

The published sequence work appends a move whenever its confidence passes 0.8. Raw per-frame
scores flicker round any threshold (one move becomes three) and pass through other moves in a
transition, so here the scores are smoothed first, a move starts only after its smoothed score
has stayed above the threshold for ``min_frames`` frames, and it ends only after ``gap_frames``
frames below a lower ``release`` level (hysteresis). The smoothed scores decide which segments
there are; their start and end are dated by the raw scores (the first and last frame the move's
own score reached the threshold), since smoothing delays both edges.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .moves import NONE


@dataclass(frozen=True)
class SegmenterSettings:
    """How sure, and for how long, before a move is a segment; the ``[combination]`` config keys."""

    threshold: float = 0.8  # a move starts when its smoothed score passes this (the published 0.8) ...
    release: float = 0.5  # ... and ends when it stays below this
    smoothing: float = 0.4  # weight of the newest frame in the running average (1 = none)
    min_frames: int = 5  # frames above the threshold before a move counts (shorter blips are not moves)
    gap_frames: int = 3  # frames below release before a move ends (a dip shorter than this does not split it)
    latency_frames: int = 3  # the move model's delay (its window of 8 poses): boundaries are dated back this far


@dataclass(frozen=True)
class MoveSegment:
    """One recognised move: frames ``start_frame``..``end_frame`` (inclusive), times in seconds,
    its peak smoothed confidence and its hold (the longest run of frames above the threshold)."""

    move: str
    start_frame: int
    end_frame: int
    start: float
    end: float
    peak: float
    hold: float
    open: bool = False  # still being danced

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict:
        return {"move": self.move, "start_frame": self.start_frame, "end_frame": self.end_frame,
                "start": round(self.start, 3), "end": round(self.end, 3), "peak_confidence": round(self.peak, 3),
                "hold": round(self.hold, 3)}


class Segmenter:
    """Feed ``update(frame, time, scores)`` once a frame; it returns the segments that ended and
    the one that started on that frame. ``finish`` closes the move in progress."""

    def __init__(self, settings: SegmenterSettings = SegmenterSettings()):
        self.settings = settings
        self.segments: list[MoveSegment] = []  # the closed ones, in order
        self.current: MoveSegment | None = None
        self._smoothed: dict[str, float] = {}
        self._top, self._top_since = NONE, 0  # the leading move and the frame it took the lead
        self._streak = 0  # frames the leading move has been above the threshold
        self._times: dict[int, float] = {}  # frame -> time, for the frames a segment may be dated back to
        self._last_good = 0  # the last frame the current move was above release
        self._raw_above: dict[int, set[str]] = {}  # frame -> moves whose raw score reached the threshold
        self._last_raw = 0  # the last frame the current move's raw score reached the threshold
        self._below = 0
        self._hold_from: int | None = None
        self._last_frame = -1

    def update(self, frame: int, time: float, scores: dict[str, float]) -> list[MoveSegment]:
        s = self.settings
        a = s.smoothing if self._smoothed else 1.0
        for label in set(self._smoothed) | set(scores):
            self._smoothed[label] = a * scores.get(label, 0.0) + (1 - a) * self._smoothed.get(label, 0.0)
        self._times[frame] = time
        self._raw_above[frame] = {m for m, v in scores.items() if v >= s.threshold}
        self._last_frame = frame
        top = max(self._smoothed, key=self._smoothed.get) if self._smoothed else NONE
        if top != self._top:
            self._top, self._top_since, self._streak = top, frame, 0
        self._streak = self._streak + 1 if self._smoothed.get(top, 0.0) >= s.threshold else 0
        out: list[MoveSegment] = []
        cur = self.current
        if cur is not None:
            score = self._smoothed.get(cur.move, 0.0)
            if cur.move in self._raw_above[frame]:
                self._last_raw = frame
            if score >= s.release:
                self._last_good, self._below = frame, 0
                cur = replace(cur, end_frame=frame, end=time, peak=max(cur.peak, score))
            else:
                self._below += 1
            if score >= s.threshold:
                self._hold_from = frame if self._hold_from is None else self._hold_from
                cur = replace(cur, hold=max(cur.hold, time - self._times[self._hold_from]))
            else:
                self._hold_from = None
            self.current = cur
            other_confirmed = top not in (NONE, cur.move) and self._streak >= s.min_frames
            if other_confirmed or self._below >= s.gap_frames:
                end = min(self._last_raw, self._top_since - 1) if other_confirmed else self._last_raw
                end = max(end, cur.start_frame)
                out.append(self._close(end))
        if self.current is None and top != NONE and self._streak >= s.min_frames:
            out.append(self._open(top, frame))
        self._forget()
        return out

    def finish(self) -> list[MoveSegment]:
        """Close the move in progress (the end of the clip or session)."""
        return [self._close(self._last_raw)] if self.current is not None else []

    def _open(self, move: str, frame: int) -> MoveSegment:
        """The move confirmed on ``frame`` started when it took the lead (after the last segment)."""
        earliest = self._top_since
        if self.segments:
            earliest = max(earliest, self.segments[-1].end_frame + 1)
        start = next((f for f in range(earliest, frame + 1) if move in self._raw_above.get(f, ())), earliest)
        floor = self.segments[-1].end_frame + 1 if self.segments else min(self._times)
        start = self._back(start, floor)
        score = self._smoothed[move]
        first_above = frame - self._streak + 1
        self._hold_from = first_above
        self.current = MoveSegment(move, start, frame, self._times[start], self._times[frame], score,
                                   self._times[frame] - self._times[first_above], open=True)
        self._last_good, self._last_raw, self._below = frame, frame, 0
        return self.current

    def _close(self, end: int) -> MoveSegment:
        cur = self.current
        end = self._back(end, cur.start_frame)
        seg = replace(cur, end_frame=end, end=self._times.get(end, cur.end), open=False)
        self.segments.append(seg)
        self.current, self._hold_from = None, None
        return seg

    def _back(self, frame: int, floor: int) -> int:
        """The frame ``latency_frames`` frames before ``frame`` (frames seen, not before ``floor``)."""
        seen = [f for f in self._times if floor <= f <= frame] or [frame]
        return seen[max(0, len(seen) - 1 - self.settings.latency_frames)]

    def _forget(self) -> None:
        """Keep only the frame times a segment can still be dated back to (bounded memory)."""
        keep = min([self._top_since - self.settings.latency_frames, self._last_frame - self.settings.min_frames - 1]
                   + ([self.current.start_frame] if self.current else []))
        if len(self._times) - (self._last_frame - keep) > 256:  # rebuilt once 256 frames can go
            self._times = {f: t for f, t in self._times.items() if f >= keep}
            self._raw_above = {f: m for f, m in self._raw_above.items() if f >= keep}


def segment_scores(frames, settings: SegmenterSettings = SegmenterSettings()) -> list[MoveSegment]:
    """Segment a whole clip: ``frames`` is an iterable of (frame, time, scores)."""
    seg = Segmenter(settings)
    for frame, time, scores in frames:
        seg.update(frame, time, scores)
    seg.finish()
    return seg.segments
