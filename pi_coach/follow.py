"""Following a combination: the recognised move segments aligned with the steps an instructor set.

The alignment is an edit distance with adjacent swaps (optimal string alignment): every step is
matched, missing, swapped with its neighbour or danced as the wrong move, and every other
segment is an extra. A step that is missing here and danced as an extra elsewhere is reported
once, as out of order (``moved``). Live, the segments so far are aligned with the best prefix
of the steps, which says what comes next; at the end the whole combination is scored.

Scoring (0-100): each step earns 1 point when matched (0.75 when counts and tempo are given and
it lasted under 2/3 or over 3/2 of its time), 0.5 when danced out of order, 0 when missing or
danced as another move; each extra move costs 0.5; the score is the points over the number of
steps, never below 0. Positions listed as ``rest`` are passed through freely.
"""

from __future__ import annotations

from dataclasses import dataclass

from .combination import Combination
from .segmenter import MoveSegment

POINTS = {"matched": 1.0, "swapped": 0.5, "moved": 0.5, "wrong": 0.0, "missing": 0.0}
EXTRA_PENALTY = 0.5
OFF_TIME_POINTS = 0.75
TIME_TOLERANCE = (2 / 3, 3 / 2)  # a step lasting within these shares of its counts is in time
SCORING = ("each step: 1 point matched (0.75 if off its counts by more than 2/3-3/2), 0.5 out of order, "
           "0 missing or the wrong move; each extra move -0.5; score = points / steps x 100")


@dataclass(frozen=True)
class Op:
    """One piece of an alignment: ``kind`` is matched, missing, extra, swapped, wrong or moved;
    ``step`` indexes the combination's steps and ``segment`` the danced moves (None where absent)."""

    kind: str
    step: int | None
    segment: int | None


def align(expected: list[str] | tuple[str, ...], danced: list[str] | tuple[str, ...], prefix: bool = False) -> list[Op]:
    """Align danced moves with the expected steps at the least cost (each missing, extra, wrong
    move or adjacent swap costs 1). ``prefix``: align with the best first part of the steps only
    (live, when the rest is still to come); ties go to the reading whose last move matched."""
    n, m = len(danced), len(expected)
    big = n + m + 1
    d = [[big] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 or j == 0:
                d[i][j] = i + j
                continue
            same = danced[i - 1] == expected[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (0 if same else 1))
            if i > 1 and j > 1 and not same and danced[i - 1] == expected[j - 2] and danced[i - 2] == expected[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    j = m
    if prefix:
        best = min(d[n])

        def ends_well(k):  # the newest move matched its step, or completed a swap
            if d[n][k] != best or not n:
                return False
            if danced[n - 1] == expected[k - 1]:
                return d[n - 1][k - 1] == best
            return (n > 1 and k > 1 and danced[n - 1] == expected[k - 2] and danced[n - 2] == expected[k - 1]
                    and d[n - 2][k - 2] + 1 == best)

        good = [k for k in range(1, m + 1) if ends_well(k)]
        j = good[-1] if good else d[n].index(best)
    ops: list[Op] = []
    i = n
    while i > 0 or j > 0:  # back from (n, j), preferring match, swap, wrong move, missing, extra
        if i and j and danced[i - 1] == expected[j - 1] and d[i][j] == d[i - 1][j - 1]:
            ops.append(Op("matched", j - 1, i - 1))
            i, j = i - 1, j - 1
        elif (i > 1 and j > 1 and danced[i - 1] == expected[j - 2] and danced[i - 2] == expected[j - 1]
              and danced[i - 1] != expected[j - 1] and d[i][j] == d[i - 2][j - 2] + 1):
            ops += [Op("swapped", j - 1, i - 2), Op("swapped", j - 2, i - 1)]
            i, j = i - 2, j - 2
        elif i and j and d[i][j] == d[i - 1][j - 1] + 1:
            ops.append(Op("wrong", j - 1, i - 1))
            i, j = i - 1, j - 1
        elif j and d[i][j] == d[i][j - 1] + 1:
            ops.append(Op("missing", j - 1, None))
            j -= 1
        else:
            ops.append(Op("extra", None, i - 1))
            i -= 1
    ops.reverse()
    return _moved(ops, expected, danced)


def _moved(ops: list[Op], expected, danced) -> list[Op]:
    """A missing step danced as an extra elsewhere becomes one out-of-order (``moved``) step."""
    extras = [o for o in ops if o.kind == "extra"]
    out = []
    for o in ops:
        if o.kind == "missing":
            twin = next((e for e in extras if danced[e.segment] == expected[o.step]), None)
            if twin is not None:
                extras.remove(twin)
                o = Op("moved", o.step, twin.segment)
        out.append(o)
    paired = {o.segment for o in out if o.kind == "moved"}
    return [o for o in out if not (o.kind == "extra" and o.segment in paired)]


def next_step(ops: list[Op]) -> int:
    """The index of the next expected step after a prefix alignment."""
    return max((o.step for o in ops if o.step is not None), default=-1) + 1


@dataclass(frozen=True)
class StepResult:
    """How one step went: its status (matched, missing, swapped, moved, wrong), the points it
    earned, the segment danced for it and a note (what was danced instead, the timing)."""

    index: int
    move: str
    status: str
    points: float
    segment: MoveSegment | None = None
    note: str = ""

    def to_json(self) -> dict:
        return {"step": self.index + 1, "move": self.move, "status": self.status, "points": self.points,
                "segment": self.segment.to_json() if self.segment else None, "note": self.note}


@dataclass(frozen=True)
class ComboResult:
    """The combination scored: 0-100, each step's result, the extra moves and the rest positions."""

    title: str
    score: int
    steps: tuple[StepResult, ...]
    extras: tuple[MoveSegment, ...]
    rests: tuple[MoveSegment, ...] = ()

    @property
    def flags(self) -> list[tuple[str, str]]:
        """(kind, move) of every step not matched and every extra move: what was flagged."""
        out = [(s.status, s.move) for s in self.steps if s.status != "matched"]
        return out + [("extra", e.move) for e in self.extras]

    def to_json(self) -> dict:
        return {"combination": self.title, "score": self.score, "scoring": SCORING,
                "steps": [s.to_json() for s in self.steps], "extras": [e.to_json() for e in self.extras],
                "rests": len(self.rests), "flags": [{"kind": k, "move": m} for k, m in self.flags]}

    def describe(self, title_of=lambda m: m) -> list[str]:
        """Text lines: the score, then each step and each extra move."""
        lines = [f"combination {self.title}: score {self.score}/100"]
        marks = {"matched": "✓", "missing": "✗", "swapped": "↔", "moved": "↔", "wrong": "✗"}
        for s in self.steps:
            where = f" at {s.segment.start:.2f}-{s.segment.end:.2f} s" if s.segment else ""
            note = f" ({s.note})" if s.note else ""
            lines.append(f"  {marks[s.status]} {s.index + 1}. {title_of(s.move)}: {s.status}{where}{note}  +{s.points:g}")
        for e in self.extras:
            lines.append(f"  + extra {title_of(e.move)} at {e.start:.2f}-{e.end:.2f} s  -{EXTRA_PENALTY:g}")
        lines.append(f"  scoring: {SCORING}")
        return lines


def score(combination: Combination, segments: list[MoveSegment]) -> ComboResult:
    """Align the whole list of recognised segments with the combination and score it."""
    rests = tuple(s for s in segments if s.move in combination.rest)
    danced = [s for s in segments if s.move not in combination.rest]
    ops = align(combination.moves, [s.move for s in danced])
    steps = []
    for o in ops:
        if o.step is None:
            continue
        step = combination.steps[o.step]
        seg = danced[o.segment] if o.segment is not None else None
        points, note = POINTS[o.kind], ""
        if o.kind == "wrong":
            note = f"danced {seg.move} instead"
        elif o.kind in ("swapped", "moved"):
            note = "danced out of order"
        want = step.seconds(combination.tempo)
        if o.kind == "matched" and want and seg is not None:
            share = seg.duration / want
            if not TIME_TOLERANCE[0] <= share <= TIME_TOLERANCE[1]:
                points = OFF_TIME_POINTS
                note = f"{seg.duration:.1f} s for {step.counts:g} counts ({want:.1f} s): too {'short' if share < 1 else 'long'}"
        steps.append(StepResult(o.step, step.move, "matched" if o.kind == "matched" else o.kind, points, seg, note))
    steps.sort(key=lambda s: s.index)
    extras = tuple(danced[o.segment] for o in ops if o.kind == "extra")
    n = len(combination.steps)
    total = max(0.0, sum(s.points for s in steps) - EXTRA_PENALTY * len(extras))
    return ComboResult(combination.title, round(100 * total / n) if n else 0, tuple(steps), extras, rests)


@dataclass(frozen=True)
class FollowState:
    """What the box shows live: the next expected move (None once every step is through), the
    step number, and the newest flag ("Missed: Relevé") with its kind."""

    next_move: str | None
    step: int
    total: int
    flag: str = ""
    flag_kind: str = ""  # missing, extra, swapped, moved, wrong, matched or ""
    done: bool = False


class Follower:
    """Follows one combination live from segment events; after the last step it scores the
    attempt (``result``) and starts afresh for the next one."""

    def __init__(self, combination: Combination, title_of=lambda m: m.replace("_", " ").capitalize()):
        self.combination, self.title_of = combination, title_of
        self.segments: list[MoveSegment] = []  # this attempt's, rest positions included
        self._flags: set[tuple[str, int | None, int | None]] = set()
        self.state = FollowState(combination.moves[0], 0, len(combination.steps))

    def _danced(self) -> list[MoveSegment]:
        return [s for s in self.segments if s.move not in self.combination.rest]

    def started(self, seg: MoveSegment) -> FollowState:
        """A segment started: align what has been danced with the steps and say what is next."""
        self.segments.append(seg)
        if seg.move in self.combination.rest:
            return self.state
        danced = self._danced()
        ops = align(self.combination.moves, [s.move for s in danced], prefix=True)
        new = [o for o in ops if o.kind != "matched" and (o.kind, o.step, o.segment) not in self._flags]
        self._flags = {(o.kind, o.step, o.segment) for o in ops if o.kind != "matched"}
        expected = self.combination.moves
        words = []
        for o in new:
            name = self.title_of(expected[o.step]) if o.step is not None else self.title_of(danced[o.segment].move)
            words.append({"missing": f"Missed: {name}", "extra": f"Extra: {name}", "swapped": f"Out of order: {name}",
                          "moved": f"Out of order: {name}",
                          "wrong": f"{name} expected"}[o.kind])
        last = ops[-1] if ops else None
        kind = new[-1].kind if new else ("matched" if last and last.kind == "matched" else "")
        k = next_step(ops)
        self.state = FollowState(expected[k] if k < len(expected) else None, k, len(expected),
                                 "; ".join(dict.fromkeys(words)), kind)
        return self.state

    def ended(self, seg: MoveSegment) -> FollowState:
        """A segment ended (its final start, end and hold); after the last step the attempt is done."""
        for i in range(len(self.segments) - 1, -1, -1):
            if self.segments[i].move == seg.move and self.segments[i].start_frame == seg.start_frame:
                self.segments[i] = seg
                break
        if self.state.next_move is None and seg.move not in self.combination.rest:
            self.state = FollowState(None, self.state.step, self.state.total, self.state.flag, self.state.flag_kind,
                                     done=True)
        return self.state

    def result(self) -> ComboResult | None:
        """Score this attempt (None when nothing was danced yet) and start a new one."""
        if not self._danced():
            return None
        out = score(self.combination, self.segments)
        self.segments, self._flags = [], set()
        self.state = FollowState(self.combination.moves[0], 0, len(self.combination.steps))
        return out


def follow_clip(combination: Combination, frames, settings=None) -> tuple[list[MoveSegment], ComboResult]:
    """Offline: segment a whole clip's (frame, time, scores) and score it against the combination."""
    from .segmenter import SegmenterSettings, segment_scores

    segments = segment_scores(frames, settings or SegmenterSettings())
    return segments, score(combination, segments)


class LiveCombination:
    """The segmenter and the follower together, for ``pi-coach run``: one frame's class scores in;
    the line the OLED shows (the next move, a flag, the score) and the finished attempts out."""

    FLAG_SECONDS = 3.0  # a flag stays on the screen this long
    SCORE_SECONDS = 6.0  # and the score of a finished attempt this long

    def __init__(self, combination: Combination, settings=None, title_of=lambda m: m.replace("_", " ").capitalize()):
        from .segmenter import Segmenter, SegmenterSettings

        self.combination, self.title_of = combination, title_of
        self.segmenter = Segmenter(settings or SegmenterSettings())
        self.follower = Follower(combination, title_of)
        self._shown, self._until = "", -1.0
        self._time = 0.0

    def update(self, frame: int, time: float, scores: dict[str, float]) -> list[ComboResult]:
        self._time = time
        done = []
        for seg in self.segmenter.update(frame, time, scores):
            st = self.follower.started(seg) if seg.open else self.follower.ended(seg)
            if seg.open and st.flag:
                self._shown, self._until = st.flag, time + self.FLAG_SECONDS
            if st.done:
                result = self.follower.result()
                if result is not None:
                    done.append(result)
                    self._shown, self._until = f"Score {result.score}/100", time + self.SCORE_SECONDS
        return done

    @property
    def line(self) -> str:
        """``Next: Relevé 3/7``, or a flag (``Missed: Relevé``) or the score while it is fresh."""
        if self._time < self._until:
            return self._shown
        st = self.follower.state
        return f"Next: {self.title_of(st.next_move)} {st.step + 1}/{st.total}" if st.next_move else "Last step"

    def finish(self) -> ComboResult | None:
        """The end of the session: close the move in progress and score the unfinished attempt."""
        for seg in self.segmenter.finish():
            self.follower.ended(seg)
        return self.follower.result()
