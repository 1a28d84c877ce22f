"""Dancer profiles: a named file that widens or narrows check bands without touching the move
files (a beginner's arabesque from 70 degrees, an advanced dancer's from 100)::

    # profiles/beginner.toml
    description = "First-year students"

    [arabesque.leg_angle]
    band = [70, 125]

Profiles live in ``/etc/pi-coach/profiles`` (group ``pi-coach``); the file ``active`` there names
the one in use, which ``pi-coach profile use NAME`` switches.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path

from .rulebook import RuleError, Rulebook

DEFAULT_DIR = Path("/etc/pi-coach/profiles")
ACTIVE = "active"


def load_profile(path: str | Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(move, check id) -> band, from a profile file; RuleError with the line on bad content."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise RuleError(path, None, "no such profile") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RuleError(path, None, f"cannot read this profile ({exc})") from None
    lines = text.splitlines()

    def line_of(move: str, check: str) -> int | None:
        header = f"[{move}.{check}]"
        return next((i for i, ln in enumerate(lines, 1) if ln.strip().replace(" ", "") == header), None)

    bands = {}
    for move, checks in data.items():
        if move == "description":
            continue
        if not isinstance(checks, dict):
            raise RuleError(path, None, f"{move!r}: expected tables like [{move}.CHECK_ID] with a band")
        for check, table in checks.items():
            band = table.get("band") if isinstance(table, dict) else None
            extra = set(table) - {"band"} if isinstance(table, dict) else set()
            if extra:
                raise RuleError(path, line_of(move, check), f"[{move}.{check}]: a profile may only set band, not {sorted(extra)}")
            if (not isinstance(band, list) or len(band) != 2 or not all(isinstance(v, (int, float)) for v in band)
                    or band[0] > band[1]):
                raise RuleError(path, line_of(move, check), f"[{move}.{check}]: band must be [low, high] with low <= high")
            bands[(move, check)] = (float(band[0]), float(band[1]))
    return bands


def apply_profile(book: Rulebook, bands: dict[tuple[str, str], tuple[float, float]], path: str | Path = "profile") -> Rulebook:
    """A copy of the rulebook with the profile's bands; a move or check the rules lack is an error."""
    moves = dict(book.moves)
    for (move, check), band in bands.items():
        if move not in moves:
            raise RuleError(path, None, f"profile names move {move!r}, which has no rule file")
        rules = moves[move]
        ids = [c.id for c in rules.checks]
        if check not in ids:
            raise RuleError(path, None, f"profile names check {move}.{check}; {move} has {', '.join(ids)}")
        checks = tuple(replace(c, condition=replace(c.condition, band=band)) if c.id == check else c for c in rules.checks)
        moves[move] = replace(rules, checks=checks)
    return Rulebook(moves)


def active_profile(directory: str | Path = DEFAULT_DIR) -> str:
    """The name in ``DIR/active``, or "" for none."""
    try:
        return (Path(directory) / ACTIVE).read_text().strip()
    except OSError:
        return ""


def use_profile(name: str, directory: str | Path = DEFAULT_DIR) -> None:
    """Make ``name`` ("" for none) the active profile, written atomically."""
    directory = Path(directory)
    if name and not (directory / f"{name}.toml").is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.toml"))) or "none"
        raise RuleError(directory / f"{name}.toml", None, f"no such profile (known: {known})")
    tmp = directory / f".{ACTIVE}-{os.getpid()}"
    tmp.write_text(name + "\n")
    os.replace(tmp, directory / ACTIVE)
