"""Benchmarks, measured side by side in one run and reported as medians (never pass/fail).

    python -m tools.bench pipeline [--video FILE] [--frames N]
    python -m tools.bench daemon [--video FILE]
    python -m tools.bench soak [--minutes M]

``pipeline`` times every stage of ``pi-coach analyze`` per frame (decode, pose, classify, rules, drawing)
and, on the same frame in the same loop, MediaPipe alone (its own tracker, called directly),
so the ratio of the whole pipeline to MediaPipe alone is not skewed by load or clock drift.

``daemon`` runs the service (``pi-coach run``, dummy OLED, mock buzzer pins) on a video played at
camera speed, as systemd would start it (a real notify socket), and reports time to READY,
sustained fps, frames dropped, capture-to-feedback latency (median, p95) and peak RSS; then MediaPipe
alone on the same video in the same run, for the ratio.

``soak`` plays a video in a loop as fast as the service goes for many minutes and samples the
service's RSS and open file descriptors; they should stay flat.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_pipeline(video: Path, frames: int, rules: Path, model: Path) -> dict[str, list[float]]:
    """Per-frame milliseconds of each stage, and of MediaPipe alone on the same frames."""
    import cv2
    import mediapipe as mp
    from tqdm import tqdm

    from pi_coach.analysis import analyze_pose
    from pi_coach.classify import MoveClassifier
    from pi_coach.draw import annotate
    from pi_coach.pose_estimator import PoseEstimator
    from pi_coach.rulebook import load_rules

    book, errors = load_rules(rules)
    if errors:
        sys.exit(f"bench: bad rules: {errors[0]}")
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        sys.exit(f"bench: cannot open {video}")
    stages = ("decode", "pose", "classify", "rules", "drawing", "pipeline", "mediapipe alone")
    times: dict[str, list[float]] = {k: [] for k in stages}
    alone = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
    classifier = MoveClassifier(model)
    with PoseEstimator(video=True) as estimator, tqdm(total=frames, desc="bench pipeline", unit="frame") as bar:
        for _ in range(frames):
            t0 = time.perf_counter()
            ok, image = cap.read()
            t1 = time.perf_counter()
            if not ok:
                break
            pose = estimator.estimate(image)
            t2 = time.perf_counter()
            guess = classifier.classify_pose(pose)
            t3 = time.perf_counter()
            analysis = analyze_pose(pose, book, guess=guess)
            t4 = time.perf_counter()
            annotate(image, analysis, book)
            t5 = time.perf_counter()
            alone.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            t6 = time.perf_counter()
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0, t6 - t5)):
                times[key].append(dt * 1000)
            bar.update()
    alone.close()
    cap.release()
    return times


def report(times: dict[str, list[float]], warmup: int) -> None:
    medians = {k: statistics.median(v[warmup:]) for k, v in times.items() if len(v) > warmup}
    n = len(times["pipeline"]) - warmup
    print(f"\nmedian milliseconds per frame over {n} frames (first {warmup} skipped as warm-up)")
    for key, ms in medians.items():
        p90 = statistics.quantiles(times[key][warmup:], n=10)[-1]
        print(f"  {key:16s} {ms:8.2f}   p90 {p90:8.2f}")
    ratio = medians["pipeline"] / medians["mediapipe alone"]
    print(f"  pipeline / MediaPipe alone: {ratio:.2f}x   ({1000 / medians['pipeline']:.1f} fps whole pipeline)")


def _start_service(tmp: Path, video: Path, *extra: str):
    """``pi-coach run`` as systemd would start it; returns the process and an Event set at READY=1
    (a thread keeps reading the notify socket, as systemd does)."""
    import socket
    import subprocess
    import threading

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp / "notify"))
    ready = threading.Event()

    def listen():
        while True:
            if b"READY=1" in sock.recv(4096):
                ready.set()

    threading.Thread(target=listen, daemon=True).start()
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp / "notify"), GPIOZERO_PIN_FACTORY="mock")
    cmd = [sys.executable, "-m", "pi_coach.cli", "run", "--source", str(video), "--display", "dummy",
           "--state-dir", str(tmp), "--quiet", "--stats", str(tmp / "stats.json"), *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "log", "w"))
    return proc, ready


def bench_daemon(video: Path) -> None:
    import tempfile

    import cv2
    import mediapipe as mp

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        started = time.monotonic()
        proc, is_ready = _start_service(tmp, video)
        is_ready.wait()
        ready = time.monotonic() - started
        proc.wait()
        stats = json.loads((tmp / "stats.json").read_text())
    fps, count = cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FPS), 0
    alone, times = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1), []
    cap = cv2.VideoCapture(str(video))
    while True:
        ok, image = cap.read()
        if not ok:
            break
        t0 = time.perf_counter()
        alone.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        times.append((time.perf_counter() - t0) * 1000)
        count += 1
    mp_ms = statistics.median(times[10:])
    print(f"\nservice on {video.name} at camera speed ({fps:.0f} fps, {count} frames)")
    print(f"  time to READY (process start to READY=1)  {ready:8.2f} s")
    print(f"  sustained fps                             {stats['fps']:8.2f}   ({stats['fps'] / fps:.2f}x the camera)")
    print(f"  frames processed / dropped                {stats['frames']:5d} / {stats['dropped']}")
    print(f"  capture-to-feedback latency, median       {stats['latency_median_ms']:8.1f} ms")
    print(f"  capture-to-feedback latency, p95          {stats['latency_p95_ms']:8.1f} ms")
    print(f"  MediaPipe alone per frame, median         {mp_ms:8.1f} ms   (latency / MediaPipe alone: "
          f"{stats['latency_median_ms'] / mp_ms:.2f}x)")
    print(f"  peak RSS                                  {stats['peak_rss_mb']:8.1f} MB")


def _sample(pid: int, control: Path) -> tuple[float, int, int]:
    """(RSS in MB, open file descriptors, frames processed) of the running service: /proc and
    its control socket."""
    from pi_coach.control import request

    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd")), request(control, "status")["frames"]


def bench_soak(video: Path, minutes: float, every: float) -> None:
    import tempfile

    from tqdm import tqdm

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        proc, is_ready = _start_service(tmp, video, "--loop", "--fast")
        is_ready.wait()
        samples = []  # (seconds, rss MB, fds, frames)
        start = time.monotonic()
        with tqdm(total=round(minutes * 60), desc="soak", unit="s") as bar:
            while (t := time.monotonic() - start) < minutes * 60:
                samples.append((t, *_sample(proc.pid, tmp / "control.sock")))
                time.sleep(every)
                bar.n = round(min(t, minutes * 60))
                bar.refresh()
        proc.terminate()
        proc.wait(timeout=60)
        stats = json.loads((tmp / "stats.json").read_text())
        db_mb = (tmp / "sessions.db").stat().st_size / 1e6
    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    print(f"\nsoak: {minutes:g} min, {stats['frames']} frames as fast as possible ({stats['fps']:.1f} fps at the end), "
          f"{stats['pose_errors']} bad frames, session log {db_mb:.1f} MB")
    print(f"  {'':24s} {'first third':>12s} {'last third':>12s} {'ratio':>7s}")
    for name, i in (("RSS MB, median", 1), ("open fds, median", 2)):
        a, b = statistics.median(s[i] for s in first), statistics.median(s[i] for s in last)
        print(f"  {name:24s} {a:12.1f} {b:12.1f} {b / a:7.3f}")
    rate = [(b[3] - a[3]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:])]
    a, b = statistics.median(rate[:third]), statistics.median(rate[-third:])
    print(f"  {'fps, median':24s} {a:12.1f} {b:12.1f} {b / a:7.3f}")
    print(f"  RSS min / max over the run: {min(s[1] for s in samples):.1f} / {max(s[1] for s in samples):.1f} MB; "
          f"fds min / max: {min(s[2] for s in samples)} / {max(s[2] for s in samples)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pipeline", help="per-stage medians of analyze and the ratio to MediaPipe alone")
    p.add_argument("--video", type=Path, default=REPO / "samples/video/stepping.webm")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rules", type=Path, default=REPO / "rules/ballet")
    p.add_argument("--model", type=Path, default=REPO / "models/moves.tflite")
    p = sub.add_parser("daemon", help="the service at camera speed: READY time, fps, drops, latency, RSS")
    p.add_argument("--video", type=Path, default=REPO / "samples/video/stepping.webm")
    p = sub.add_parser("soak", help="the service for many minutes as fast as it goes: RSS and open fds")
    p.add_argument("--video", type=Path, default=REPO / "samples/video/stepping.webm")
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--every", type=float, default=5, help="seconds between samples")
    args = parser.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    if args.what == "daemon":
        bench_daemon(args.video)
        return 0
    if args.what == "soak":
        bench_soak(args.video, args.minutes, args.every)
        return 0
    print(f"{args.video.name}, {args.frames} frames, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    report(bench_pipeline(args.video, args.frames, args.rules, args.model), args.warmup)
    from .evaluate import latency_ms

    print(f"  move model alone ({args.model.name}, one LiteRT invoke, 2 threads, median of 300): "
          f"{latency_ms(args.model):.3f} ms (classify runs it twice: the pose and its mirror)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
