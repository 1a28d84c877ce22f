"""The session log: SQLite under the state directory, what was danced and what was said.

Sessions, moves (with duration, confidence and the time held correctly), corrections shown,
per-check measured values (a few a second), and the box's own events (faults, reloads). The file
is in WAL mode and rows are committed in small transactions every ``flush_seconds``, so a power cut
loses at most those seconds and never corrupts the file. The schema is versioned with
``PRAGMA user_version`` and migrated forward on open. A full disk is logged once; coaching goes on
and rows wait in a bounded buffer until they can be written.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)

# Each entry takes the schema from version i to i + 1.
MIGRATIONS = [
    """
    CREATE TABLE sessions (id INTEGER PRIMARY KEY, started REAL NOT NULL, ended REAL, source TEXT,
                           model TEXT, rules TEXT, frames INTEGER DEFAULT 0, dropped INTEGER DEFAULT 0);
    CREATE TABLE moves (id INTEGER PRIMARY KEY, session INTEGER NOT NULL REFERENCES sessions(id), move TEXT NOT NULL,
                        start REAL NOT NULL, duration REAL NOT NULL, peak_confidence REAL, mean_confidence REAL,
                        held REAL);
    CREATE TABLE corrections (id INTEGER PRIMARY KEY, session INTEGER NOT NULL REFERENCES sessions(id),
                              time REAL NOT NULL, move TEXT NOT NULL, check_id TEXT NOT NULL, message TEXT,
                              severity TEXT, value REAL);
    CREATE TABLE events (id INTEGER PRIMARY KEY, session INTEGER REFERENCES sessions(id), time REAL NOT NULL,
                         kind TEXT NOT NULL, detail TEXT);
    """,
    """
    ALTER TABLE sessions ADD COLUMN profile TEXT DEFAULT '';
    CREATE TABLE measurements (session INTEGER NOT NULL REFERENCES sessions(id), time REAL NOT NULL,
                               move TEXT NOT NULL, check_id TEXT NOT NULL, value REAL, status TEXT NOT NULL);
    CREATE INDEX measurements_by_check ON measurements(session, move, check_id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
BUFFER_ROWS = 50_000  # rows kept in memory while the disk is full


class SessionLogError(RuntimeError):
    """A session log that cannot be opened (not a database, a newer schema); names the file."""


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating or migrating) a session log database."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(path, timeout=5, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise SessionLogError(f"{path}: not a pi-coach session log ({exc})") from None
    if version > SCHEMA_VERSION:
        raise SessionLogError(f"{path}: schema version {version} is newer than this pi-coach ({SCHEMA_VERSION})")
    for v in range(version, SCHEMA_VERSION):
        db.execute("BEGIN IMMEDIATE")  # statement by statement: executescript would commit early
        for statement in filter(str.strip, MIGRATIONS[v].split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {v + 1}")
        db.execute("COMMIT")
    return db


class SessionLog:
    """Writes one session: open at start, ``add_*`` as things happen, ``close`` at the end."""

    def __init__(self, path: str | Path, source: str = "", model: str = "", rules: str = "", profile: str = "",
                 flush_seconds: float = 2.0, measure_every: float = 0.5, clock=time.time):
        self.path, self.flush_seconds, self.measure_every, self._clock = Path(path), flush_seconds, measure_every, clock
        self.db = connect(self.path)
        self.problem: str | None = None
        self._pending: deque[tuple[str, tuple]] = deque(maxlen=BUFFER_ROWS)
        self._last_flush = self._clock()
        self._last_measure = -1e9
        cur = self.db.execute("INSERT INTO sessions (started, source, model, rules, profile) VALUES (?, ?, ?, ?, ?)",
                              (self._clock(), source, model, rules, profile))
        self.session = cur.lastrowid

    def add_move(self, move: str, start: float, duration: float, peak: float, mean: float, held: float) -> None:
        self._add("INSERT INTO moves (session, move, start, duration, peak_confidence, mean_confidence, held) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)", (self.session, move, start, duration, peak, mean, held))

    def add_correction(self, t: float, move: str, check: str, message: str, severity: str, value: float | None) -> None:
        self._add("INSERT INTO corrections (session, time, move, check_id, message, severity, value) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)", (self.session, t, move, check, message, severity, value))

    def add_event(self, t: float, kind: str, detail: dict | None = None) -> None:
        self._add("INSERT INTO events (session, time, kind, detail) VALUES (?, ?, ?, ?)",
                  (self.session, t, kind, json.dumps(detail or {})))

    def add_measurements(self, t: float, move: str, results) -> None:
        """Per-check values of one verdict, at most every ``measure_every`` seconds."""
        if t - self._last_measure < self.measure_every:
            return
        self._last_measure = t
        for r in results:
            self._add("INSERT INTO measurements (session, time, move, check_id, value, status) VALUES (?, ?, ?, ?, ?, ?)",
                      (self.session, t, move, r.check, r.value, r.status))

    def _add(self, sql: str, row: tuple) -> None:
        self._pending.append((sql, row))
        if self._clock() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> bool:
        """Write what is pending in one transaction; False (and the rows kept) if the disk is full."""
        self._last_flush = self._clock()
        if not self._pending:
            return True
        try:
            self.db.execute("BEGIN")
            for sql, row in self._pending:
                self.db.execute(sql, row)
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # "database or disk is full", I/O errors
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if self.problem is None:
                log.error("session log %s: cannot write (%s); coaching goes on, %d rows wait",
                          self.path, exc, len(self._pending))
            self.problem = str(exc)
            return False
        if self.problem:
            log.warning("session log %s: writing again", self.path)
        self.problem = None
        self._pending.clear()
        return True

    def close(self, frames: int = 0, dropped: int = 0) -> None:
        """End the session: flush, stamp the end, checkpoint the WAL into the main file."""
        self._add("UPDATE sessions SET ended = ?, frames = ?, dropped = ? WHERE id = ?",
                  (self._clock(), frames, dropped, self.session))
        self.flush()
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            log.debug("checkpoint: %s", exc)
        self.db.close()
