"""Rule files: per-move checks written by instructors as TOML data, validated, then applied to poses.

A rule file covers one move. It is data only (read with ``tomllib``), carries ``schema = 1`` and
is validated before use: every problem is reported as ``file:line: reason``. Loading a directory
keeps every good file and reports every bad one. See ``rules/README.md`` for the author's guide.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import measures
from .moves import is_move_id
from .pose import DEFAULT_VISIBILITY, Pose

SCHEMA_VERSION = 1
MAX_FILE_BYTES = 256 * 1024
SEVERITIES = ("minor", "major", "critical")  # least to most severe
MESSAGE_FIELDS = {"side", "other_side", "value", "low", "high"}
VIEW_WORDS = {"front": "the front", "oblique": "an angle", "side": "the side"}

TOP_KEYS = {"schema", "move", "title", "description", "version", "working_side", "min_visibility", "check", "match"}
CHECK_KEYS = {"id", "measure", "points", "reference", "band", "too_low", "too_high", "severity", "why", "views"}
MATCH_KEYS = {"measure", "points", "reference", "band"}


class RuleError(ValueError):
    """A rule file problem, with the file and (where known) the line it is on."""

    def __init__(self, path: Path | str, line: int | None, reason: str):
        self.path, self.line, self.reason = Path(path), line, reason
        where = f"{self.path}:{line}" if line else f"{self.path}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Condition:
    """A measure and its accepted band: the common part of a check and a match condition."""

    measure: str
    points: tuple[str, ...]
    band: tuple[float, float]
    reference: str = "vertical"

    @property
    def unit(self) -> str:
        return measures.MEASURES[self.measure].unit


@dataclass(frozen=True)
class Check:
    """One technique check: a condition, what to say on each side of the band, and how much it matters."""

    id: str
    condition: Condition
    too_low: str | None
    too_high: str | None
    severity: str = "major"
    why: str = ""
    views: tuple[str, ...] = measures.VIEWS  # camera views the check can be judged from


@dataclass(frozen=True)
class MoveRules:
    """The validated content of one rule file."""

    move: str
    title: str
    checks: tuple[Check, ...]
    match: tuple[Condition, ...] = ()
    working_side: str = "higher_ankle"
    min_visibility: float = DEFAULT_VISIBILITY
    version: str = ""
    description: str = ""
    path: Path | None = None

    @property
    def uses_sides(self) -> bool:
        """True when a check or match condition names a working_ or standing_ point."""
        conds = [c.condition for c in self.checks] + list(self.match)
        return any(p.startswith(("working_", "standing_")) for c in conds for p in c.points)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one pose. ``status`` is ok, low, high or unmeasured."""

    check: str
    status: str
    value: float | None
    band: tuple[float, float]
    unit: str
    severity: str
    message: str | None = None
    missing: tuple[str, ...] = ()
    reason: str = ""  # why an unmeasured check could not be measured

    def to_json(self) -> dict:
        digits = 1 if self.unit == "deg" else 2
        out = {"check": self.check, "status": self.status, "severity": self.severity,
               "value": None if self.value is None else round(self.value, digits),
               "band": list(self.band), "unit": self.unit}
        if self.status in ("low", "high"):
            out["direction"] = self.status
            out["message"] = self.message
        if self.missing:
            out["missing"] = list(self.missing)
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class Verdict:
    """All check results of one move's rules on one pose, with the working side and the camera
    view (front, oblique, side) that were used."""

    move: str
    side: str | None
    results: tuple[CheckResult, ...]
    view: str | None = None

    @property
    def corrections(self) -> list[CheckResult]:
        """Failed checks, most severe first, then furthest out of band."""
        failed = [r for r in self.results if r.status in ("low", "high")]
        return sorted(failed, key=lambda r: (-SEVERITIES.index(r.severity), -_excess(r)))

    @property
    def unmeasured(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "unmeasured"]

    @property
    def ok(self) -> bool:
        return not self.corrections


def _excess(r: CheckResult) -> float:
    """How far out of band, relative to the measure's tolerance (for ordering corrections)."""
    if r.value is None:
        return 0.0
    lo, hi = r.band
    tol = {"deg": 20.0, "torso": 0.2}[r.unit]
    return max(lo - r.value, r.value - hi, 0.0) / tol


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate(rules: MoveRules, pose: Pose) -> Verdict:
    """Apply every check of one move's rules to a pose."""
    side = measures.resolve_side(pose, rules.working_side, rules.min_visibility) if rules.uses_sides else None
    view = measures.view_of(measures.camera_yaw(pose, rules.min_visibility))
    results = []
    for check in rules.checks:
        cond = check.condition
        base = dict(check=check.id, band=cond.band, unit=cond.unit, severity=check.severity)
        if view not in check.views and check.views != measures.VIEWS:
            needs = " or ".join(VIEW_WORDS[v] for v in check.views)
            seen = f"from {VIEW_WORDS[view]}" if view else "too unclearly to tell from where"
            reason = f"can only be judged from {needs}; the camera sees the dancer {seen}"
            results.append(CheckResult(status="unmeasured", value=None, reason=reason, **base))
            continue
        if side is None and any(p.startswith(("working_", "standing_")) for p in cond.points):
            unseen = tuple(n for n in measures.side_landmarks(rules.working_side)
                           if not pose.is_visible(n, rules.min_visibility))
            results.append(CheckResult(status="unmeasured", value=None, missing=unseen, reason=(
                f"cannot tell the working leg: not visible: {', '.join(unseen)}"), **base))
            continue
        value, missing = measures.measure(pose, cond.measure, cond.points, side, rules.min_visibility, cond.reference)
        lo, hi = cond.band
        if math.isnan(value):
            reason = f"not visible: {', '.join(missing)}" if missing else "degenerate geometry (points coincide)"
            results.append(CheckResult(status="unmeasured", value=None, missing=missing, reason=reason, **base))
            continue
        status = "low" if value < lo else "high" if value > hi else "ok"
        message = None
        if status != "ok":
            template = check.too_low if status == "low" else check.too_high
            message = _format(template, check, side, value, status)
        results.append(CheckResult(status=status, value=value, message=message, **base))
    return Verdict(rules.move, side, tuple(results), view)


def _format(template: str | None, check: Check, side: str | None, value: float, status: str) -> str:
    lo, hi = check.condition.band
    unit = "°" if check.condition.unit == "deg" else " torso lengths"
    if template is None:
        word = "below" if status == "low" else "above"
        template = f"{check.id.replace('_', ' ').capitalize()}: {{value}}{unit}, {word} the {{low}} to {{high}} band"
    fields = {"side": side or "working", "other_side": measures.other_side(side) if side else "standing",
              "value": f"{value:.0f}" if check.condition.unit == "deg" else f"{value:.2f}",
              "low": f"{lo:g}", "high": f"{hi:g}"}
    return template.format(**fields)


def match_score(rules: MoveRules, pose: Pose) -> float:
    """How well a pose fits a move's ``[[match]]`` signature, 0-1: the mean per-condition fit.

    A condition in band counts 1, a near miss counts down linearly to 0 at one tolerance out of
    band, and a condition that cannot be measured counts 0. A move without a signature scores 0.
    """
    if not rules.match:
        return 0.0
    side = measures.resolve_side(pose, rules.working_side, rules.min_visibility)
    total = 0.0
    for cond in rules.match:
        value, _ = measures.measure(pose, cond.measure, cond.points, side, rules.min_visibility, cond.reference)
        if math.isnan(value):
            continue
        lo, hi = cond.band
        out = max(lo - value, value - hi, 0.0)
        total += max(0.0, 1.0 - out / measures.MEASURES[cond.measure].tolerance)
    return total / len(rules.match)


# ---------------------------------------------------------------------------------------------
# Loading and validation


@dataclass
class Rulebook:
    """The rules in force: one MoveRules per move id."""

    moves: dict[str, MoveRules] = field(default_factory=dict)

    def __contains__(self, move: str) -> bool:
        return move in self.moves

    def __getitem__(self, move: str) -> MoveRules:
        return self.moves[move]

    def best_matches(self, pose: Pose) -> list[tuple[str, float]]:
        """Moves ranked by rule-based match score; on a tie the more specific signature wins."""
        scored = [(m, match_score(r, pose), len(r.match)) for m, r in self.moves.items() if r.match]
        scored.sort(key=lambda t: (-t[1], -t[2]))
        return [(m, s) for m, s, _ in scored]


def load_rules(path: str | Path) -> tuple[Rulebook, list[RuleError]]:
    """Load a rule file or every ``*.toml`` in a directory: good files in, bad ones reported."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.toml"))
        if not files:
            return Rulebook(), [RuleError(path, None, "no *.toml rule files in this directory")]
    elif path.exists():
        files = [path]
    else:
        return Rulebook(), [RuleError(path, None, "no such file or directory")]
    book, errors = Rulebook(), []
    for f in files:
        try:
            rules = load_rule_file(f)
        except RuleError as exc:
            errors.append(exc)
            continue
        if rules.move in book.moves:
            errors.append(RuleError(f, None, f"move {rules.move!r} is already defined in {book.moves[rules.move].path}"))
            continue
        book.moves[rules.move] = rules
    return book, errors


def load_rule_file(path: str | Path) -> MoveRules:
    """Read and validate one rule file; raises RuleError naming the file, line and reason."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RuleError(path, None, f"cannot read: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise RuleError(path, None, f"file is {size / 1e6:.1f} MB; a rule file may be at most {MAX_FILE_BYTES // 1024} KB")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(path, raw[: exc.start].count(b"\n") + 1, "not UTF-8 text (is this a binary file?)") from None
    if "\x00" in text:
        raise RuleError(path, text[: text.index("\x00")].count("\n") + 1, "contains NUL bytes (is this a binary file?)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "invalid TOML"
        raise RuleError(path, int(line.group(1)) if line else None, f"TOML syntax error: {reason}") from None
    return _validate(data, path, KeyLines(text))


class KeyLines:
    """Finds the line of a key in the rule file's text, for error messages (tomllib gives none)."""

    def __init__(self, text: str):
        self.where: dict[tuple[str, int, str | None], int] = {}
        table, counts = "", {}
        for num, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            header = re.match(r"^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]", stripped) or re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", stripped)
            if header:
                table = header.group(1)
                counts[table] = counts.get(table, -1) + 1
                self.where.setdefault((table, counts[table], None), num)
                continue
            key = re.match(r"^([A-Za-z0-9_-]+|\"[^\"]*\")\s*=", stripped)
            if key:
                self.where.setdefault((table, counts.get(table, 0), key.group(1).strip('"')), num)

    def find(self, key: str | None, table: str = "", index: int = 0) -> int | None:
        return self.where.get((table, index, key)) or self.where.get((table, index, None))


def _validate(data: dict, path: Path, lines: KeyLines) -> MoveRules:
    def fail(reason, key=None, table="", index=0):
        raise RuleError(path, lines.find(key, table, index), reason)

    for key in data:
        if key not in TOP_KEYS:
            fail(f"unknown key {key!r} (allowed: {', '.join(sorted(TOP_KEYS))})", key)
    if "schema" not in data:
        fail(f"missing 'schema = {SCHEMA_VERSION}' (the rule file format version)")
    if data["schema"] != SCHEMA_VERSION:
        fail(f"unsupported schema version {data['schema']!r} (this pi-coach reads schema {SCHEMA_VERSION})", "schema")
    move = data.get("move")
    if not isinstance(move, str) or not is_move_id(move):
        fail(f"'move' must be a snake_case move id such as \"arabesque\", got {move!r}", "move")
    for key in ("title", "description", "version"):
        if key in data and not isinstance(data[key], str):
            fail(f"{key!r} must be a string", key)
    side = data.get("working_side", "higher_ankle")
    if side not in measures.SIDE_STRATEGIES:
        fail(f"working_side must be one of {', '.join(measures.SIDE_STRATEGIES)}, got {side!r}", "working_side")
    min_vis = data.get("min_visibility", DEFAULT_VISIBILITY)
    if not isinstance(min_vis, (int, float)) or isinstance(min_vis, bool) or not 0 <= min_vis <= 1:
        fail(f"min_visibility must be a number from 0 to 1, got {min_vis!r}", "min_visibility")

    raw_checks = data.get("check", [])
    if not isinstance(raw_checks, list) or not raw_checks:
        fail("a rule file needs at least one [[check]] table", "check")
    checks, ids = [], set()
    for i, raw in enumerate(raw_checks):
        check = _validate_check(raw, i, fail)
        if check.id in ids:
            fail(f"duplicate check id {check.id!r}", "id", "check", i)
        ids.add(check.id)
        checks.append(check)
    raw_match = data.get("match", [])
    if not isinstance(raw_match, list):
        fail("'match' must be a list of [[match]] tables", "match")
    match = []
    for i, raw in enumerate(raw_match):
        if not isinstance(raw, dict):
            fail("each [[match]] entry must be a table", None, "match", i)
        for key in raw:
            if key not in MATCH_KEYS:
                fail(f"unknown key {key!r} in [[match]] (allowed: {', '.join(sorted(MATCH_KEYS))})", key, "match", i)
        match.append(_validate_condition(raw, "match", i, fail))
    return MoveRules(move=move, title=data.get("title", move.replace("_", " ").title()), checks=tuple(checks),
                     match=tuple(match), working_side=side, min_visibility=float(min_vis),
                     version=data.get("version", ""), description=data.get("description", ""), path=path)


def _validate_condition(raw: dict, table: str, i: int, fail) -> Condition:
    kind = raw.get("measure")
    if kind not in measures.MEASURES:
        fail(f"unknown measure {kind!r} (known: {', '.join(measures.MEASURES)})", "measure", table, i)
    spec = measures.MEASURES[kind]
    points = raw.get("points")
    if not isinstance(points, list) or len(points) != spec.points or not all(isinstance(p, str) for p in points):
        fail(f"{kind} needs 'points' as a list of {spec.points} landmark names, got {points!r}", "points", table, i)
    for p in points:
        problem = measures.point_error(p)
        if problem:
            fail(problem, "points", table, i)
    reference = raw.get("reference", "vertical")
    if reference not in measures.REFERENCES or ("reference" in raw and kind != "tilt"):
        fail(f"'reference' is for tilt only and must be vertical or horizontal, got {reference!r}", "reference", table, i)
    band = raw.get("band")
    if (not isinstance(band, list) or len(band) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in band)):
        fail(f"'band' must be [low, high] with two numbers, got {band!r}", "band", table, i)
    if band[0] > band[1]:
        fail(f"inverted band [{band[0]}, {band[1]}]: low must not exceed high", "band", table, i)
    if spec.unit == "deg" and not (0 <= band[0] and band[1] <= 180):
        fail(f"an angle band must lie within 0-180 degrees, got {band!r}", "band", table, i)
    return Condition(kind, tuple(points), (float(band[0]), float(band[1])), reference)


def _validate_check(raw, i: int, fail) -> Check:
    if not isinstance(raw, dict):
        fail("each [[check]] entry must be a table", None, "check", i)
    for key in raw:
        if key not in CHECK_KEYS:
            fail(f"unknown key {key!r} in [[check]] (allowed: {', '.join(sorted(CHECK_KEYS))})", key, "check", i)
    cid = raw.get("id")
    if not isinstance(cid, str) or not re.match(r"^[a-z][a-z0-9_]*$", cid):
        fail(f"check 'id' must be a snake_case name, got {cid!r}", "id", "check", i)
    cond = _validate_condition(raw, "check", i, fail)
    for key in ("too_low", "too_high", "why"):
        if key in raw and not isinstance(raw[key], str):
            fail(f"{key!r} must be a string", key, "check", i)
    if "too_low" not in raw and "too_high" not in raw:
        fail(f"check {cid!r} needs a message: too_low, too_high or both", "id", "check", i)
    for key in ("too_low", "too_high"):
        if key in raw:
            try:
                parts = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(raw[key]) if f is not None]
            except ValueError as exc:
                fail(f"bad {key} message: {exc}", key, "check", i)
            if any(spec or conv for _, spec, conv in parts):
                fail(f"placeholders in {key} take no format spec: write {{value}}, not {{value:.1f}}", key, "check", i)
            names = {f for f, _, _ in parts}
            unknown = names - MESSAGE_FIELDS
            if unknown:
                fail(f"unknown placeholder {{{sorted(unknown)[0]}}} in {key} (allowed: "
                     f"{', '.join('{' + f + '}' for f in sorted(MESSAGE_FIELDS))})", key, "check", i)
    severity = raw.get("severity", "major")
    if severity not in SEVERITIES:
        fail(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}", "severity", "check", i)
    views = raw.get("views", list(measures.VIEWS))
    if not isinstance(views, list) or not views or not all(v in measures.VIEWS for v in views):
        fail(f"views must be a non-empty list of {', '.join(measures.VIEWS)}, got {views!r}", "views", "check", i)
    return Check(cid, cond, raw.get("too_low"), raw.get("too_high"), severity, raw.get("why", ""),
                 tuple(v for v in measures.VIEWS if v in views))
