"""Combinations on studio clips with known sequences: segment boundaries and the flags, measured.

    python -m tools.combo_eval tests/data/combinations            # the shipped fixture
    python -m tools.combo_eval DATASET=rules/combinations/FILE.toml [--json]
    python -m tools.combo_eval --fixture OUT DATASET=COMBINATION ...   # make a fixture from renders

Each clip's MediaPipe landmarks (the studio ran MediaPipe on the rendered frames) go through
the real move model (``MoveClassifier``, ``models/moves.tflite``), the streaming Segmenter and
the combination's alignment. A segment boundary (a start or an end) counts when it is within
``--tolerance`` frames (5) of a true boundary of the same kind, one to one; true segments are
the runs of frames the studio labelled with a move. The flags (missing, extra, swapped, wrong,
out of order) found are compared with those of the true sequence aligned the same way. The
published rule (append a move whenever its raw confidence passes 0.8) is measured beside it.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from pi_coach.classify import MoveClassifier
from pi_coach.combination import load_combination
from pi_coach.follow import score
from pi_coach.moves import NONE
from pi_coach.pose import Pose
from pi_coach.segmenter import MoveSegment, SegmenterSettings, segment_scores

REPO = Path(__file__).resolve().parents[1]
FPS = 30.0  # studio clips
NOT_MOVES = (NONE, "transition")


def true_segments(frame_moves: list[str]) -> list[MoveSegment]:
    """The runs of frames the studio labelled with one move."""
    out: list[MoveSegment] = []
    for t, label in enumerate(frame_moves):
        if label in NOT_MOVES:
            continue
        if out and out[-1].move == label and out[-1].end_frame == t - 1:
            s = out[-1]
            out[-1] = MoveSegment(label, s.start_frame, t, s.start, t / FPS, 1.0, t / FPS - s.start)
        else:
            out.append(MoveSegment(label, t, t, t / FPS, t / FPS, 1.0, 0.0))
    return out


def published_segments(frames, threshold: float = 0.8) -> list[MoveSegment]:
    """The published rule: a move is appended whenever its raw confidence passes ``threshold``;
    it lasts while it stays there."""
    out: list[MoveSegment] = []
    current = None
    for frame, time, scores in frames:
        move, conf = max(scores.items(), key=lambda kv: kv[1])
        on = move != NONE and conf >= threshold
        if current is not None and (not on or move != current.move):
            out.append(current)
            current = None
        if on and current is None:
            current = MoveSegment(move, frame, frame, time, time, conf, 0.0)
        elif on:
            current = MoveSegment(move, current.start_frame, frame, current.start, time, max(current.peak, conf),
                                  time - current.start)
    if current is not None:
        out.append(current)
    return out


def match_boundaries(found: list[int], true: list[int], tolerance: int) -> int:
    """How many found boundaries pair one to one with a true one within ``tolerance`` frames
    (closest pairs first)."""
    pairs = sorted((abs(f - t), i, j) for i, f in enumerate(found) for j, t in enumerate(true) if abs(f - t) <= tolerance)
    used_f, used_t, n = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            n += 1
    return n


def boundary_counts(found: list[MoveSegment], true: list[MoveSegment], tolerance: int) -> dict:
    matched = (match_boundaries([s.start_frame for s in found], [s.start_frame for s in true], tolerance)
               + match_boundaries([s.end_frame for s in found], [s.end_frame for s in true], tolerance))
    return {"matched": matched, "found": 2 * len(found), "true": 2 * len(true)}


def prf(c: dict) -> dict:
    p = c["matched"] / c["found"] if c["found"] else 0.0
    r = c["matched"] / c["true"] if c["true"] else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0, **c}


def clip_scores(model: Path, landmarks: np.ndarray, width: int, height: int):
    """(frame, time, class scores) per frame, as the service makes them (nobody: none); a fresh
    classifier per clip, so its window of poses starts empty."""
    classifier = MoveClassifier(model, threads=1)
    out = []
    for t, arr in enumerate(landmarks.astype(np.float32)):
        if not np.isfinite(arr[:, 0]).any():
            out.append((t, t / FPS, {NONE: 1.0}))
            continue
        out.append((t, t / FPS, classifier.classify_pose(Pose(arr, width, height, t / FPS)).scores))
    return out


def read_rows(dataset: Path) -> list[dict]:
    with (dataset / "labels.csv").open() as fh:
        return [r for r in csv.DictReader(fh) if r.get("kind", "clip") == "clip"]


def _pairs(items: list[str]) -> list[tuple[Path, Path | None]]:
    out = []
    for item in items:
        data, _, combo = item.partition("=")
        out.append((Path(data), Path(combo) if combo else None))
    return out


def _combination_of(row: dict, dataset: Path, given: Path | None, known) -> tuple[Path, object]:
    path = given or (REPO / row["combination"] if row.get("combination") else None)
    if path is None:
        sys.exit(f"combo_eval: {dataset}: no combination: give DATASET=FILE.toml or a combination column")
    return path, load_combination(path, known)


def evaluate(items: list[str], model: Path = REPO / "models" / "moves.tflite", tolerance: int = 5,
             settings: SegmenterSettings = SegmenterSettings()) -> dict:
    """Every clip of every dataset: boundaries (ours and the published rule), flags and scores."""
    known = set(MoveClassifier(model, threads=1).labels) - {NONE}
    clips, ours, published = [], {"matched": 0, "found": 0, "true": 0}, {"matched": 0, "found": 0, "true": 0}
    for dataset, given in _pairs(items):
        for row in read_rows(dataset):
            name = row["sample"]
            combo_path, combo = _combination_of(row, dataset, given, known)
            frame_moves = json.loads((dataset / "truth" / f"{name}.json").read_text())["frame_moves"]
            landmarks = np.load(dataset / "landmarks" / f"{name}.npy")
            frames = clip_scores(model, landmarks, int(row["width"]), int(row["height"]))
            truth = true_segments(frame_moves)
            found = segment_scores(frames, settings)
            baseline = published_segments(frames)
            c_ours, c_pub = boundary_counts(found, truth, tolerance), boundary_counts(baseline, truth, tolerance)
            for total, c in ((ours, c_ours), (published, c_pub)):
                for k in total:
                    total[k] += c[k]
            true_result, result = score(combo, truth), score(combo, found)
            true_flags, flags = sorted(true_result.flags), sorted(result.flags)
            clips.append({
                "dataset": str(dataset), "sample": name, "combination": combo_path.name,
                "danced": [s.move for s in truth], "recognised": [s.move for s in found],
                "published": [s.move for s in baseline],
                "variant": "+".join(sorted({k for k, _ in true_flags})) or "exact",
                "true_flags": true_flags, "flags": flags,
                "flagged": all(f in flags for f in true_flags),
                "flags_exact": flags == true_flags,
                "true_score": true_result.score, "score": result.score,
                "boundaries": prf(c_ours), "published_boundaries": prf(c_pub),
            })
    return {"tolerance_frames": tolerance, "model": str(model), "settings": settings.__dict__, "clips": clips,
            "boundaries": prf(ours), "published_boundaries": prf(published),
            "flagged": sum(c["flagged"] for c in clips), "flags_exact": sum(c["flags_exact"] for c in clips),
            "clips_total": len(clips)}


def print_report(doc: dict) -> None:
    tol = doc["tolerance_frames"]
    print(f"{doc['clips_total']} clips, model {doc['model']}, boundaries within {tol} frames")
    print(f"{'sample':12s} {'variant':10s} {'truth':>5s} {'score':>5s}  {'P':>5s} {'R':>5s}  flags (true -> found)")
    for c in doc["clips"]:
        ok = "ok" if c["flags_exact"] else "flagged, more found" if c["flagged"] else "MISSED"
        show = lambda fl: ", ".join(f"{k} {m}" for k, m in fl) or "-"  # noqa: E731
        print(f"{c['sample']:12s} {c['variant']:10s} {c['true_score']:5d} {c['score']:5d}  "
              f"{c['boundaries']['precision']:5.2f} {c['boundaries']['recall']:5.2f}  "
              f"{show(c['true_flags'])} -> {show(c['flags'])}  [{ok}]")
        print(f"{'':12s} danced: {' '.join(c['danced'])}\n{'':12s} seen:   {' '.join(c['recognised'])}")
    for label, key in (("segmenter", "boundaries"), ("published 0.8 rule", "published_boundaries")):
        b = doc[key]
        print(f"{label:20s} boundary precision {b['precision']:.3f} recall {b['recall']:.3f} F1 {b['f1']:.3f} "
              f"({b['matched']} matched of {b['found']} found, {b['true']} true)")
    n = doc["clips_total"]
    print(f"true flags all raised in {doc['flagged']} of {n} clips; exactly the true flags in {doc['flags_exact']} of {n}")


def make_fixture(out: Path, items: list[str]) -> None:
    """Copy rendered clips into a small fixture: landmarks as float16 (x, y, z, visibility), the
    per-frame truth only, labels.csv with the combination each clip is judged against."""
    for sub in ("landmarks", "truth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for k, (dataset, combo) in enumerate(_pairs(items)):
        if combo is None:
            sys.exit("combo_eval: --fixture needs DATASET=COMBINATION for each dataset")
        for row in read_rows(dataset):
            name = f"{dataset.name}_{row['sample']}"
            lm = np.load(dataset / "landmarks" / f"{row['sample']}.npy").astype(np.float16)
            np.save(out / "landmarks" / f"{name}.npy", lm)
            truth = json.loads((dataset / "truth" / f"{row['sample']}.json").read_text())
            (out / "truth" / f"{name}.json").write_text(json.dumps({"frame_moves": truth["frame_moves"]}))
            rows.append({"sample": name, "kind": "clip", "sequence": row["sequence"], "width": row["width"],
                         "height": row["height"], "frames": row["frames"], "subject": row["subject"],
                         "camera": row["camera"], "combination": str(combo.resolve().relative_to(REPO))})
        if (dataset / "DATASET.md").is_file():
            shutil.copy(dataset / "DATASET.md", out / f"DATASET_{dataset.name}.md")
    with (out / "labels.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.combo_eval", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    p.add_argument("datasets", nargs="+", help="DATASET (with a combination column) or DATASET=COMBINATION.toml")
    p.add_argument("--model", type=Path, default=REPO / "models" / "moves.tflite")
    p.add_argument("--tolerance", type=int, default=5, help="frames a boundary may be off (default %(default)s)")
    p.add_argument("--threshold", type=float, default=SegmenterSettings.threshold)
    p.add_argument("--release", type=float, default=SegmenterSettings.release)
    p.add_argument("--min-frames", type=int, default=SegmenterSettings.min_frames)
    p.add_argument("--latency-frames", type=int, default=SegmenterSettings.latency_frames)
    p.add_argument("--json", action="store_true")
    p.add_argument("--fixture", type=Path, metavar="OUT", help="write the clips as a small fixture in OUT, then evaluate it")
    args = p.parse_args(argv)
    items = args.datasets
    if args.fixture:
        make_fixture(args.fixture, items)
        items = [str(args.fixture)]
    settings = SegmenterSettings(threshold=args.threshold, release=args.release, min_frames=args.min_frames,
                                latency_frames=args.latency_frames)
    doc = evaluate(items, args.model, args.tolerance, settings)
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print_report(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
