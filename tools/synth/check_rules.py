"""Do the ballet rule files flag the faults the studio injected? Precision and recall per fault.

    python -m tools.synth.check_rules DATASET [--rules rules/ballet]

For every fault of every move: the positives are the stills of that move rendered with that
fault, the negatives the correct stills of the same move; a sample is flagged when any of the
fault's checks (named in tools/synth/moves.py) fails on MediaPipe's landmarks of the render.
Samples where MediaPipe found nobody, or a check could not be measured, are counted apart.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from pi_coach.pose import Pose
from pi_coach.rulebook import evaluate, load_rules

from .moves import MOVES

REPO = Path(__file__).resolve().parents[2]


def flagged(dataset: Path, row: dict, rules, checks: tuple[str, ...]) -> bool | None:
    """True/False when the fault's checks could be taken on this still, None when not."""
    landmarks = np.load(dataset / "landmarks" / f"{row['sample']}.npy")
    if not np.isfinite(landmarks[:, 0]).any():
        return None
    verdict = evaluate(rules, Pose(landmarks, int(row["width"]), int(row["height"])))
    results = [r for r in verdict.results if r.check in checks]
    measured = [r for r in results if r.status != "unmeasured"]
    if not measured:
        return None
    return any(r.status != "ok" for r in measured)


def evaluate_faults(dataset: Path, rules_dir: Path) -> list[dict]:
    book, errors = load_rules(rules_dir)
    if errors:
        raise SystemExit(f"check_rules: {errors[0]}")
    rows = [r for r in csv.DictReader(open(dataset / "labels.csv")) if r["kind"] == "still"]
    report = []
    for move, spec in MOVES.items():
        for fault in spec.faults:
            pos = [flagged(dataset, r, book[move], fault.checks) for r in rows if r["move"] == move and r["fault"] == fault.name]
            neg = [flagged(dataset, r, book[move], fault.checks) for r in rows if r["move"] == move and r["fault"] == "none"]
            tp = sum(p is True for p in pos)
            fn = sum(p is False for p in pos)
            fp = sum(n is True for n in neg)
            tn = sum(n is False for n in neg)
            precision = tp / (tp + fp) if tp + fp else float("nan")
            recall = tp / (tp + fn) if tp + fn else float("nan")
            report.append({"move": move, "fault": fault.name, "checks": ",".join(fault.checks), "tp": tp, "fn": fn,
                           "fp": fp, "tn": tn, "unmeasured": sum(p is None for p in pos + neg),
                           "precision": precision, "recall": recall})
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.synth.check_rules", description=__doc__.split("\n")[0])
    p.add_argument("dataset", type=Path)
    p.add_argument("--rules", type=Path, default=REPO / "rules" / "ballet")
    args = p.parse_args(argv)
    report = evaluate_faults(args.dataset, args.rules)
    print(f"{'move':16s} {'fault':20s} {'faulty':>6s} {'correct':>7s} {'precision':>9s} {'recall':>6s}  unmeasured  checks")
    for r in report:
        print(f"{r['move']:16s} {r['fault']:20s} {r['tp'] + r['fn']:6d} {r['fp'] + r['tn']:7d} {r['precision']:9.2f} "
              f"{r['recall']:6.2f}  {r['unmeasured']:10d}  {r['checks']}")
    tp = sum(r["tp"] for r in report)
    fp = sum(r["fp"] for r in report)
    fn = sum(r["fn"] for r in report)
    print(f"\nall faults: precision {tp / max(1, tp + fp):.2f}, recall {tp / max(1, tp + fn):.2f} "
          f"(data: {args.dataset}, stills only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
