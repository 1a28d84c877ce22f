"""The ``pi-coach`` command: one subcommand per user task.

Errors a user can cause (a bad rule file, a missing photo, a broken landmark file) end with one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from . import __version__
from .classify import ModelError
from .feedback.session_log import SessionLogError
from .config import DISPLAYS
from .landmark_files import LandmarkFileError, read_landmarks
from .moves import NONE
from .pose import Pose
from .rulebook import VIEW_WORDS, RuleError, Rulebook, Verdict, evaluate, load_rules
from .measures import VIEWS
from .rulestore import DEFAULT_MODEL_STORE, DEFAULT_STORE, RuleStore, StoreError
from .sources import SourceError

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input, reported as one line."""


def _installed(env: str, in_checkout: str, on_box: str) -> Path:
    """The environment variable's path, else the checkout's copy when run from one, else the box's."""
    if os.environ.get(env):
        return Path(os.environ[env])
    checkout = Path(__file__).resolve().parents[1] / in_checkout
    return checkout if checkout.exists() else Path(on_box)


def default_rules_dir() -> Path:
    """``$PI_COACH_RULES``, else the checkout's ``rules/ballet``, else the box's live rule set
    (``/etc/pi-coach/rules/current``, see rulestore)."""
    return _installed("PI_COACH_RULES", "rules/ballet", "/etc/pi-coach/rules/current")


def default_model() -> Path:
    """``$PI_COACH_MODEL``, else the checkout's ``models/moves.tflite``, else the box's."""
    return _installed("PI_COACH_MODEL", "models/moves.tflite", "/etc/pi-coach/models/current/moves.tflite")


def load_classifier(args):
    """The move classifier, or None with ``--no-model`` or when the default model is not installed
    (the rules' own match is used then); a model that is there but broken is an error."""
    from .classify import MoveClassifier

    if args.move or args.no_model:
        return None
    if args.model is None and not default_model().is_file():
        print(f"pi-coach: no move model at {default_model()}: using the rule files' match", file=sys.stderr)
        return None
    return MoveClassifier(args.model or default_model())


def load_rulebook(path: Path, strict: bool) -> Rulebook:
    """Load rules; bad files are reported on stderr. Strict: any bad file is an error."""
    book, errors = load_rules(path)
    fatal = errors and (strict or not book.moves)
    if fatal and len(errors) == 1:
        raise errors[0]
    for err in errors:
        print(f"pi-coach: rule error: {err}", file=sys.stderr)
    if fatal:
        raise UserError(f"{len(errors)} bad rule files in {path}")
    return book


def _with_profile(book: Rulebook, profile: str) -> Rulebook:
    """Apply a profile given as a file, or by name from the profiles folder."""
    from .profiles import apply_profile, load_profile

    path = Path(profile) if profile.endswith(".toml") else default_profiles_dir() / f"{profile}.toml"
    return apply_profile(book, load_profile(path), path)


def default_profiles_dir() -> Path:
    """``$PI_COACH_PROFILES``, else the checkout's ``rules/profiles``, else ``/etc/pi-coach/profiles``."""
    return _installed("PI_COACH_PROFILES", "rules/profiles", "/etc/pi-coach/profiles")


def _pick_move(book: Rulebook, move: str | None, rules_path: Path) -> str | None:
    if move is not None and move not in book:
        raise UserError(f"no rules for move {move!r} in {rules_path} (known: {', '.join(sorted(book.moves))})")
    return move


# --- analyze -----------------------------------------------------------------------------------


def cmd_analyze(args) -> int:
    from . import sources
    from .analysis import analyze_pose
    from .pose_estimator import PoseEstimator

    book = load_rulebook(args.rules, strict=False)
    if args.profile:
        book = _with_profile(book, args.profile)
    move = _pick_move(book, args.move, args.rules)
    kind = sources.kind_of(args.path)
    classifier = load_classifier(args)
    combination = _combination_arg(args, book, classifier, kind, move)
    if kind == "video":
        return _analyze_video(args, book, move, classifier, combination)
    frames = list(sources.image_frames(args.path))
    results = []
    with PoseEstimator(video=False) as estimator:
        for frame in frames:
            pose = estimator.estimate(frame.image)
            guess = classifier.classify_still(pose) if classifier and pose is not None else None
            results.append((frame, analyze_pose(pose, book, move, guess=guess, name=frame.name, index=frame.index)))
    if args.annotate:
        _annotate_images(results, book, Path(args.annotate), kind)
    if args.json:
        docs = [a.to_json() for _, a in results]
        print(json.dumps(docs[0] if kind == "image" else {"images": docs}, indent=2, ensure_ascii=False))
    else:
        for _, a in results:
            print(_describe(a, book))
    return 0


def _annotate_images(results, book: Rulebook, out: Path, kind: str) -> None:
    import cv2

    from .draw import annotate

    if kind == "folder":
        out.mkdir(parents=True, exist_ok=True)
    for frame, a in results:
        target = out / (Path(frame.name).stem + ".png") if kind == "folder" else out
        if not cv2.imwrite(str(target), annotate(frame.image, a, book)):
            raise UserError(f"{target}: cannot write the annotated image (use .png or .jpg)")
        print(f"annotated: {target}", file=sys.stderr)


def _combination_arg(args, book: Rulebook, classifier, kind: str, move: str | None):
    """``--combination FILE`` loaded against the moves the rules and the model know (or None)."""
    from .combination import CombinationError, load_combination

    if not args.combination:
        return None
    if kind != "video" or move is not None:
        raise UserError("--combination follows the moves of a video: give a video, and no --move")
    try:
        return load_combination(args.combination, set(book.moves) | set(classifier.labels if classifier else ()))
    except CombinationError as exc:
        raise UserError(str(exc)) from None


def _analyze_video(args, book: Rulebook, move: str | None, classifier, combination=None) -> int:
    from tqdm import tqdm

    from . import sources
    from .analysis import analyze_pose, segment
    from .draw import VideoWriter, annotate
    from .pose_estimator import PoseEstimator

    fps, count = sources.video_info(args.path)
    writer = VideoWriter(args.annotate, fps / args.step) if args.annotate else None
    analyses, frame_scores = [], []
    with PoseEstimator(video=True) as estimator:
        for frame in tqdm(sources.video_frames(args.path, args.step), total=count // args.step or None,
                          desc="analyze", unit="frame", disable=args.quiet, file=sys.stderr):
            pose = estimator.estimate(frame.image, frame.timestamp)
            guess = classifier.classify_pose(pose) if classifier else None
            a = analyze_pose(pose, book, move, guess=guess, name=frame.name, index=frame.index, timestamp=frame.timestamp)
            analyses.append(a)
            if combination:  # the class scores, as the service feeds the combination follower
                scores = guess.scores if guess else dict(book.best_matches(pose)) if pose is not None else {}
                frame_scores.append((frame.index, frame.timestamp, scores or {NONE: 1.0}))
            if writer:
                writer.write(annotate(frame.image, a, book))
    if writer:
        writer.close()
        print(f"annotated: {args.annotate}", file=sys.stderr)
    segments = segment(analyses, book, move, rate=fps / args.step)
    followed = None
    if combination:
        from .follow import follow_clip

        followed = follow_clip(combination, frame_scores)
    if args.json:
        doc = {"source": str(args.path), "fps": fps, "frames_analyzed": len(analyses),
               "pose_found": sum(a.pose is not None for a in analyses),
               "segments": [s.to_json() for s in segments], "frames": [a.to_json() for a in analyses]}
        if followed:
            doc["combination"] = {**followed[1].to_json(), "file": str(combination.path),
                                  "move_segments": [s.to_json() for s in followed[0]]}
        print(json.dumps(doc, indent=1, ensure_ascii=False))
        return 0
    found = sum(a.pose is not None for a in analyses)
    print(f"{args.path}: {len(analyses)} frames at {fps:.0f} fps, dancer found in {found}")
    for s in segments:
        name = book[s.move].title if s.move in book else s.move
        conf = f"confidence {s.confidence:.2f}" if s.move != NONE else "no known move"
        print(f"  {s.start_time:6.2f}-{s.end_time:6.2f} s  frames {s.start}-{s.end}  {name} ({conf})")
        for c in s.corrections:
            print(f"      [{c['severity']}] {c['message']}  ({c['check']}, in {c['share']:.0%} of frames)")
    if followed:
        print("\n".join(followed[1].describe(lambda m: book[m].title if m in book else m)))
    return 0


def _describe(a, book: Rulebook) -> str:
    if a.pose is None:
        return f"{a.name}: nobody found: step into the frame"
    how = {"given": "given", "model": f"model confidence {a.confidence:.2f}"}.get(a.move_from, f"rule-based match {a.confidence:.2f}")
    if a.move == NONE:
        near = ", ".join(f"{m} {s:.2f}" for m, s in a.alternatives) or "nothing close"
        return f"{a.name}: no known move ({how}; next: {near})"
    title = book[a.move].title if a.move in book else a.move
    if a.verdict is None:
        return f"{a.name}: {title} ({how}); no rule file for this move, so nothing to check"
    lines = [f"{a.name}: {title} ({how}); seen from {VIEW_WORDS.get(a.verdict.view, 'an unclear angle')}"]
    if book[a.move].uses_sides:
        lines[0] += f"; working side: {a.verdict.side or 'cannot tell'}"
    if a.alternatives:
        lines[0] += "; next: " + ", ".join(f"{m} {s:.2f}" for m, s in a.alternatives)
    lines += _verdict_lines(a.verdict)
    return "\n".join(lines)


def _verdict_lines(v: Verdict) -> list[str]:
    lines = []
    for r in v.corrections:
        unit = "°" if r.unit == "deg" else ""
        lines.append(f"  ✗ [{r.severity}] {r.message}  ({r.check} = {r.value:.2f}{unit}, band {r.band[0]:g}-{r.band[1]:g}{unit})")
    for r in v.unmeasured:
        lines.append(f"  ? {r.check}: cannot measure: {r.reason}")
    ok = sum(r.status == "ok" for r in v.results)
    lines.append(f"  ✓ {ok} of {len(v.results)} checks in band")
    return lines


# --- check -------------------------------------------------------------------------------------


def _frame_size(text: str | None) -> tuple[int, int]:
    if text is None:
        return 1, 1
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        assert w > 0 and h > 0
    except (ValueError, AssertionError):
        raise UserError(f"--frame-size must look like 640x480, got {text!r}") from None
    return w, h


def cmd_check(args) -> int:
    book = load_rulebook(args.rules, strict=True)
    move = _pick_move(book, args.move, args.rules)
    if move is None:
        if len(book.moves) != 1:
            raise UserError(f"{args.rules} holds rules for {len(book.moves)} moves: say which with --move")
        move = next(iter(book.moves))
    rules = book[move]
    clip = read_landmarks(args.landmarks)
    width, height = _frame_size(args.frame_size)
    stats = {c.id: {"ok": 0, "low": 0, "high": 0, "unmeasured": 0} for c in rules.checks}
    by_label: dict[str, dict[str, list[int]]] = {}  # label -> check -> [failed, measured]
    for t, arr in enumerate(clip.frames):
        verdict = evaluate(rules, Pose(arr, width, height, t))
        label = clip.labels[t] if clip.labels is not None else None
        for r in verdict.results:
            stats[r.check][r.status] += 1
            if label is not None and r.status != "unmeasured":
                counts = by_label.setdefault(label, {}).setdefault(r.check, [0, 0])
                counts[0] += r.status != "ok"
                counts[1] += 1
        if args.json:
            print(json.dumps({"frame": t, "label": label, "ok": verdict.ok, "side": verdict.side,
                              "failed": [{"check": r.check, "direction": r.status, "value": round(r.value, 3)}
                                         for r in verdict.corrections],
                              "unmeasured": [{"check": r.check, "reason": r.reason, "missing": list(r.missing)}
                                             for r in verdict.unmeasured]}))
        elif not args.summary:
            tag = f" [{label}]" if label is not None else ""
            faults = "; ".join(f"{r.check} {r.status} {r.value:.2f}" for r in verdict.corrections)
            unmeasured = ", ".join(r.check for r in verdict.unmeasured)
            print(f"frame {t}{tag}: {'OK' if verdict.ok else 'FAULT ' + faults}"
                  + (f" (cannot measure: {unmeasured})" if unmeasured else ""))
    if not args.json:
        _print_check_summary(args.landmarks, rules.move, len(clip.frames), stats, by_label)
    return 0


def _print_check_summary(path, move: str, n: int, stats: dict, by_label: dict) -> None:
    print(f"\n{path}: {n} frames checked against {move}")
    print(f"  {'check':28s} {'ok':>7s} {'low':>7s} {'high':>7s} {'unmeasured':>11s}")
    for check, s in stats.items():
        print(f"  {check:28s} {s['ok']:7d} {s['low']:7d} {s['high']:7d} {s['unmeasured']:11d}")
    for label, checks in sorted(by_label.items()):
        parts = ", ".join(f"{c} {f / m:.0%}" for c, (f, m) in checks.items() if m)
        print(f"  label {label}: failed in share of measured frames: {parts}")


# --- rules validate ----------------------------------------------------------------------------


def cmd_rules_validate(args) -> int:
    bad = 0
    for path in args.paths:
        book, errors = load_rules(path)
        for err in errors:
            print(err, file=sys.stderr)
        bad += len(errors)
        for move, rules in sorted(book.moves.items()):
            print(f"ok: {rules.path}: {move}, {len(rules.checks)} checks, {len(rules.match)} match conditions")
    return 1 if bad else 0


def cmd_rules_list(args) -> int:
    store = RuleStore(args.store)
    cur = store.current()
    path = args.path or (cur.path if cur else default_rules_dir())
    book, errors = load_rules(path)
    for err in errors:
        print(err, file=sys.stderr)
    if args.path is None and cur:
        m = cur.manifest
        print(f"live rule set {cur.number} ({store.root}): installed {m.get('installed', '?')} by {m.get('by', '?')} "
              f"from {m.get('from', '?')}")
    for move, rules in sorted(book.moves.items()):
        print(f"{move} (version {rules.version}): {rules.path}")
        for c in rules.checks:
            cond = c.condition
            views = f", views {'/'.join(c.views)}" if set(c.views) != set(VIEWS) else ""
            print(f"  {c.id:28s} {cond.measure:14s} band {cond.band[0]:g} to {cond.band[1]:g} {cond.unit:5s} "
                  f"{c.severity}{views}")
    return 1 if errors else 0


def _reload_service(args) -> int:
    """Ask the running service to reload; 0 when it accepted (or none is running)."""
    from .control import ControlError, request

    if args.no_reload:
        return 0
    socket_path = _control_socket(args)
    try:
        answer = request(socket_path, "reload")
    except ControlError as exc:
        print(f"the service was not told ({exc}); it reads the new rules when it next starts or reloads")
        return 0
    if answer.get("accepted"):
        print(f"the service accepted the new rules: {answer.get('rules')}")
        return 0
    print("the service refused the new rules:", *answer.get("errors", []), sep="\n  ", file=sys.stderr)
    return 1


def _control_socket(args) -> Path:
    from .config import ConfigError, load_config

    if getattr(args, "socket", None):
        return Path(args.socket)
    try:
        config = load_config(args.config).with_overrides({"session.state_dir": args.state_dir})
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    return config.control_socket


def cmd_rules_install(args) -> int:
    from .rulestore import RuleSetRefused

    store = RuleStore(args.store)
    before = store.current()
    try:
        new, book = store.install(args.source)
    except RuleSetRefused as exc:
        for err in exc.errors:
            print(err, file=sys.stderr)
        print(f"pi-coach: refused: the live rules ({store.root}) are unchanged", file=sys.stderr)
        return 1
    print(f"installed rule set {new.number} ({', '.join(sorted(book.moves))}) from {args.source}")
    if _reload_service(args) and before is not None:
        store.rollback(before.number)
        print(f"rolled back to rule set {before.number}, which the service runs", file=sys.stderr)
        return 1
    return 0


def cmd_rules_rollback(args) -> int:
    store = RuleStore(args.store)
    target = store.rollback(args.to)
    print(f"rule set {target.number} is live again ({target.manifest.get('from', '?')})")
    return _reload_service(args)


def cmd_rules_diff(args) -> int:
    from .rulestore import diff

    store = RuleStore(args.store)
    cur = store.current()
    if cur is None:
        raise UserError(f"{store.root}: no live rule set to compare with")
    if args.source is None:
        older = [s for s in store.sets() if s.number < cur.number]
        if not older:
            raise UserError(f"{store.root}: rule set {cur.number} is the only one")
        old, new = older[-1].path, cur.path
    else:
        old, new = cur.path, args.source
    text = diff(old, new)
    print(text or f"no differences between {old} and {new}", end="" if text else "\n")
    return 0


def cmd_models(args) -> int:
    from .rulestore import ModelStore

    store = ModelStore(args.store)
    if args.models_command == "rollback":
        target = store.rollback(args.to)
        print(f"model set {target.number} is live again ({target.manifest.get('from', '?')})")
        return _reload_service(args)
    rules = RuleStore(args.rules_store)
    book = load_rulebook(args.rules or (rules.current_link if rules.current() else default_rules_dir()), strict=False)
    new, missing = store.install(args.model, book, args.recognise_only)
    labels = new.manifest.get("labels", [])
    print(f"installed model set {new.number}: {len(labels)} classes ({', '.join(labels)})")
    if missing:
        print(f"recognised without checks (no rule file): {', '.join(missing)}")
    return _reload_service(args)


def cmd_status(args) -> int:
    import shutil

    from .control import ControlError, request

    socket_path = _control_socket(args)
    try:
        st = request(socket_path, "status", timeout=5)
    except ControlError as exc:
        print(f"pi-coach: not running ({exc})")
        return 3
    if args.json:
        print(json.dumps(st, indent=1))
        return 0
    up = st["uptime_s"]
    print(f"pi-coach: {st['state']} for {int(up // 3600)}h{int(up % 3600 // 60):02d}m, {st['fps']} fps, "
          f"move: {st['move']}")
    print(f"  frames {st['frames']}, dropped {st['dropped']}, bad {st['bad_frames']}")
    print(f"  camera  {st['camera']}" + (f"  PROBLEM: {st['camera_problem']}" if st["camera_problem"] else ""))
    print(f"  model   {st['model']}")
    print(f"  rules   {st['rules_dir']}: {st['rules']}")
    print(f"  profile {st['profile'] or '(none)'}")
    for what in ("display", "buzzer", "log"):
        if st.get(f"{what}_problem"):
            print(f"  {what}: {st[what + '_problem']}")
    usage = shutil.disk_usage(Path(st["log"]).parent)
    print(f"  disk    {usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB ({Path(st['log']).parent})")
    if st["last_errors"]:
        print("  last errors:", *st["last_errors"], sep="\n    ")
    return 0


def cmd_profile(args) -> int:
    from .profiles import active_profile, load_profile, use_profile

    directory = Path(args.dir)
    if args.profile_command == "list":
        active = active_profile(directory)
        for f in sorted(directory.glob("*.toml")):
            print(f"{'*' if f.stem == active else ' '} {f.stem}: {len(load_profile(f))} bands")
        return 0
    if args.profile_command == "show":
        for (move, check), band in load_profile(directory / f"{args.name}.toml").items():
            print(f"{move}.{check}: band {band[0]:g} to {band[1]:g}")
        return 0
    name = "" if args.name == "none" else args.name
    use_profile(name, directory)
    print(f"profile {name or '(none)'} is in use")
    return _reload_service(args)


def cmd_sessions(args) -> int:
    from . import sessions

    db = sessions.open_log(_log_path(args))
    if args.sessions_command == "list":
        for r in sessions.list_sessions(db):
            dur = f"{r.duration / 60:6.1f} min" if r.duration is not None else "  (unfinished)"
            print(f"{r.id:4d}  {sessions.when(r.started)}  {dur}  {r.moves:4d} moves  {r.corrections:4d} corrections  "
                  f"{r.profile or '-':10s} {r.source}")
        return 0
    ids = sessions.session_ids(db, args.which)
    if args.sessions_command == "show":
        for s in ids:
            sessions.print_show(db, s, sys.stdout)
        return 0
    report = sessions.export(db, ids, args.out)
    print(f"wrote {report} and moves.csv, corrections.csv, measurements.csv beside it")
    return 0


def _log_path(args) -> Path:
    from .config import ConfigError, load_config

    if args.log:
        return Path(args.log)
    try:
        return load_config(args.config).with_overrides({"session.state_dir": args.state_dir}).log_path
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def cmd_record(args) -> int:
    from .config import ConfigError, load_config
    from .feedback.buzzer import BuzzerPlayer
    from .feedback.oled import Screen, open_device
    from .pose_estimator import PoseEstimator
    from .record import TakePlan, record
    from .sources.live import LatestFrame, open_source

    try:
        config = load_config(args.config).with_overrides({"camera.source": args.source, "display.driver": args.display,
                                                          "session.state_dir": args.state_dir})
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    setup_logging()
    cam, disp, buzz = config.section("camera"), config.section("display"), config.section("buzzer")
    out = Path(args.out) if args.out else config.state_dir / "recordings"
    plan = TakePlan(args.move, args.takes, args.seconds, args.countdown, args.rest, args.dancer, args.camera, args.frames)
    screen = Screen(lambda: open_device(disp["driver"], disp["i2c_port"], disp["i2c_address"], disp["rotate"],
                                        disp["emulator_output"]), 0.0)
    buzzer = BuzzerPlayer(buzz["pin"], buzz["tonal"], buzz["quiet_hours"]) if buzz["enabled"] else None
    frames = LatestFrame(open_source(cam["source"], cam["width"], cam["height"], cam["fps"], cam["loop"]),
                         realtime=True, retry_max=cam["retry_max"]).start()
    try:
        with PoseEstimator(video=True) as estimator:
            rows = record(plan, frames, estimator, out, screen, buzzer)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    finally:
        frames.stop()
        screen.close()
        if buzzer:
            buzzer.close()
    print(f"{len(rows)} takes of {args.move} in {out} (labels.csv, landmarks/); on the desktop: "
          f"python -m tools.train {out} SYNTHETIC_DATA... --ship NEW_MODEL_DIR")
    return 0


def _frame_range(text: str | None, what: str) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise UserError(f"--{what}-range {text!r}: expected A:B frame numbers, e.g. 128:160") from None
    return a, b


def _clip_arg(path: Path, size=None, fps=None, progress: bool = False):
    """A clip named on the command line (video or landmark file); a bad one is one line naming it."""
    from .clips import load_clip

    try:
        return load_clip(path, size, fps, progress=progress)
    except ValueError as exc:  # AudioError and the clip's own complaints are ValueErrors
        if isinstance(exc, (SourceError, LandmarkFileError)):
            raise  # these name the file already and main() reports them
        raise UserError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from None


def cmd_compare(args) -> int:
    from .clips import compare_clips
    from .compare import feedback, to_json

    size = _frame_size(args.frame_size) if args.frame_size else None
    clips = []
    for path, rng, what in ((args.reference, args.ref_range, "ref"), (args.attempt, args.attempt_range, "attempt")):
        clip = _clip_arg(path, size, args.fps, progress=not args.quiet)
        span = _frame_range(rng, what)
        try:
            clips.append(clip.cut(*span) if span else clip)
        except ValueError as exc:  # a range outside the clip; the message names the file
            raise UserError(str(exc)) from None
    ref, att = clips
    try:
        comp = compare_clips(ref, att, args.tolerance, not args.no_audio, not args.no_mirror, args.floor)
    except ValueError as exc:
        raise UserError(f"{args.reference} against {args.attempt}: {exc}") from None
    lines = feedback(comp, att.first_frame, ref.first_frame)
    if args.json:
        print(json.dumps({"reference": str(args.reference), "attempt": str(args.attempt), **to_json(comp, att.first_frame, ref.first_frame)}))
    else:
        print(f"{args.attempt} against {args.reference}")
        print("\n".join(lines))
    if args.playback or args.report:
        from .compare_draw import playback, report

        if args.playback:
            print(f"playback: {playback(args.playback, ref.landmarks, att.at_rate(ref.fps).landmarks, comp, ref.size, att.size, ref.first_frame, att.first_frame, progress=not args.quiet)}", file=sys.stderr)
        if args.report:
            title = f"{Path(args.attempt).name} against {Path(args.reference).name}"
            print(f"report: {report(args.report, comp, lines, title, att.first_frame)}", file=sys.stderr)
    return 0


# --- run (the appliance) -----------------------------------------------------------------------


class JournalFormatter(logging.Formatter):
    """Log lines for journald: a ``<N>`` syslog priority prefix, which journald turns into the level."""

    PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        return f"<{self.PRIORITIES.get(record.levelno, 6)}>{super().format(record)}"


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):  # under systemd: stderr goes to the journal
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)


def cmd_run(args) -> int:
    from .config import ConfigError, load_config
    from .service import ConsoleSink, Service

    try:
        config = load_config(args.config)
        display = args.display
        if display == "oled":  # the OLED the config names (an ssd1306 unless it says sh1106)
            display = config["display.driver"] if config["display.driver"] in ("ssd1306", "sh1106") else "ssd1306"
        config = config.with_overrides({
            "camera.source": args.source, "display.driver": display, "session.state_dir": args.state_dir,
            "display.emulator_output": args.emulator_output, "rules.dir": args.rules,
            "model.path": "none" if args.no_model else str(args.model) if args.model else None,
            "camera.realtime": False if args.fast else None, "camera.loop": True if args.loop else None,
            "combination.file": str(args.combination) if args.combination else None})
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    setup_logging(args.verbose)
    console = None if args.quiet else ConsoleSink(as_json=args.json)
    reference = None
    if args.reference:  # a take from pi-coach record (or any clip compare takes) to coach against
        from .live_reference import ReferenceFollower

        reference = ReferenceFollower(_clip_arg(args.reference, progress=True))
    service = Service(config, console=console, reference=reference)
    service.install_signals()
    code = service.run()
    if args.stats:
        Path(args.stats).write_text(json.dumps(service.stats.summary(), indent=1))
    return code


# --- entry point -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pi-coach", description="Offline dance-technique coach.")
    parser.add_argument("--version", action="version", version=f"pi-coach {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("analyze", help="find the dancer in a photo, a folder of photos or a video and say what to correct")
    p.add_argument("path", type=Path, help="an image, a folder of images or a video file")
    p.add_argument("--move", help="the move being danced (default: the best rule-based match per frame)")
    p.add_argument("--rules", type=Path, default=default_rules_dir(), help="rule file or directory (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--annotate", metavar="OUT", help="write an annotated image (.png/.jpg; a folder for a folder) or video (.mp4/.gif)")
    p.add_argument("--step", type=int, default=1, help="video: analyse every N-th frame (default 1)")
    p.add_argument("--model", type=Path, help=f"move classifier .tflite (default: {default_model()})")
    p.add_argument("--no-model", action="store_true", help="recognise the move by the rule files' match instead")
    p.add_argument("--profile", help="a dancer profile (NAME in the profiles folder, or a .toml file) to judge with")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--combination", type=Path, help="video: follow this combination file (rules/combinations/) and score it")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("check", help="run rules directly on a landmark file (.npy or landmark CSV)")
    p.add_argument("landmarks", type=Path, help="(T, 33, 4) .npy or a landmark CSV")
    p.add_argument("--rules", type=Path, required=True, help="a rule file, or a directory with --move")
    p.add_argument("--move", help="which move's rules, when --rules is a directory")
    p.add_argument("--frame-size", help="WxH of the frames the landmarks came from, for true angles (default: square)")
    p.add_argument("--json", action="store_true", help="one JSON object per frame (JSON lines)")
    p.add_argument("--summary", action="store_true", help="print only the summary")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("rules", help="work with rule files")
    rsub = p.add_subparsers(dest="rules_command", required=True)
    v = rsub.add_parser("validate", help="validate rule files; every error with file, line and reason")
    v.add_argument("paths", type=Path, nargs="+", help="rule files or directories")
    v.set_defaults(func=cmd_rules_validate)
    store_help = f"the box's rule store (default: $PI_COACH_RULE_STORE or {DEFAULT_STORE})"
    store_default = os.environ.get("PI_COACH_RULE_STORE", str(DEFAULT_STORE))

    def service_options(q, store=store_default, what="rule"):
        q.add_argument("--store", default=store, help=f"the box's {what} store (default: %(default)s)")
        q.add_argument("--config", type=Path, help="the service's config (to find its control socket)")
        q.add_argument("--state-dir", help="the service's state directory (where its control socket is)")
        q.add_argument("--socket", help="the service's control socket, directly")
        q.add_argument("--no-reload", action="store_true", help="do not tell the running service")

    v = rsub.add_parser("list", help="moves, checks and bands of the live rules (or of PATH), and where they came from")
    v.add_argument("path", type=Path, nargs="?", help="a rule file or folder (default: the live set)")
    v.add_argument("--store", default=store_default, help=store_help)
    v.set_defaults(func=cmd_rules_list)
    v = rsub.add_parser("install", help="validate, then atomically make FILE|DIR the live rules and reload the service")
    v.add_argument("source", type=Path, help="a rule file or a folder of rule files")
    service_options(v)
    v.set_defaults(func=cmd_rules_install)
    v = rsub.add_parser("rollback", help="make the previous rule set (or --to N) live again and reload")
    v.add_argument("--to", type=int, help="the rule set number (see rules list / the store's sets/)")
    service_options(v)
    v.set_defaults(func=cmd_rules_rollback)
    v = rsub.add_parser("diff", help="what changed: the live set against the previous one, or against SOURCE")
    v.add_argument("source", type=Path, nargs="?", help="a rule file or folder to compare the live set with")
    v.add_argument("--store", default=store_default, help=store_help)
    v.set_defaults(func=cmd_rules_diff)

    p = sub.add_parser("profile", help="dancer profiles: wider or narrower bands without editing the move files")
    p.add_argument("--dir", default=str(default_profiles_dir()), help="the profiles folder (default: %(default)s)")
    psub = p.add_subparsers(dest="profile_command", required=True)
    psub.add_parser("list", help="the profiles, * marks the one in use").set_defaults(func=cmd_profile)
    v = psub.add_parser("show", help="the bands a profile sets")
    v.add_argument("name")
    v.set_defaults(func=cmd_profile)
    v = psub.add_parser("use", help="switch the box to a profile (or none) and reload the service")
    v.add_argument("name", help="a profile name, or none")
    for flag, kw in (("--config", {"type": Path}), ("--state-dir", {}), ("--socket", {})):
        v.add_argument(flag, help="how to reach the running service (as for rules install)", **kw)
    v.add_argument("--no-reload", action="store_true", help="do not tell the running service")
    v.set_defaults(func=cmd_profile)

    p = sub.add_parser("record", help="teach the box a move: guided takes saved as landmark clips for tools.train")
    p.add_argument("--move", required=True, help="the move's id (snake_case), e.g. pas_de_bourree")
    p.add_argument("--takes", type=int, default=20)
    p.add_argument("--seconds", type=float, default=3.0, help="dancing time per take (default %(default)s)")
    p.add_argument("--countdown", type=int, default=3, help="seconds of get-ready before each take")
    p.add_argument("--rest", type=float, default=3.0, help="seconds between takes")
    p.add_argument("--dancer", default="dancer1", help="who dances (the subject column; train/test split by dancer)")
    p.add_argument("--camera", default="box", help="the camera name (a split column too)")
    p.add_argument("--frames", action="store_true", help="also save every frame as JPEG")
    p.add_argument("--out", help="dataset folder to add the takes to (default: STATE_DIR/recordings)")
    p.add_argument("--source", help="camera, webcam:N, a video file or an image folder (overrides camera.source)")
    p.add_argument("--display", choices=DISPLAYS, help="overrides display.driver")
    p.add_argument("--config", type=Path)
    p.add_argument("--state-dir")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("compare", help="score an attempt against a reference dancer, joint by joint (videos or landmark clips)")
    p.add_argument("reference", type=Path, help="the reference: a video file, or a landmark clip (.npy, .csv; pi-coach record takes)")
    p.add_argument("attempt", type=Path, help="the attempt, the same kinds")
    p.add_argument("--json", action="store_true", help="print one JSON document (scores, alignment, per-frame matches)")
    p.add_argument("--playback", metavar="OUT", help="write the aligned skeletons side by side (.mp4 or .gif)")
    p.add_argument("--report", metavar="OUT", help="write per-joint score bars and the error timeline (.png or .html)")
    p.add_argument("--ref-range", metavar="A:B", help="compare only frames A to B (exclusive) of the reference")
    p.add_argument("--attempt-range", metavar="A:B", help="compare only frames A to B (exclusive) of the attempt")
    p.add_argument("--tolerance", type=float, default=0.5, help="seconds a moment may be early or late (default %(default)s)")
    p.add_argument("--floor", type=float, default=5.0, help="least spread of a joint in degrees (default %(default)s)")
    p.add_argument("--no-audio", action="store_true", help="align by the poses even when both have a soundtrack")
    p.add_argument("--no-mirror", action="store_true", help="do not try the mirrored reference")
    p.add_argument("--frame-size", help="landmark files: WxH of the frames they came from (default: labels.csv or square)")
    p.add_argument("--fps", type=float, help="landmark files: their frame rate (default: labels.csv or 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sessions", help="what was danced: list, show or export (CSV and an HTML report) the session log")
    p.add_argument("--log", help="the session log (default: the config's state directory/sessions.db)")
    p.add_argument("--config", type=Path, help="the service's config (default: /etc/pi-coach/config.toml when present)")
    p.add_argument("--state-dir", help="the service's state directory")
    ssub = p.add_subparsers(dest="sessions_command", required=True)
    ssub.add_parser("list", help="every session: when, how long, moves, corrections").set_defaults(func=cmd_sessions)
    v = ssub.add_parser("show", help="one session: moves, top corrections, how the measured values moved")
    v.add_argument("which", nargs="?", default="last", help="a session number, last (default) or all")
    v.set_defaults(func=cmd_sessions)
    v = ssub.add_parser("export", help="CSV files and a self-contained HTML report with plots")
    v.add_argument("which", nargs="?", default="last", help="a session number, last (default) or all")
    v.add_argument("--out", default="pi-coach-report", help="folder to write (default: %(default)s)")
    v.set_defaults(func=cmd_sessions)

    p = sub.add_parser("models", help="swap the move model safely (a new move taught with record and tools.train)")
    msub = p.add_subparsers(dest="models_command", required=True)
    model_store = os.environ.get("PI_COACH_MODEL_STORE", str(DEFAULT_MODEL_STORE))
    v = msub.add_parser("install", help="check a .tflite (with its .json) and make it the live model, then reload")
    v.add_argument("model", type=Path)
    v.add_argument("--recognise-only", action="store_true",
                   help="install even if some of its moves have no rule file: they are named, not checked")
    v.add_argument("--rules", type=Path, help="the rules to check the labels against (default: the live rules)")
    v.add_argument("--rules-store", default=store_default, help=store_help)
    service_options(v, model_store, "model")
    v.set_defaults(func=cmd_models)
    v = msub.add_parser("rollback", help="make the previous model (or --to N) live again")
    v.add_argument("--to", type=int)
    service_options(v, model_store, "model")
    v.set_defaults(func=cmd_models)

    p = sub.add_parser("status", help="the running service: state, fps, move, rules, model, camera, disk, last errors")
    p.add_argument("--config", type=Path, help="the service's config (default: /etc/pi-coach/config.toml when present)")
    p.add_argument("--state-dir", help="the service's state directory")
    p.add_argument("--socket", help="the service's control socket, directly")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("run", help="the coach itself: camera, OLED and buzzer (the systemd service's command)")
    p.add_argument("--config", type=Path, help="config file (default: /etc/pi-coach/config.toml when present)")
    p.add_argument("--source", help="camera, webcam:N, a video file or an image folder (overrides camera.source)")
    p.add_argument("--display", choices=("oled", *DISPLAYS),
                   help="overrides display.driver; oled = the OLED driver the config names")
    p.add_argument("--emulator-output", help="--display emulator: a .gif, or a folder for PNGs")
    p.add_argument("--state-dir", help="where the session log goes (overrides session.state_dir)")
    p.add_argument("--rules", help="rule directory (overrides rules.dir)")
    p.add_argument("--model", type=Path, help="move model .tflite (overrides model.path)")
    p.add_argument("--no-model", action="store_true", help="recognise moves by the rule files' match (model.path = none)")
    p.add_argument("--fast", action="store_true", help="files: as fast as possible instead of at their own frame rate")
    p.add_argument("--loop", action="store_true", help="files: start again at the end")
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.add_argument("--quiet", action="store_true", help="print nothing but the log")
    p.add_argument("--stats", type=Path, help="write the run's figures (fps, drops, latency, RSS) as JSON here at the end")
    p.add_argument("--reference", type=Path, help="coach against this reference clip (a pi-coach record take, a landmark "
                   "file or a video): the screen shows the live score and the joint furthest off")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    p.add_argument("--combination", type=Path, help="follow this combination file live (overrides combination.file)")
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "step", 1) < 1:
        print("pi-coach: error: --step must be 1 or more", file=sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except (UserError, RuleError, SourceError, LandmarkFileError, ModelError, StoreError, SessionLogError) as exc:
        print(f"pi-coach: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
