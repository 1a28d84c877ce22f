"""Benchmarks, measured side by side in one run and reported as medians (never pass/fail).

    python -m tools.bench pipeline [--video FILE] [--frames N]

``pipeline`` times every stage of ``pi-coach analyze`` per frame (decode, pose, classify, rules, drawing)
and, on the same frame in the same loop, MediaPipe alone (its own tracker, called directly),
so the ratio of the whole pipeline to MediaPipe alone is not skewed by load or clock drift.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pipeline", help="per-stage medians of analyze and the ratio to MediaPipe alone")
    p.add_argument("--video", type=Path, default=REPO / "samples/video/stepping.webm")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rules", type=Path, default=REPO / "rules/ballet")
    p.add_argument("--model", type=Path, default=REPO / "models/moves.tflite")
    args = parser.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    print(f"{args.video.name}, {args.frames} frames, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    report(bench_pipeline(args.video, args.frames, args.rules, args.model), args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
