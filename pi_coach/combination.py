"""Combination files: the sequence of moves an instructor sets, as TOML data, validated.

A combination is danced in order: ``plié, plié, relevé, tendu, tendu, passé, arabesque``. The
file is data only (read with ``tomllib``), carries ``schema = 1``, and every problem is reported
as ``file:line: reason``; a step's move must be a move the box knows (a rule file or a model
label). See ``rules/README.md`` (Combinations) for the author's guide.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .moves import BALLET_MOVES, NONE
from .rulebook import KeyLines

SCHEMA_VERSION = 1
MAX_FILE_BYTES = 64 * 1024
TOP_KEYS = {"schema", "title", "description", "version", "tempo", "moves", "step", "rest"}
STEP_KEYS = {"move", "counts"}


class CombinationError(ValueError):
    """A combination file problem, with the file and (where known) the line it is on."""

    def __init__(self, path: Path | str, line: int | None, reason: str):
        self.path, self.line, self.reason = Path(path), line, reason
        super().__init__(f"{self.path}:{line}: {reason}" if line else f"{self.path}: {reason}")


@dataclass(frozen=True)
class Step:
    """One expected move of a combination; ``counts`` (musical counts) only when the file gives them."""

    move: str
    counts: float | None = None

    def seconds(self, tempo: float | None) -> float | None:
        """How long the step should last at ``tempo`` counts a minute, when both are known."""
        return self.counts * 60.0 / tempo if self.counts is not None and tempo else None


@dataclass(frozen=True)
class Combination:
    """The validated content of one combination file."""

    title: str
    steps: tuple[Step, ...]
    tempo: float | None = None  # counts a minute
    rest: tuple[str, ...] = ()  # positions passed through between steps: never counted as extra
    version: str = ""
    description: str = ""
    path: Path | None = None

    @property
    def moves(self) -> tuple[str, ...]:
        return tuple(s.move for s in self.steps)


def load_combination(path: str | Path, known: set[str] | frozenset[str] | tuple[str, ...] = BALLET_MOVES) -> Combination:
    """Read and validate a combination file; ``known`` are the move ids it may use. Raises
    CombinationError naming the file, the line and the reason."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CombinationError(path, None, f"file is {size // 1024} KB; a combination file may be at most "
                                               f"{MAX_FILE_BYTES // 1024} KB")
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise CombinationError(path, None, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CombinationError(path, None, "not UTF-8 text (is this a binary file?)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "invalid TOML"
        at = int(line.group(1)) if line else (len(text.splitlines()) or 1) if "end of document" in str(exc) else None
        raise CombinationError(path, at, f"TOML syntax error: {reason}") from None
    return _validate(data, path, text, set(known) - {NONE})


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate(data: dict, path: Path, text: str, known: set[str]) -> Combination:
    lines = KeyLines(text)

    def fail(reason, key=None, table="", index=0, line=None):
        raise CombinationError(path, line or lines.find(key, table, index), reason)

    def move_line(move) -> int | None:
        """The line of a move named in the ``moves`` or ``rest`` array (first occurrence)."""
        for num, line in enumerate(text.splitlines(), 1):
            if f'"{move}"' in line or f"'{move}'" in line:
                return num
        return None

    def check_move(move, where, **at):
        if not isinstance(move, str) or not move:
            fail(f"{where} must be a move id string such as \"passe\", got {move!r}", **at)
        if move not in known:
            fail(f"unknown move {move!r} in {where} (known: {', '.join(sorted(known))})", **at)

    for key in data:
        if key not in TOP_KEYS:
            fail(f"unknown key {key!r} (allowed: {', '.join(sorted(TOP_KEYS))})", key)
    if "schema" not in data:
        fail(f"missing 'schema = {SCHEMA_VERSION}' (the combination file format version)", line=1)
    if data["schema"] != SCHEMA_VERSION:
        fail(f"unsupported schema version {data['schema']!r} (this pi-coach reads schema {SCHEMA_VERSION})", "schema")
    for key in ("title", "description", "version"):
        if key in data and not isinstance(data[key], str):
            fail(f"{key!r} must be a string", key)
    tempo = data.get("tempo")
    if tempo is not None and (not _number(tempo) or not 10 <= tempo <= 300):
        fail(f"tempo must be counts a minute, from 10 to 300, got {tempo!r}", "tempo")
    if ("moves" in data) == ("step" in data):
        fail("give the moves either as moves = [\"demi_plie\", ...] or as [[step]] tables (exactly one of them)",
             "moves" if "moves" in data else None, line=None if "moves" in data else 1)
    steps: list[Step] = []
    if "moves" in data:
        raw = data["moves"]
        if not isinstance(raw, list) or not raw:
            fail("moves must be a non-empty list of move ids", "moves")
        for m in raw:
            check_move(m, "moves", line=move_line(m) or lines.find("moves"))
            steps.append(Step(m))
    else:
        raw = data["step"]
        if not isinstance(raw, list) or not raw:
            fail("step must be [[step]] tables, each with a move", "step")
        for i, st in enumerate(raw):
            if not isinstance(st, dict):
                fail("each [[step]] entry must be a table", None, "step", i)
            for key in st:
                if key not in STEP_KEYS:
                    fail(f"unknown key {key!r} in [[step]] (allowed: {', '.join(sorted(STEP_KEYS))})", key, "step", i)
            if "move" not in st:
                fail("a [[step]] needs a move", None, "step", i)
            check_move(st["move"], "[[step]] move", key="move", table="step", index=i)
            counts = st.get("counts")
            if counts is not None and (not _number(counts) or not 0 < counts <= 64):
                fail(f"counts must be a number of counts from 0 to 64, got {counts!r}", "counts", "step", i)
            steps.append(Step(st["move"], None if counts is None else float(counts)))
    if any(s.counts is not None for s in steps) and tempo is None:
        fail("steps give counts but the file has no tempo (counts a minute) to time them by", "step", "step", 0)
    rest = data.get("rest", [])
    if not isinstance(rest, list):
        fail("rest must be a list of move ids", "rest")
    for m in rest:
        check_move(m, "rest", line=lines.find("rest"))
        if any(s.move == m for s in steps):
            fail(f"{m!r} is a step of this combination, so it cannot also be a rest position", "rest")
    title = data.get("title") or ", ".join(m.replace("_", " ") for m in (s.move for s in steps))
    return Combination(title, tuple(steps), None if tempo is None else float(tempo), tuple(rest),
                       data.get("version", ""), data.get("description", ""), path)
