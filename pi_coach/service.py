"""The appliance: ``pi-coach run``. Wires a frame source, MediaPipe, the move model, the rules and
the Coach to the OLED, the buzzer, the console and the session log, and speaks to systemd.

The loop takes the newest frame (older ones are dropped and counted), and every stage that can
fail on a studio day fails alone: a bad frame is skipped, a missing camera is waited for, a
missing screen or buzzer is done without, a full disk stops only the log, a broken rule set on
SIGHUP is refused while the old one keeps coaching. READY=1 goes out once the models are loaded
and the first frame is processed (or the camera is known to be missing, so systemd does not
restart a box that is only waiting for its camera); WATCHDOG=1 comes from the loop itself.
"""

from __future__ import annotations

import json
import logging
import resource
import signal
import sqlite3
import statistics
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .classify import ModelError, MoveClassifier
from .coach import Coach, CoachSettings, CoachState, Event
from .combination import CombinationError, load_combination
from .config import Config
from .control import ControlServer
from .feedback.buzzer import EVENT_PATTERNS, BuzzerPlayer
from .feedback.oled import Screen, open_device
from .feedback.session_log import SessionLog, SessionLogError
from .moves import NONE
from .profiles import active_profile, apply_profile, load_profile
from .rulebook import RuleError, Rulebook, load_rules
from .sources.live import LatestFrame, LiveSource, open_source
from .systemd import Notifier

log = logging.getLogger("pi_coach")

NOTICE_SECONDS = 6.0  # how long a refused rule set or a broken model is shown on the screen


@dataclass
class Stats:
    """What the service counts: for STATUS=, the session log, the benchmark and the soak test."""

    started: float = field(default_factory=time.monotonic)
    ready_after: float | None = None
    frames: int = 0
    dropped: int = 0  # frames the camera delivered that the loop had no time for
    pose_errors: int = 0
    nobody: int = 0
    reloads: int = 0
    refused_reloads: int = 0
    latencies: deque = field(default_factory=lambda: deque(maxlen=2000))  # seconds, capture to feedback
    frame_times: deque = field(default_factory=lambda: deque(maxlen=120))

    @property
    def fps(self) -> float:
        t = self.frame_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        return {"frames": self.frames, "dropped": self.dropped, "pose_errors": self.pose_errors, "nobody": self.nobody,
                "fps": round(self.fps, 2), "ready_after_s": None if self.ready_after is None else round(self.ready_after, 3),
                "latency_median_ms": round(1000 * statistics.median(lat), 1) if lat else None,
                "latency_p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "reloads": self.reloads, "refused_reloads": self.refused_reloads}


class _RecentErrors(logging.Handler):
    """Keeps the last warnings and errors for ``pi-coach status``."""

    def __init__(self, into: deque):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.getMessage()}")


class ConsoleSink:
    """Desktop output: one line when what the screen says changes, or JSON lines of events."""

    def __init__(self, stream=sys.stdout, as_json: bool = False):
        self.stream, self.as_json = stream, as_json
        self._last: tuple = ()

    def show(self, state: CoachState) -> None:
        if self.as_json:
            for e in state.events:
                print(json.dumps({"time": round(e.time, 3), "event": e.kind, "move": e.move, **e.detail}),
                      file=self.stream, flush=True)
            return
        now = (state.move, state.message)
        if now != self._last:
            self._last = now
            move = f"{state.title} {state.confidence:.2f}" if state.move != NONE else "-"
            print(f"{state.time:7.2f}s  {move:<24} {state.message}", file=self.stream, flush=True)


class Service:
    """One run of the coach, from start to SIGTERM (or the end of a file source)."""

    def __init__(self, config: Config, source: LiveSource | None = None, console: ConsoleSink | None = None,
                 notifier: Notifier | None = None, estimator_factory=None, reference=None):
        self.config = config
        cam = config.section("camera")
        self.source = source or open_source(cam["source"], cam["width"], cam["height"], cam["fps"], cam["loop"])
        self.console = console
        self.notifier = notifier or Notifier(fraction=config["service.watchdog_fraction"])
        self._estimator_factory = estimator_factory
        self.reference = reference  # a live_reference.ReferenceFollower (run --reference), or None
        self.stats = Stats()
        self.rulebook = Rulebook()
        self.rules_version = ""
        self.profile = ""
        self.classifier: MoveClassifier | None = None
        self._model_key: tuple | None = None
        self._stop = False
        self._reload = False
        self._reload_waiters: list[tuple[threading.Event, dict]] = []
        self.recent_errors: deque[str] = deque(maxlen=10)  # the last warnings and errors, for status
        # the sinks and the frame grabber, made in run()
        self.coach: Coach | None = None
        self.screen: Screen | None = None
        self.buzzer: BuzzerPlayer | None = None
        self.session: SessionLog | None = None
        self.frames: LatestFrame | None = None
        self._notice, self._notice_until = "", 0.0
        self._last_status = -1e9
        self._last_time = 0.0  # the source time of the last processed frame
        self.combination = None  # a follow.LiveCombination when [combination] file is set

    # -- start-up ---------------------------------------------------------------------------

    def load_rules(self) -> list[str]:
        """Load the configured rule set; on any error keep the rules in force and return the errors."""
        from .cli import default_rules_dir

        rules_dir = self.rules_dir = Path(self.config["rules.dir"] or default_rules_dir())
        try:
            rulebook, errors = load_rules(rules_dir)
        except OSError as exc:
            return [str(exc)]
        if errors:
            return [str(e) for e in errors]
        if not rulebook.moves:
            return [f"{rules_dir}: no rule files"]
        profiles = Path(self.config["rules.profiles_dir"])
        profile = self.config["session.profile"] or active_profile(profiles)
        if profile:
            try:
                rulebook = apply_profile(rulebook, load_profile(profiles / f"{profile}.toml"), profiles / f"{profile}.toml")
            except RuleError as exc:
                return [str(exc)]
        if profile != self.profile and self.session:
            self.session.add_event(time.time(), "profile", {"from": self.profile, "to": profile})
        self.profile = profile
        self.rulebook = rulebook
        self.rules_version = ", ".join(f"{m}@{r.version}" for m, r in sorted(rulebook.moves.items()))
        return []

    def _model_path(self) -> Path | None:
        from .cli import default_model

        if self.config["model.path"] == "none":
            return None
        return Path(self.config["model.path"] or default_model())

    def load_model(self) -> list[str]:
        """Load the configured move model, or keep the one in use (None: the rules' match) and
        return the error. A model that has not changed since it was loaded is left alone."""
        path = self._model_path()
        if path is None:
            log.info("no move model (model.path = none): the rule files' match picks the move")
            return []
        if not self.config["model.path"] and not path.is_file():
            log.warning("no move model at %s: the rule files' match picks the move", path)
            return []
        key = (str(path.resolve()), path.stat().st_mtime_ns) if path.is_file() else None
        if key is not None and key == self._model_key:
            return []
        try:
            self.classifier = MoveClassifier(path, threads=self.config["model.threads"])
        except ModelError as exc:
            log.error("%s; %s picks the move", exc, "the model in use" if self.classifier else "the rule files' match")
            self._set_notice(f"Model broken: {path.name}")
            return [str(exc)]
        self._model_key = key
        log.info("move model %s: %s", path, ", ".join(self.classifier.labels))
        return []

    def _set_notice(self, text: str) -> None:
        self._notice, self._notice_until = text, time.monotonic() + NOTICE_SECONDS

    # -- signals ----------------------------------------------------------------------------

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum, frame) -> None:
        self._stop = True

    def _on_reload(self, signum, frame) -> None:
        self._reload = True

    def stop(self) -> None:
        self._stop = True

    def reload(self) -> list[str]:
        """SIGHUP or a control request: swap in the new rule set (and a changed model), or refuse
        them and keep the old ones, saying why; the errors (none when accepted) go to every
        waiting requester too."""
        self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        rule_errors, model_errors = self.load_rules(), self.load_model()  # each part kept or swapped alone
        errors = rule_errors + model_errors
        session, buzzer = self.session, self.buzzer
        self.coach.rulebook = self.rulebook
        for e in rule_errors:
            log.error("rules refused: %s", e)
        if rule_errors:
            log.error("the old rules stay in force (%s)", self.rules_version)
        for e in model_errors:
            log.error("model refused: %s", e)
        if errors:
            self.stats.refused_reloads += 1
            self._set_notice(f"{'New rules' if rule_errors else 'New model'} refused: {errors[0]}")
            if buzzer:
                buzzer.play("fault")
            if session:
                session.add_event(time.time(), "rules_refused" if rule_errors else "model_refused", {"errors": errors})
        else:
            self.stats.reloads += 1
            log.info("reloaded: rules %s; model %s", self.rules_version, self.classifier.path if self.classifier else "none")
            if session:
                session.add_event(time.time(), "rules_reloaded", {"rules": self.rules_version})
        status = "rules refused, old rules kept" if rule_errors else "model refused" if model_errors else "rules reloaded"
        self.notifier.send("READY=1", f"STATUS={status}")
        while self._reload_waiters:
            done, answer = self._reload_waiters.pop()
            answer.update(accepted=not errors, errors=errors, rules=self.rules_version)
            done.set()
        return errors

    # -- the control socket -----------------------------------------------------------------

    def _control_status(self, request: dict) -> dict:
        s = self.stats
        frames = self.frames
        return {"state": "waiting for the camera" if frames and frames.problem else "coaching",
                "uptime_s": round(time.monotonic() - s.started, 1), "fps": round(s.fps, 1),
                "move": self.coach.move if self.coach else NONE, "frames": s.frames, "dropped": s.dropped,
                "bad_frames": s.pose_errors, "rules": self.rules_version, "rules_dir": str(self.rules_dir),
                "model": str(self.classifier.path) if self.classifier else "(rule files' match)",
                "camera": self.source.name, "camera_problem": frames.problem if frames else None,
                "display_problem": self.screen.problem if self.screen else None,
                "buzzer_problem": self.buzzer.problem if self.buzzer else None,
                "log": str(self.config.log_path), "log_problem": self.session.problem if self.session else "no session log",
                "profile": self.profile, "last_errors": list(self.recent_errors)}

    def _control_reload(self, request: dict) -> dict:
        done, answer = threading.Event(), {}
        self._reload_waiters.append((done, answer))
        self._reload = True
        if not done.wait(20):
            return {"accepted": False, "errors": ["the service did not get to the reload within 20 s"]}
        return answer

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        errors = self.load_rules()
        if errors:
            for e in errors:
                log.error("rules: %s", e)
            self.notifier.send(f"STATUS=cannot start: {errors[0]}")
            return 1
        recorder = _RecentErrors(self.recent_errors)
        logging.getLogger().addHandler(recorder)
        self.load_model()
        combination_error = self.load_combination()
        if combination_error:
            log.error("combination: %s", combination_error)
            self.notifier.send(f"STATUS=cannot start: {combination_error}")
            logging.getLogger().removeHandler(recorder)
            return 1
        from .pose_estimator import PoseEstimator

        estimator = (self._estimator_factory or (lambda: PoseEstimator(video=True)))()
        self.coach = Coach(self.rulebook, CoachSettings(**self.config.section("coach")))
        disp = self.config.section("display")
        self.screen = Screen(lambda: open_device(disp["driver"], disp["i2c_port"], disp["i2c_address"], disp["rotate"],
                                                 disp["emulator_output"]), disp["min_interval"])
        self.screen.show(None, force=True)
        buzz = self.config.section("buzzer")
        self.buzzer = BuzzerPlayer(buzz["pin"], buzz["tonal"], buzz["quiet_hours"]) if buzz["enabled"] else None
        self.session = self._open_session()
        control = ControlServer(self.config.control_socket,
                                {"status": self._control_status, "reload": self._control_reload}).start()
        self.frames = LatestFrame(self.source, realtime=self.config["camera.realtime"],
                                  retry_max=self.config["camera.retry_max"]).start()
        try:
            self._loop(estimator)
        finally:
            self.frames.stop()
            self.notifier.send("STOPPING=1")
            if control:
                control.close()
            while self._reload_waiters:  # answer anyone still waiting for a reload
                done, answer = self._reload_waiters.pop()
                answer.update(accepted=False, errors=["the service is stopping"])
                done.set()
            if self.combination:
                self._combination_done(self.combination.finish())
            if self.session:
                self._log_events(self.session, self.coach.finish(self._last_time))
                try:
                    self.session.close(self.stats.frames, self.stats.dropped)
                except Exception as exc:  # a full disk at the very end: the log says what it could
                    log.error("session log %s: %s", self.session.path, exc)
            self.screen.close()
            if self.buzzer:
                self.buzzer.close()
            estimator.close()
            log.info("stopped: %s", json.dumps(self.stats.summary()))
            logging.getLogger().removeHandler(recorder)
            self.notifier.close()
        return 0

    def _loop(self, estimator) -> None:
        frames, camera_problem = self.frames, None
        while not self._stop:
            if self._reload:
                self._reload = False
                self.reload()
            got = frames.get(timeout=0.5)
            self.stats.dropped = frames.dropped
            self.notifier.ping()
            if got is None:
                if frames.ended:
                    return
                if frames.problem and frames.problem != camera_problem:
                    camera_problem = frames.problem
                    if self.buzzer:
                        self.buzzer.play("fault")
                    if self.session:
                        self.session.add_event(time.time(), "camera_missing", {"reason": camera_problem})
                    if self.stats.ready_after is None:
                        self._ready(f"waiting for the camera: {camera_problem}")
                if frames.problem:
                    self.screen.show(None, "Camera missing - retrying", force=True)
                    self._status(f"camera missing: {frames.problem}")
                continue
            if camera_problem and self.session:
                self.session.add_event(time.time(), "camera_back", {})
            camera_problem = None
            state = self._process(got, estimator)
            if state is None:
                continue
            self._feedback(state)
            self.stats.latencies.append(time.monotonic() - got[1])
            if self.stats.ready_after is None:
                self._ready(f"coaching from {self.source.name}")
            self._status()

    def _process(self, got, estimator) -> CoachState | None:
        frame, _captured = got
        try:
            pose = estimator.estimate(frame.image, frame.timestamp)
        except Exception as exc:  # MediaPipe on a broken frame: skip it, count it
            self.stats.pose_errors += 1
            if self.stats.pose_errors in (1, 10, 100) or self.stats.pose_errors % 1000 == 0:
                log.warning("frame %d skipped (%s: %s); %d so far", frame.index, exc.__class__.__name__, exc,
                            self.stats.pose_errors)
            return None
        self.stats.frames += 1
        self.stats.frame_times.append(time.monotonic())
        self._last_time = frame.timestamp
        if pose is None:
            self.stats.nobody += 1
            scores = {NONE: 1.0}
        elif self.classifier is None:
            scores = dict(self.rulebook.best_matches(pose)) or {NONE: 1.0}
        elif self.classifier.kind == "landmarks":
            scores = self.classifier.classify_pose(pose).scores
        else:
            scores = self.classifier.classify_image(frame.image, pose).scores
        state = self.coach.update(frame.timestamp, pose, scores)
        if self.combination:
            for result in self.combination.update(frame.index, frame.timestamp, scores):
                self._combination_done(result)
        if self.reference:  # the screen shows the live score against the reference clip
            state = self.reference.show(state, pose)
        return state

    def _feedback(self, state: CoachState) -> None:
        screen, buzzer, session = self.screen, self.buzzer, self.session
        notice = self._notice if time.monotonic() < self._notice_until else ""
        screen.show(state, notice, force=bool(state.events), combo=self.combination.line if self.combination else "")
        if buzzer:
            for e in state.events:
                if e.kind in EVENT_PATTERNS:
                    buzzer.play(EVENT_PATTERNS[e.kind])
        if self.console:
            self.console.show(state)
        if session:
            self._log_events(session, state.events)
            if state.verdict is not None:
                session.add_measurements(state.time, state.move, state.verdict.results)

    @staticmethod
    def _log_events(session: SessionLog, events: tuple[Event, ...] | list[Event]) -> None:
        for e in events:
            d = e.detail
            if e.kind == "move_end":
                session.add_move(e.move, d["start"], d["duration"], d["peak_confidence"], d["mean_confidence"], d["held"])
            elif e.kind == "correction":
                session.add_correction(e.time, e.move, d["check"], d["message"], d["severity"], d["value"])
            elif e.kind in ("well_done", "hint"):
                session.add_event(time.time(), e.kind, {"move": e.move, "at": e.time, **d})

    def load_combination(self) -> str:
        """Follow the configured combination file, if any; its error (file:line: reason) if broken."""
        from .follow import LiveCombination
        from .segmenter import SegmenterSettings

        path = self.config["combination.file"]
        if not path:
            return ""
        known = set(self.rulebook.moves) | set(self.classifier.labels if self.classifier else ())
        try:
            combination = load_combination(path, known)
        except CombinationError as exc:
            return str(exc)
        c = self.config.section("combination")
        settings = SegmenterSettings(threshold=c["threshold"], release=c["release"], min_frames=c["min_frames"],
                                     latency_frames=c["latency_frames"])
        titles = {m: r.title for m, r in self.rulebook.moves.items()}
        self.combination = LiveCombination(combination, settings, lambda m: titles.get(m, m.replace("_", " ").capitalize()))
        log.info("following the combination %s: %s", path, ", ".join(combination.moves))
        return ""

    def _combination_done(self, result) -> None:
        """An attempt at the combination scored: say so in the log, on the console and in the session log."""
        if result is None:
            return
        log.info("combination %s: score %d/100; %s", result.title, result.score,
                 "; ".join(f"{k} {m}" for k, m in result.flags) or "every step matched")
        if self.console and not self.console.as_json:
            print("\n".join(result.describe(self.combination.title_of)), file=self.console.stream, flush=True)
        elif self.console:
            print(json.dumps({"time": round(self._last_time, 3), "event": "combination", **result.to_json()},
                             ensure_ascii=False), file=self.console.stream, flush=True)
        if self.session:
            self.session.add_event(time.time(), "combination", result.to_json())

    def _open_session(self) -> SessionLog | None:
        path = self.config.log_path
        try:
            return SessionLog(path, source=self.source.name, model=str(self.classifier.path if self.classifier else ""),
                              rules=self.rules_version, profile=self.profile)
        except (OSError, SessionLogError, sqlite3.Error) as exc:  # a read-only state dir, a broken file
            log.error("session log %s: %s; coaching without a log", path, exc)
            return None

    def _ready(self, status: str) -> None:
        self.stats.ready_after = time.monotonic() - self.stats.started
        log.info("ready after %.2f s: %s", self.stats.ready_after, status)
        self.notifier.ready(status)

    def _status(self, problem: str = "") -> None:
        now = time.monotonic()
        if now - self._last_status < self.config["service.status_interval"]:
            return
        self._last_status = now
        move = self.coach.move if self.coach.move != NONE else "no move"
        text = problem or (f"{self.stats.fps:.1f} fps, {move}, {self.stats.frames} frames, {self.stats.dropped} dropped, "
                           f"{self.stats.pose_errors} bad")
        self.notifier.status(text)
