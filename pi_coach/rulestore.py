"""The box's rule sets and move models, swapped safely: ``pi-coach rules install|rollback|list|diff``
and ``pi-coach models install|rollback``.

A store is a folder (``/etc/pi-coach/rules`` or ``/etc/pi-coach/models`` on the box, group
``pi-coach``, mode 2775)::

    sets/0001/  sets/0002/ ...   every installed set, its files and MANIFEST.json
    current -> sets/0002         the live set: the service reads from here

Installing validates first, writes the new set under a temporary name, fsyncs every file and the
folder, renames it into ``sets/``, and then replaces the ``current`` link with one rename. A power
cut at any moment leaves ``current`` on the old set or on the new one, never on half of one; a
leftover temporary folder is ignored and cleared by the next install.
"""

from __future__ import annotations

import difflib
import getpass
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .rulebook import RuleError, Rulebook, load_rules

KEEP = 10  # sets kept for rollback
DEFAULT_STORE = Path("/etc/pi-coach/rules")
DEFAULT_MODEL_STORE = Path("/etc/pi-coach/models")


class StoreError(RuntimeError):
    """A rule-store problem a user can fix (permissions, nothing to roll back to)."""


@dataclass(frozen=True)
class RuleSet:
    number: int
    path: Path

    @property
    def manifest(self) -> dict:
        try:
            return json.loads((self.path / "MANIFEST.json").read_text())
        except (OSError, ValueError):
            return {}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SetStore:
    """Numbered sets of files with an atomically swapped ``current`` link."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.sets_dir = self.root / "sets"
        self.current_link = self.root / "current"

    def sets(self) -> list[RuleSet]:
        if not self.sets_dir.is_dir():
            return []
        return sorted((RuleSet(int(p.name), p) for p in self.sets_dir.iterdir() if p.name.isdigit() and p.is_dir()),
                      key=lambda s: s.number)

    def current(self) -> RuleSet | None:
        if not self.current_link.is_symlink():
            return None
        target = (self.root / os.readlink(self.current_link)).resolve()
        return next((s for s in self.sets() if s.path.resolve() == target), None)

    def _check_writable(self) -> None:
        user = getpass.getuser()
        hint = f"instructors need the pi-coach group (sudo adduser {user} pi-coach, then log in again)"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot create it as {user} ({exc.strerror}): {hint}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"{self.root}: not writable by {user}: {hint}")

    def install_files(self, files: dict[str, Path], manifest: dict) -> RuleSet:
        """Copy ``files`` (name in the set -> source) into a new set, every byte fsynced, then
        make it current."""
        self._check_writable()
        if not self.sets_dir.is_dir():
            self.sets_dir.mkdir()
            os.chmod(self.sets_dir, 0o2775)  # the pi-coach group writes here (mkdir's mode is masked)
        for leftover in self.sets_dir.glob(".new-*"):  # from an install cut short
            shutil.rmtree(leftover, ignore_errors=True)
        number = max((s.number for s in self.sets()), default=0) + 1
        tmp = self.sets_dir / f".new-{number:04d}-{os.getpid()}"
        tmp.mkdir()
        os.chmod(tmp, 0o2775)
        digests = {}
        for name, f in files.items():
            data = f.read_bytes()
            with open(tmp / name, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp / name, 0o664)
            digests[name] = hashlib.sha256(data).hexdigest()
        manifest = {"set": number, "installed": time.strftime("%Y-%m-%d %H:%M:%S %z"), "by": getpass.getuser(),
                    "files": digests, **manifest}
        with open(tmp / "MANIFEST.json", "w") as out:
            json.dump(manifest, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        _fsync_dir(tmp)
        final = self.sets_dir / f"{number:04d}"
        os.rename(tmp, final)
        _fsync_dir(self.sets_dir)
        new = RuleSet(number, final)
        self._point_to(new)
        self._prune()
        return new

    def rollback(self, to: int | None = None) -> RuleSet:
        """Make an earlier set live: the one before the current, or set number ``to``."""
        self._check_writable()
        sets, cur = self.sets(), self.current()
        if to is not None:
            target = next((s for s in sets if s.number == to), None)
            if target is None:
                raise StoreError(f"{self.root}: no rule set {to} (kept: {', '.join(str(s.number) for s in sets)})")
        else:
            older = [s for s in sets if cur is None or s.number < cur.number]
            if not older:
                raise StoreError(f"{self.root}: no earlier rule set to roll back to")
            target = older[-1]
        self._point_to(target)
        return target

    def _point_to(self, ruleset: RuleSet) -> None:
        """Replace the ``current`` link in one rename (atomic on POSIX file systems)."""
        tmp = self.root / f".current-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(os.path.relpath(ruleset.path, self.root), tmp)
        os.replace(tmp, self.current_link)
        _fsync_dir(self.root)

    def _prune(self) -> None:
        cur = self.current()
        for s in self.sets()[:-KEEP]:
            if cur is None or s.number != cur.number:
                shutil.rmtree(s.path, ignore_errors=True)


class RuleStore(SetStore):
    """The live rule sets."""

    def __init__(self, root: str | Path = DEFAULT_STORE):
        super().__init__(root)

    def install(self, source: str | Path) -> tuple[RuleSet, Rulebook]:
        """Validate ``source`` (a rule file or folder) and make it the live set; a broken set
        raises RuleSetRefused with every error and touches nothing."""
        source = Path(source)
        book, errors = load_rules(source)
        if errors:
            raise RuleSetRefused(errors)
        files = sorted(source.glob("*.toml")) if source.is_dir() else [source]
        manifest = {"from": str(source.resolve()), "moves": {m: r.version for m, r in sorted(book.moves.items())}}
        return self.install_files({f.name: f for f in files}, manifest), book


class ModelStore(SetStore):
    """The live move model: ``current/moves.tflite`` with its ``moves.json``."""

    def __init__(self, root: str | Path = DEFAULT_MODEL_STORE):
        super().__init__(root)

    def install(self, model: str | Path, rulebook: Rulebook, recognise_only: bool = False) -> tuple[RuleSet, list[str]]:
        """Check the model runs and matches its spec, and that every move it knows has rules
        (unless ``recognise_only``: those moves are then named but not checked); make it live.
        Returns the set and the moves installed without rules."""
        from .classify import MoveClassifier
        from .moves import NONE

        model = Path(model)
        clf = MoveClassifier(model)  # ModelError naming the file if it is missing, corrupt or mismatched
        missing = [lab for lab in clf.labels if lab != NONE and lab not in rulebook]
        if missing and not recognise_only:
            raise StoreError(f"{model}: no rule file for {', '.join(missing)} in the live rules: install rules for "
                             f"them first, or install with --recognise-only to name those moves without checking them")
        manifest = {"from": str(model.resolve()), "labels": clf.labels, "recognise_only": missing}
        return self.install_files({"moves.tflite": model, "moves.json": model.with_suffix(".json")}, manifest), missing


class RuleSetRefused(ValueError):
    """A rule set that does not validate: every error with file, line and reason."""

    def __init__(self, errors: list[RuleError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def diff(old: str | Path, new: str | Path) -> str:
    """A unified diff of two rule sets (folders or files), file by file."""
    def files(p: Path) -> dict[str, list[str]]:
        paths = sorted(p.glob("*.toml")) if p.is_dir() else [p] if p.exists() else []
        return {f.name: f.read_text().splitlines(keepends=True) for f in paths}

    a, b = files(Path(old)), files(Path(new))
    out = []
    for name in sorted(set(a) | set(b)):
        out += difflib.unified_diff(a.get(name, []), b.get(name, []), f"{old}/{name}" if name in a else "/dev/null",
                                    f"{new}/{name}" if name in b else "/dev/null")
    return "".join(out)
