"""How well the example rules find labelled form errors in real landmark data.

Run from a checkout: ``python -m tools.rules_eval [--data DIR] [--rules DIR] [--part all|tune|holdout]``.

The data are the exercise-form landmark CSVs (``../shared/data/exercise-form/train``): real
MediaPipe landmarks, one row per video frame, with a per-frame label: ``C`` for correct form or
a letter for one error. For each labelled error this tool applies the move's rule file to every
frame and takes "the error's check failed" as the prediction and the label as the truth (the
correct label ``C`` against that error's label; frames with other labels are left out). Frames
where the check could not be measured (a landmark not visible enough) are counted apart and
left out of the figures.

Frame size: the CSVs hold normalised x, y only. The frames are taken as 16:9 landscape
(1920x1080): a forearm that turns through a full circle in the bicep-curl clips, and shins and
thighs in the lunge clips, keep their length best with x scaled by about 1.6-2.0 against y, and
in the side-view planks the upper arm to torso length ratio matches the standing clips' only at
16:9. Angles and torso-scaled distances depend on this.

Each error names its tuning part and its held-out part (whole files, or a file's first or
second half in time where one file is all there is for that exercise); ``--part`` picks which
the figures are taken on. See ``rules/examples/`` for the rules themselves.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pi_coach.landmark_files import read_landmarks
from pi_coach.pose import Pose
from pi_coach.rulebook import MoveRules, evaluate, load_rules

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "exercise-form" / "train"
DEFAULT_RULES = REPO / "rules" / "examples"
FRAME_SIZE = (1920, 1080)  # width, height: 16:9, see the module docstring
CORRECT = "C"

# A part of the data: a file name and which rows of it ("all", "first_half", "second_half").
Part = tuple[str, str]

BICEP = "bicep__dataset_da8c358.csv"
LUNGE = "lunge__err.train2_5253981.csv"
PLANK_A = "plank__dataset_68b3d15.csv"  # C and L
PLANK_B = "plank__dataset2_f89b04e.csv"  # C only
PLANK_C = "plank__bad_data_804b26f.csv"  # C and L
PLANK_H = "plank__bad_data_high_hip_9365f9b.csv"  # H only


@dataclass(frozen=True)
class ErrorSpec:
    """One labelled error: the rule check that should catch it and where its figures come from."""

    name: str
    move: str  # rule file move id
    check: str  # the check whose failure is the prediction
    label: str  # the error's label in the CSVs (truth), against CORRECT
    tune: tuple[Part, ...]  # where bands were set (or checked)
    holdout: tuple[Part, ...]  # never used to set a band

    @property
    def parts(self) -> tuple[Part, ...]:
        return self.tune + self.holdout


ERRORS = (
    # One bicep file: its first half (side-view clips) tunes, its second half (mostly front view) is held out.
    ErrorSpec("bicep curl: lean back", "bicep_curl", "lean_back", "L",
              tune=((BICEP, "first_half"),), holdout=((BICEP, "second_half"),)),
    ErrorSpec("plank: low back (hips sagging)", "plank", "back_sag", "L",
              tune=((PLANK_A, "all"), (PLANK_B, "all")), holdout=((PLANK_C, "all"),)),
    # The only H file is held out whole: the band was set from technique and the correct planks of the tuning files.
    ErrorSpec("plank: high back (hips piked)", "plank", "hips_high", "H",
              tune=((PLANK_A, "all"), (PLANK_B, "all")), holdout=((PLANK_H, "all"), (PLANK_C, "all"))),
    # One lunge file, its first half all L: the band comes from technique; the second half (C and L)
    # is where it was checked, the first half (L only: recall only) is held out.
    ErrorSpec("lunge: knee over toe", "lunge", "knee_over_toe", "L",
              tune=((LUNGE, "second_half"),), holdout=((LUNGE, "first_half"),)),
)


@dataclass(frozen=True)
class Outcome:
    """Per-frame results of one check on one part: truth and prediction where measured."""

    truth: np.ndarray  # bool, True = the error label, on measured frames
    predicted: np.ndarray  # bool, True = the check failed, on measured frames
    unmeasured: int


def part_rows(n: int, which: str, step: int = 1) -> np.ndarray:
    """Row indices of a part of a file with ``n`` rows, every ``step``-th row."""
    half = n // 2
    lo, hi = {"all": (0, n), "first_half": (0, half), "second_half": (half, n)}[which]
    return np.arange(lo, hi, step)


def check_statuses(rules: MoveRules, frames: np.ndarray, rows: np.ndarray, desc: str = "") -> dict[str, np.ndarray]:
    """Status (ok/low/high/unmeasured) of every check of ``rules`` on the given rows."""
    out = {c.id: np.empty(len(rows), dtype=object) for c in rules.checks}
    for i, t in enumerate(tqdm(rows, desc=desc, unit="frame", leave=False, disable=None)):
        verdict = evaluate(rules, Pose(frames[t], *FRAME_SIZE))
        for r in verdict.results:
            out[r.check][i] = r.status
    return out


def outcome(statuses: np.ndarray, labels: np.ndarray, error_label: str) -> Outcome:
    """Truth and prediction for one error on frames labelled CORRECT or ``error_label``."""
    keep = (labels == CORRECT) | (labels == error_label)
    statuses, labels = statuses[keep], labels[keep]
    measured = statuses != "unmeasured"
    return Outcome(truth=labels[measured] == error_label, predicted=statuses[measured] != "ok",
                   unmeasured=int((~measured).sum()))


def combine(outcomes: list[Outcome]) -> Outcome:
    if not outcomes:
        return Outcome(np.zeros(0, bool), np.zeros(0, bool), 0)
    return Outcome(np.concatenate([o.truth for o in outcomes]), np.concatenate([o.predicted for o in outcomes]),
                   sum(o.unmeasured for o in outcomes))


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def metrics(o: Outcome) -> dict[str, float]:
    """Confusion matrix and scores; the error is the positive class. NaN where undefined."""
    tp = int((o.truth & o.predicted).sum())
    fn = int((o.truth & ~o.predicted).sum())
    fp = int((~o.truth & o.predicted).sum())
    tn = int((~o.truth & ~o.predicted).sum())
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    precision = _ratio(tp, tp + fp)
    f1 = _ratio(2 * precision * recall, precision + recall) if tp else (0.0 if tp + fn and tp + fp else math.nan)
    return dict(tp=tp, fn=fn, fp=fp, tn=tn, used=tp + fn + fp + tn, unmeasured=o.unmeasured,
                balanced_accuracy=(recall + specificity) / 2, precision=precision, recall=recall,
                specificity=specificity, f1=f1)


def evaluate_errors(data_dir: Path, rules_dir: Path, part: str = "all", step: int = 1,
                    errors: tuple[ErrorSpec, ...] = ERRORS) -> list[tuple[ErrorSpec, list[tuple[Part, Outcome]]]]:
    """Outcomes of every error's check on each of its parts (``part``: all, tune or holdout)."""
    book, problems = load_rules(rules_dir)
    if problems:
        raise SystemExit("rule file problems:\n" + "\n".join(str(p) for p in problems))
    clips: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    cache: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}
    results = []
    for spec in errors:
        if spec.move not in book:
            raise SystemExit(f"no rule file for move {spec.move!r} in {rules_dir}")
        rules = book[spec.move]
        parts = {"all": spec.parts, "tune": spec.tune, "holdout": spec.holdout}[part]
        per_part = []
        for name, which in parts:
            path = data_dir / name
            if not path.is_file():
                print(f"  (missing {path}, skipped)", file=sys.stderr)
                continue
            if name not in clips:
                clip = read_landmarks(path)
                clips[name] = (clip.frames, np.asarray(clip.labels))
            frames, labels = clips[name]
            rows = part_rows(len(frames), which, step)
            key = (spec.move, name, which)
            if key not in cache:
                cache[key] = check_statuses(rules, frames, rows, desc=f"{spec.move} {name} {which}")
            per_part.append(((name, which), outcome(cache[key][spec.check], labels[rows], spec.label)))
        results.append((spec, per_part))
    return results


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def report(spec: ErrorSpec, per_part: list[tuple[Part, Outcome]], part: str) -> str:
    m = metrics(combine([o for _, o in per_part]))
    lines = [f"== {spec.name}: check '{spec.check}' of move '{spec.move}' failed = error "
             f"(truth: label {spec.label} against {CORRECT}) [{part}]"]
    for (name, which), o in per_part:
        role = "tune" if (name, which) in spec.tune else "holdout"
        pm = metrics(o)
        lines.append(f"   {role:7s} {name} ({which.replace('_', ' ')}): {pm['used']} frames "
                     f"({pm['tp'] + pm['fn']} {spec.label}, {pm['fp'] + pm['tn']} {CORRECT}), "
                     f"{pm['unmeasured']} unmeasured; recall {_fmt(pm['recall'])}, specificity "
                     f"{_fmt(pm['specificity'])}, balanced accuracy {_fmt(pm['balanced_accuracy'])}")
    lines += [
        f"   frames used {m['used']}, unmeasured {m['unmeasured']}",
        f"   balanced accuracy {_fmt(m['balanced_accuracy'])}  precision {_fmt(m['precision'])}  "
        f"recall {_fmt(m['recall'])}  F1 {_fmt(m['f1'])}  (specificity {_fmt(m['specificity'])})",
        f"                       predicted {spec.label:<5s} predicted ok",
        f"     truth {spec.label} ({spec.label:<3s}) {m['tp']:>13d} {m['fn']:>12d}",
        f"     truth ok ({CORRECT})  {m['fp']:>13d} {m['tn']:>12d}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.rules_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"folder of labelled CSVs (default {DEFAULT_DATA})")
    ap.add_argument("--rules", type=Path, default=DEFAULT_RULES, help=f"rule folder (default {DEFAULT_RULES})")
    ap.add_argument("--part", choices=("all", "tune", "holdout"), default="all",
                    help="which parts of the data the figures are taken on (default all)")
    ap.add_argument("--step", type=int, default=1, help="use every STEP-th frame (default 1: all)")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"no data folder {args.data}", file=sys.stderr)
        return 2
    print(f"data {args.data}, rules {args.rules}, frame size {FRAME_SIZE[0]}x{FRAME_SIZE[1]}, "
          f"part {args.part}, every {args.step} frame(s)")
    for spec, per_part in evaluate_errors(args.data, args.rules, args.part, max(1, args.step)):
        print(report(spec, per_part, args.part))
    return 0


if __name__ == "__main__":
    sys.exit(main())
