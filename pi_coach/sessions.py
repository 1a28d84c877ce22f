"""Reading the session log back: ``pi-coach sessions list|show|export``.

``export`` writes CSV files (moves, corrections, measured values) and one self-contained HTML
report with its plots inside (matplotlib PNGs as data URIs): a file an instructor copies off the
box with ``scp`` and opens in any browser, offline.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .feedback.session_log import SessionLogError, connect


@dataclass(frozen=True)
class SessionRow:
    id: int
    started: float
    ended: float | None
    source: str
    profile: str
    frames: int
    moves: int
    corrections: int

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


def open_log(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    if not path.is_file():
        raise SessionLogError(f"{path}: no session log here (the service writes it under its state directory)")
    return connect(path)


def list_sessions(db: sqlite3.Connection) -> list[SessionRow]:
    rows = db.execute("""
        SELECT s.id, s.started, s.ended, COALESCE(s.source, ''), COALESCE(s.profile, ''), COALESCE(s.frames, 0),
               (SELECT COUNT(*) FROM moves m WHERE m.session = s.id),
               (SELECT COUNT(*) FROM corrections c WHERE c.session = s.id)
        FROM sessions s ORDER BY s.id""").fetchall()
    return [SessionRow(*r) for r in rows]


def session_ids(db: sqlite3.Connection, which: str) -> list[int]:
    """``last``, ``all``, or a session number."""
    ids = [r[0] for r in db.execute("SELECT id FROM sessions ORDER BY id")]
    if which == "all":
        return ids
    if which == "last":
        return ids[-1:]
    if not which.isdigit() or int(which) not in ids:
        raise SessionLogError(f"no session {which!r} (there are {len(ids)}: numbers {ids[0] if ids else '-'}"
                              f"-{ids[-1] if ids else '-'}, or 'last', 'all')")
    return [int(which)]


def when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def summary(db: sqlite3.Connection, session: int) -> dict:
    """What was danced, for how long, which corrections came up most, how measures moved."""
    moves = db.execute("""SELECT move, COUNT(*), SUM(duration), AVG(mean_confidence), MAX(held) FROM moves
                          WHERE session = ? GROUP BY move ORDER BY SUM(duration) DESC""", (session,)).fetchall()
    top = db.execute("""SELECT move, check_id, message, severity, COUNT(*) FROM corrections WHERE session = ?
                        GROUP BY move, check_id ORDER BY COUNT(*) DESC LIMIT 10""", (session,)).fetchall()
    trend = db.execute("""SELECT move, check_id, COUNT(*), MIN(time), MAX(time),
                                 AVG(CASE WHEN status = 'ok' THEN 1.0 ELSE 0.0 END)
                          FROM measurements WHERE session = ? AND value IS NOT NULL
                          GROUP BY move, check_id ORDER BY move, check_id""", (session,)).fetchall()
    values = {}
    for move, check, *_ in trend:
        v = [r[0] for r in db.execute("SELECT value FROM measurements WHERE session = ? AND move = ? AND check_id = ? "
                                      "AND value IS NOT NULL ORDER BY time", (session, move, check))]
        third = max(1, len(v) // 3)
        values[(move, check)] = (sum(v[:third]) / third, sum(v[-third:]) / third)
    events = db.execute("SELECT time, kind, detail FROM events WHERE session = ? AND kind NOT IN ('hint', 'well_done') "
                        "ORDER BY id", (session,)).fetchall()
    return {"moves": moves, "top": top, "trend": trend, "values": values, "events": events}


def print_show(db: sqlite3.Connection, session: int, out) -> None:
    row = next(r for r in list_sessions(db) if r.id == session)
    s = summary(db, session)
    dur = f"{row.duration / 60:.1f} min" if row.duration is not None else "unfinished (no end recorded)"
    print(f"session {session}: {when(row.started)}, {dur}, {row.frames} frames from {row.source}"
          f"{', profile ' + row.profile if row.profile else ''}", file=out)
    print("\nmoves danced:", file=out)
    for move, n, total, conf, held in s["moves"] or [("(none)", 0, 0, 0, 0)]:
        print(f"  {move:18s} {n:3d} times, {total or 0:6.1f} s in all, confidence {conf or 0:.2f}, "
              f"longest correct hold {held or 0:.1f} s", file=out)
    print("\ncorrections that came up most:", file=out)
    for move, check, message, severity, n in s["top"] or [("", "(none)", "", "", 0)]:
        print(f"  {n:4d}x {move} {check} [{severity}] {message}", file=out)
    print("\nmeasured values (first third of the session -> last third; share of frames in band):", file=out)
    for move, check, n, _, _, ok in s["trend"]:
        a, b = s["values"][(move, check)]
        print(f"  {move:16s} {check:28s} {a:8.2f} -> {b:8.2f}   in band {ok:.0%} of {n}", file=out)
    if s["events"]:
        print("\nthe box's own events:", file=out)
        for t, kind, detail in s["events"]:
            print(f"  {time.strftime('%H:%M:%S', time.localtime(t))} {kind} {detail}", file=out)


# --- export ---------------------------------------------------------------------------------


def export(db: sqlite3.Connection, sessions: list[int], out_dir: str | Path) -> Path:
    """CSV files and ``report.html`` for the sessions into ``out_dir``; returns the report path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marks = ",".join("?" * len(sessions))
    tables = {
        "moves.csv": f"SELECT session, move, start, duration, peak_confidence, mean_confidence, held FROM moves "
                     f"WHERE session IN ({marks}) ORDER BY session, start",
        "corrections.csv": f"SELECT session, time, move, check_id, message, severity, value FROM corrections "
                           f"WHERE session IN ({marks}) ORDER BY session, time",
        "measurements.csv": f"SELECT session, time, move, check_id, value, status FROM measurements "
                            f"WHERE session IN ({marks}) ORDER BY session, time",
    }
    for name, sql in tables.items():
        cur = db.execute(sql, sessions)
        with open(out_dir / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([d[0] for d in cur.description])
            w.writerows(cur)
    report = out_dir / "report.html"
    report.write_text(_html(db, sessions), encoding="utf-8")
    return report


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plots(db: sqlite3.Connection, session: int) -> list[tuple[str, str]]:
    """(title, data URI) of each plot for one session."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    moves = db.execute("SELECT move, start, duration FROM moves WHERE session = ? ORDER BY start", (session,)).fetchall()
    names = sorted({m for m, _, _ in moves})
    fig, ax = plt.subplots(figsize=(9, 0.5 + 0.45 * max(1, len(names))))
    for i, name in enumerate(names):
        ax.broken_barh([(s, d) for m, s, d in moves if m == name], (i - 0.4, 0.8), color=f"C{i % 10}")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("seconds into the session")
    ax.set_title("Moves danced")
    if not names:
        ax.text(0.5, 0.5, "no move held long enough to be recognised", ha="center", va="center", transform=ax.transAxes)
    plots.append(("Moves danced", _png(fig)))

    top = db.execute("""SELECT move || ' ' || check_id, COUNT(*) FROM corrections WHERE session = ?
                        GROUP BY move, check_id ORDER BY COUNT(*) DESC LIMIT 8""", (session,)).fetchall()
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.4 * max(1, len(top))))
    ax.barh([t for t, _ in top][::-1], [n for _, n in top][::-1], color="C3")
    ax.set_xlabel("times shown")
    ax.set_title("Corrections that came up most")
    if not top:
        ax.text(0.5, 0.5, "no corrections: clean form", ha="center", va="center", transform=ax.transAxes)
    plots.append(("Corrections", _png(fig)))

    checks = db.execute("""SELECT move, check_id, COUNT(*) FROM measurements WHERE session = ? AND value IS NOT NULL
                           GROUP BY move, check_id ORDER BY COUNT(*) DESC LIMIT 6""", (session,)).fetchall()
    if checks:
        fig, axes = plt.subplots(len(checks), 1, figsize=(9, 1.9 * len(checks)), squeeze=False, sharex=True)
        for ax, (move, check, _) in zip(axes[:, 0], checks):
            rows = db.execute("SELECT time, value, status FROM measurements WHERE session = ? AND move = ? AND check_id = ? "
                              "AND value IS NOT NULL ORDER BY time", (session, move, check)).fetchall()
            t = [r[0] for r in rows]
            ax.plot(t, [r[1] for r in rows], ".-", color="C0", lw=1, ms=3)
            bad = [(r[0], r[1]) for r in rows if r[2] != "ok"]
            if bad:
                ax.plot(*zip(*bad), "x", color="C3", ms=5, label="out of band")
                ax.legend(loc="upper right", fontsize=8)
            ax.set_ylabel(f"{move}\n{check}", fontsize=8)
        axes[-1, 0].set_xlabel("seconds into the video or session (the Coach's clock)")
        fig.suptitle("Measured values through the session")
        plots.append(("Measured values", _png(fig)))
    return plots


def _across(db: sqlite3.Connection, sessions: list[int]) -> str | None:
    """Median value of the most measured checks per session, across sessions."""
    if len(sessions) < 2:
        return None
    import matplotlib.pyplot as plt

    marks = ",".join("?" * len(sessions))
    checks = db.execute(f"""SELECT move, check_id FROM measurements WHERE session IN ({marks}) AND value IS NOT NULL
                            GROUP BY move, check_id ORDER BY COUNT(*) DESC LIMIT 4""", sessions).fetchall()
    if not checks:
        return None
    fig, ax = plt.subplots(figsize=(9, 3))
    for move, check in checks:
        med = []
        for s in sessions:
            v = sorted(r[0] for r in db.execute("SELECT value FROM measurements WHERE session = ? AND move = ? AND "
                                                "check_id = ? AND value IS NOT NULL", (s, move, check)))
            med.append(v[len(v) // 2] if v else float("nan"))
        ax.plot(sessions, med, "o-", label=f"{move} {check}")
    ax.set_xlabel("session")
    ax.set_ylabel("median measured value")
    ax.legend(fontsize=8)
    ax.set_title("Across sessions")
    return _png(fig)


def _html(db: sqlite3.Connection, sessions: list[int]) -> str:
    rows = {r.id: r for r in list_sessions(db)}
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>pi-coach sessions</title>",
             "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}"
             "img{max-width:100%;display:block;margin:1em 0}h2{margin-top:2em}</style></head><body>",
             f"<h1>pi-coach: {len(sessions)} session{'s' if len(sessions) != 1 else ''}</h1>"]
    across = _across(db, sessions)
    if across:
        parts.append(f"<img alt='Across sessions' src='{across}'>")
    for s in sessions:
        r = rows[s]
        summ = summary(db, s)
        dur = f"{r.duration / 60:.1f} min" if r.duration is not None else "unfinished"
        parts.append(f"<h2>Session {s}: {html.escape(when(r.started))}, {dur}</h2>"
                     f"<p>{r.frames} frames from {html.escape(r.source)}"
                     f"{', profile ' + html.escape(r.profile) if r.profile else ''}</p>")
        parts.append("<table><tr><th>move</th><th>times</th><th>seconds</th><th>confidence</th><th>longest hold</th></tr>")
        for move, n, total, conf, held in summ["moves"]:
            parts.append(f"<tr><td>{html.escape(move)}</td><td>{n}</td><td>{total or 0:.1f}</td>"
                         f"<td>{conf or 0:.2f}</td><td>{held or 0:.1f} s</td></tr>")
        parts.append("</table>")
        for title, uri in _plots(db, s):
            parts.append(f"<img alt='{html.escape(title)}' src='{uri}'>")
    parts.append("</body></html>")
    return "\n".join(parts)
